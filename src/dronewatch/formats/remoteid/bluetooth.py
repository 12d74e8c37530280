"""Remote ID over Bluetooth LE: legacy (BT4) and extended (BT5, long range) advertising.

Capture framings, each giving a link-layer packet (access address, PDU header, payload, CRC):

- Nordic BLE sniffer (link type 272): board id (1), payload length (LE16), protocol
  version (1), packet counter (LE16), packet id (1); packet header: its length (1), flags
  (1: bit 0 CRC ok, bits 4-6 PHY, 2 = LE Coded), channel, RSSI, event counter (2),
  timestamp (4); then the packet, with a coding-indicator byte after the access address
  on the Coded PHY.
- BLE link layer with PHDR (link type 256): channel, signal, noise, AA offenses (1 each),
  reference AA (4), flags (LE16: 0x0400 CRC checked, 0x0800 CRC valid, bits 14-15 PHY).

PDU header: type (bits 3-0 of byte 0), length (byte 1). Legacy ``ADV_NONCONN_IND`` (2) and
``ADV_SCAN_IND`` (6): AdvA (6) then AdvData. Extended ``ADV_EXT_IND``/``AUX_ADV_IND`` (7):
extended header length (bits 5-0), flags, then AdvA (bit 0, 6), TargetA (bit 1, 6),
CTEInfo (bit 2, 1), ADI (bit 3, 2), AuxPtr (bit 4, 3), SyncInfo (bit 5, 18), TxPower
(bit 6, 1), ACAD; AdvData after the extended header. AdvData is AD structures (length,
type, data); Remote ID is service data ``16`` with UUID ``FA FF`` and application code
``0D``, then counter and a message (legacy) or message pack (extended).
"""

from __future__ import annotations

from dronewatch.errors import DecodeError
from dronewatch.formats.remoteid.wifi import Payload

ADVERTISING_ACCESS_ADDRESS = bytes.fromhex("d6be898e")
ODID_SERVICE = bytes.fromhex("16faff0d")
PHY_CODED = 2
_LEGACY_NONCONNECTABLE = (0x2, 0x6)
_EXTENDED = 0x7
# extended header fields in order: (flag bit, size)
_EXTENDED_FIELDS = ((0x01, 6), (0x02, 6), (0x04, 1), (0x08, 2), (0x10, 3), (0x20, 18), (0x40, 1))


def nordic_ble(frame: bytes) -> tuple[bytes, bool, int]:
    """``(link-layer packet, CRC ok, header bytes before it)`` of a Nordic sniffer frame."""
    if len(frame) < 17:
        raise DecodeError("Nordic BLE header cut short", offset=0)
    header = frame[7]
    flags = frame[8]
    start = 7 + header
    if header < 10 or start + 4 > len(frame):
        raise DecodeError(f"Nordic BLE packet header of {header} bytes runs past the frame", offset=7)
    return _without_coding_indicator(frame, start, (flags >> 4) & 0x7), bool(flags & 0x01), start


def le_ll_with_phdr(frame: bytes) -> tuple[bytes, bool, int]:
    """``(link-layer packet, CRC ok, header bytes before it)``; a CRC not checked counts as ok."""
    if len(frame) < 14:
        raise DecodeError("BLE PHDR header cut short", offset=0)
    flags = int.from_bytes(frame[8:10], "little")
    crc_ok = not flags & 0x0400 or bool(flags & 0x0800)
    return _without_coding_indicator(frame, 10, flags >> 14), crc_ok, 10


def _without_coding_indicator(frame: bytes, start: int, phy: int) -> bytes:
    if phy == PHY_CODED:
        return frame[start:start + 4] + frame[start + 5:]
    return frame[start:]


def ble_payloads(packet: bytes, base: int = 0) -> list[Payload]:
    """Remote ID payloads of one advertising link-layer packet (access address first, CRC last)."""
    if len(packet) < 6 or packet[:4] != ADVERTISING_ACCESS_ADDRESS:
        return []
    pdu_type, length = packet[4] & 0x0F, packet[5]
    end = 6 + length
    if end > len(packet):
        raise DecodeError(f"advertising PDU of {length} bytes runs past the packet", offset=base + 5)
    pdu = packet[6:end]
    if pdu_type in _LEGACY_NONCONNECTABLE:
        if len(pdu) < 6:
            return []
        return ad_payloads(pdu[6:], _address(pdu[:6]), "bt4-legacy", base + 12)
    if pdu_type == _EXTENDED and pdu:
        header_length = pdu[0] & 0x3F
        if 1 + header_length > len(pdu):
            raise DecodeError(f"extended header of {header_length} bytes runs past the PDU", offset=base + 6)
        sender = ""
        if header_length:
            flags, offset = pdu[1], 2
            for bit, size in _EXTENDED_FIELDS:
                if flags & bit:
                    if offset + size > 1 + header_length:
                        raise DecodeError("extended header fields run past its length", offset=base + 6 + offset)
                    if bit == 0x01:
                        sender = _address(pdu[offset:offset + 6])
                    offset += size
        return ad_payloads(pdu[1 + header_length:], sender, "bt5-extended", base + 7 + header_length)
    return []


def _address(raw: bytes) -> str:
    """A Bluetooth device address (sent little-endian) written most significant byte first."""
    return ":".join(f"{b:02x}" for b in reversed(raw))


def ad_payloads(data: bytes, sender: str, transport: str, base: int = 0) -> list[Payload]:
    """Remote ID service data in advertising data (AD structures); ``base`` offsets errors."""
    out = []
    offset = 0
    while offset < len(data):
        length = data[offset]
        if length == 0:
            break  # the rest is padding
        end = offset + 1 + length
        if end > len(data):
            raise DecodeError(f"AD structure of {length} bytes runs past the advertising data", offset=base + offset)
        if length >= 5 and data[offset + 1:offset + 5] == ODID_SERVICE:
            out.append(Payload(transport, sender, data[offset + 5], data[offset + 6:end], base + offset + 6))
        offset = end
    return out
