"""One error tree for dronewatch: every error names what failed and where."""

from __future__ import annotations


class DronewatchError(Exception):
    """Base of every error dronewatch raises on purpose."""


class ConfigError(DronewatchError):
    """A configuration value is missing or wrong; names the key and the file."""


class FormatError(DronewatchError):
    """A line or record of an interchange format is malformed.

    ``source`` is the file (or stream) name, ``line`` the 1-based line number.
    """

    def __init__(self, message: str, *, source: str = "<input>", line: int | None = None) -> None:
        self.source = source
        self.line = line
        self.reason = message
        where = f"{source}:{line}" if line is not None else source
        super().__init__(f"{where}: {message}")


class DecodeError(DronewatchError):
    """Bytes could not be decoded; ``offset`` is the byte where decoding failed."""

    def __init__(self, message: str, *, offset: int | None = None) -> None:
        self.offset = offset
        self.reason = message
        super().__init__(f"{message} (at byte {offset})" if offset is not None else message)


class TrackingError(DronewatchError):
    """The tracker was given something it cannot use (unknown sensor, bad geometry)."""


class EncodeError(DronewatchError):
    """A value cannot be encoded (out of the field's range, wrong type); names the field."""


class TransportError(DronewatchError):
    """A connection to a peer (TAK server, SAPIENT node) failed or was refused; names the peer."""


class StorageError(DronewatchError):
    """A database or archive cannot be opened or read; names the file and what is wrong."""


class EvidenceError(DronewatchError):
    """An evidence package cannot be made, or does not verify; names the file, key or record at fault."""
