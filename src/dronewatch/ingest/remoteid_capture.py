"""Remote ID frames out of a pcap/pcapng capture: link type, transport, message decoding, counters.

Frames with a failed FCS or CRC are counted and dropped before decoding; a frame whose
transport or payload is malformed is counted by reason and the capture goes on.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from dronewatch.errors import DecodeError
from dronewatch.formats.capture import (
    LINKTYPE_BLUETOOTH_LE_LL_WITH_PHDR,
    LINKTYPE_IEEE802_11,
    LINKTYPE_IEEE802_11_RADIOTAP,
    LINKTYPE_NORDIC_BLE,
    Frame,
    read_frames,
)
from dronewatch.formats.remoteid import Message, MessagePack, decode
from dronewatch.formats.remoteid.bluetooth import ble_payloads, le_ll_with_phdr, nordic_ble
from dronewatch.formats.remoteid.wifi import Payload, strip_radiotap, wifi_payloads


@dataclass(frozen=True, slots=True)
class RemoteIdFrame:
    """One decoded Remote ID payload of one captured frame."""

    frame: int
    t: float
    payload: Payload
    messages: tuple[Message, ...]


@dataclass(slots=True)
class CaptureStats:
    frames: int = 0
    remote_id_frames: int = 0
    decoded: int = 0
    crc_failures: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    by_transport: Counter[str] = field(default_factory=Counter)
    by_message: Counter[str] = field(default_factory=Counter)
    first_errors: list[str] = field(default_factory=list)

    def reject(self, frame: int, reason: str) -> None:
        self.rejected[reason] += 1
        if len(self.first_errors) < 20:
            self.first_errors.append(f"frame {frame}: {reason}")


def _payloads(frame: Frame) -> tuple[list[Payload], bool]:
    """The frame's Remote ID payloads and whether its FCS/CRC passed."""
    if frame.linktype == LINKTYPE_IEEE802_11_RADIOTAP:
        body, has_fcs, bad_fcs, start = strip_radiotap(frame.data)
        if bad_fcs:
            return [], False
        return wifi_payloads(body[:-4] if has_fcs else body, start), True
    if frame.linktype == LINKTYPE_IEEE802_11:
        return wifi_payloads(frame.data), True
    if frame.linktype in (LINKTYPE_NORDIC_BLE, LINKTYPE_BLUETOOTH_LE_LL_WITH_PHDR):
        unwrap = nordic_ble if frame.linktype == LINKTYPE_NORDIC_BLE else le_ll_with_phdr
        packet, crc_ok, start = unwrap(frame.data)
        return (ble_payloads(packet, start) if crc_ok else []), crc_ok
    return [], True


def remoteid_frames(capture: bytes, stats: CaptureStats | None = None) -> Iterator[RemoteIdFrame]:
    """Every decodable Remote ID payload of the capture, in frame order; ``stats`` counts the rest."""
    stats = stats if stats is not None else CaptureStats()
    try:
        for frame in read_frames(capture):
            stats.frames += 1
            try:
                payloads, check_ok = _payloads(frame)
            except DecodeError as error:
                stats.reject(frame.number, f"transport: {error}")
                continue
            if not check_ok:
                stats.crc_failures += 1
                continue
            for payload in payloads:
                stats.remote_id_frames += 1
                stats.by_transport[payload.transport] += 1
                try:
                    item = decode(payload.data)
                except DecodeError as error:
                    stats.reject(frame.number, error.reason)
                    continue
                messages = item.messages if isinstance(item, MessagePack) else (item,)
                stats.decoded += 1
                stats.by_message.update(type(m).__name__ for m in messages)
                yield RemoteIdFrame(frame.number, frame.t, payload, messages)
    except DecodeError as error:
        stats.reject(stats.frames + 1, f"capture: {error}")
