"""Remote ID over Wi-Fi: beacon vendor elements and NAN service discovery frames.

Every walker checks lengths against the frame end and never reads past an element.

Radiotap (monitor-mode captures): version, pad, header length (LE16, bytes 2-3), present
words (bit 31 chains another); when present, TSFT (8 bytes, 8-aligned) then Flags (1 byte):
``0x10`` the frame ends with a 4-byte FCS, ``0x40`` that FCS failed.

Beacon (frame control ``80``): 24-byte header, 12 fixed bytes, then elements
(id, length, value). Remote ID: element ``DD``, OUI ``FA 0B BC`` (ASD-STAN; early Parrot
firmware ``90 3A E6``), type ``0D``, then counter and a message pack.

NAN (frame control ``D0``): public action ``04 09``, OUI ``50 6F 9A`` type ``13``, then
attributes (id, LE16 length); the Service Descriptor Attribute (``03``) with service ID
``88 69 19 9D 92 09`` carries, in its service info, the counter and a message pack.
"""

from __future__ import annotations

from dataclasses import dataclass

from dronewatch.errors import DecodeError

ODID_OUIS = (bytes.fromhex("fa0bbc"), bytes.fromhex("903ae6"))
ODID_VENDOR_TYPE = 0x0D
NAN_OUI_TYPE = bytes.fromhex("506f9a13")
ODID_SERVICE_ID = bytes.fromhex("8869199d9209")


@dataclass(frozen=True, slots=True)
class Payload:
    """A Remote ID payload found in a frame: a message or pack, with its counter and sender."""

    transport: str
    sender: str
    counter: int
    data: bytes
    offset: int
    """Where ``data`` starts in the frame (for error messages)."""


def mac(raw: bytes) -> str:
    return ":".join(f"{b:02x}" for b in raw)


def beacon_frame(sender: str, counter: int, payload: bytes, ssid: str = "", sequence: int = 0) -> bytes:
    """An 802.11 beacon (no FCS) carrying ``payload`` (a message pack) in the ASD-STAN vendor element."""
    address = bytes.fromhex(sender.replace(":", ""))
    if len(address) != 6:
        raise ValueError(f"sender {sender!r} is not a MAC address")
    header = b"\x80\x00\x00\x00" + b"\xff" * 6 + address + address + ((sequence & 0xFFF) << 4).to_bytes(2, "little")
    fixed = bytes(8) + (100).to_bytes(2, "little") + b"\x01\x00"  # timestamp, 100 TU interval, ESS
    name = ssid.encode()
    vendor = ODID_OUIS[0] + bytes([ODID_VENDOR_TYPE, counter & 0xFF]) + payload
    if len(name) > 32 or len(vendor) > 255:
        raise ValueError("SSID over 32 bytes or Remote ID element over 255 bytes")
    return header + fixed + bytes([0, len(name)]) + name + bytes([0xDD, len(vendor)]) + vendor


def strip_radiotap(frame: bytes) -> tuple[bytes, bool, bool, int]:
    """``(802.11 frame, has FCS, FCS failed, radiotap length)`` of a radiotap-framed capture."""
    if len(frame) < 8:
        raise DecodeError("radiotap header cut short", offset=0)
    length = int.from_bytes(frame[2:4], "little")
    if length < 8 or length > len(frame):
        raise DecodeError(f"radiotap length {length} outside the frame of {len(frame)} bytes", offset=2)
    present = int.from_bytes(frame[4:8], "little")
    offset = 8
    word = present
    while word & 0x80000000:
        if offset + 4 > length:
            raise DecodeError("radiotap present words run past the header", offset=offset)
        word = int.from_bytes(frame[offset:offset + 4], "little")
        offset += 4
    flags = 0
    if present & 0x1:
        offset = (offset + 7) // 8 * 8 + 8
    if present & 0x2:
        if offset >= length:
            raise DecodeError("radiotap flags past the header", offset=offset)
        flags = frame[offset]
    return frame[length:], bool(flags & 0x10), bool(flags & 0x40), length


def wifi_payloads(frame: bytes, base: int = 0) -> list[Payload]:
    """Remote ID payloads of one 802.11 frame (FCS already removed); ``base`` offsets errors."""
    if len(frame) < 24:
        return []
    control = frame[0]
    sender = mac(frame[10:16])
    if control == 0x80:
        return _beacon(frame, sender, base)
    if control == 0xD0 and frame[24:26] == b"\x04\x09" and frame[26:30] == NAN_OUI_TYPE:
        return _nan(frame, sender, base)
    return []


def _beacon(frame: bytes, sender: str, base: int) -> list[Payload]:
    out = []
    offset = 36
    while offset + 2 <= len(frame):
        element, length = frame[offset], frame[offset + 1]
        end = offset + 2 + length
        if end > len(frame):
            raise DecodeError(f"element {element} of {length} bytes runs past the frame end", offset=base + offset)
        value = frame[offset + 2:end]
        if element == 0xDD and len(value) >= 5 and value[:3] in ODID_OUIS and value[3] == ODID_VENDOR_TYPE:
            out.append(Payload("wifi-beacon", sender, value[4], value[5:], base + offset + 7))
        offset = end
    return out


def _nan(frame: bytes, sender: str, base: int) -> list[Payload]:
    out = []
    offset = 30
    while offset + 3 <= len(frame):
        attribute = frame[offset]
        length = int.from_bytes(frame[offset + 1:offset + 3], "little")
        end = offset + 3 + length
        if end > len(frame):
            raise DecodeError(f"NAN attribute {attribute} of {length} bytes runs past the frame end",
                              offset=base + offset)
        body = frame[offset + 3:end]
        if attribute == 0x03 and body[:6] == ODID_SERVICE_ID:
            info_at = _service_info_offset(body)
            if info_at is not None:
                size = body[info_at]
                info = body[info_at + 1:info_at + 1 + size]
                if len(info) != size or size < 1:
                    raise DecodeError(f"NAN service info of {size} bytes runs past its attribute",
                                      offset=base + offset + 3 + info_at)
                out.append(Payload("wifi-nan", sender, info[0], info[1:], base + offset + 3 + info_at + 2))
        offset = end
    return out


def _service_info_offset(body: bytes) -> int | None:
    """Where the service-info length byte sits in a Service Descriptor Attribute body, if present.

    After service ID (6), instance (1), requestor (1), control (1) come, as the control bits
    say: binding bitmap (bit 6, 2 bytes), matching filter (bit 2), service response filter
    (bit 3), each a length byte and data, then the service info (bit 4).
    """
    if len(body) < 9:
        return None
    control = body[8]
    offset = 9
    if control & 0x40:
        offset += 2
    for bit in (0x04, 0x08):
        if control & bit:
            if offset >= len(body):
                return None
            offset += 1 + body[offset]
    if not control & 0x10 or offset >= len(body):
        return None
    return offset
