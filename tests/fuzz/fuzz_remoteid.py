"""atheris harness: any bytes through every Remote ID decoder give a result or a DecodeError.

Run (installs nothing at test time; atheris is in the ``fuzz`` extra):
    .venv/bin/python tests/fuzz/fuzz_remoteid.py -atheris_runs=1000000
    mkdir -p /tmp/corpus && cp tests/data/remoteid/*.pcap* /tmp/corpus && \
        .venv/bin/python tests/fuzz/fuzz_remoteid.py -atheris_runs=1000000 /tmp/corpus
(libFuzzer writes new inputs into the first corpus directory: never point it at tests/data.)
The first byte picks the entry point: message/pack, 802.11 frame, radiotap frame, BLE
link-layer packet, Nordic sniffer frame, PHDR frame, a whole capture, a live receiver line
(which may also raise FormatError), or authentication pages (25 bytes each) to join.
"""

from __future__ import annotations

import contextlib
import sys

import atheris

with atheris.instrument_imports():
    from dronewatch.errors import DecodeError, FormatError
    from dronewatch.formats.capture import read_frames
    from dronewatch.formats.remoteid import Authentication, decode
    from dronewatch.formats.remoteid.authentication import join_pages
    from dronewatch.formats.remoteid.bluetooth import ble_payloads, le_ll_with_phdr, nordic_ble
    from dronewatch.formats.remoteid.receiver import parse_receiver_line
    from dronewatch.formats.remoteid.wifi import strip_radiotap, wifi_payloads


def _payloads(kind: int, data: bytes) -> list[bytes]:
    if kind == 0:
        return [data]
    if kind == 1:
        return [p.data for p in wifi_payloads(data)]
    if kind == 2:
        body, _, _, _ = strip_radiotap(data)
        return [p.data for p in wifi_payloads(body)]
    if kind == 3:
        return [p.data for p in ble_payloads(b"\xd6\xbe\x89\x8e" + data)]
    if kind == 4:
        return [p.data for p in ble_payloads(nordic_ble(data)[0])]
    if kind == 5:
        return [p.data for p in ble_payloads(le_ll_with_phdr(data)[0])]
    return [frame.data for frame in read_frames(data)]


def _join(data: bytes) -> None:
    pages = [decode(bytes([0x20]) + data[k:k + 24]) for k in range(0, len(data) - 23, 24)]
    join_pages(p for p in pages if isinstance(p, Authentication))


def test_one_input(raw: bytes) -> None:
    if not raw:
        return
    kind = raw[0] % 9
    if kind == 7:
        with contextlib.suppress(FormatError):
            parse_receiver_line(raw[1:].decode("latin-1"), 0.0)
        return
    with contextlib.suppress(DecodeError):
        if kind == 8:
            _join(raw[1:])
            return
        for payload in _payloads(kind, raw[1:]):
            with contextlib.suppress(DecodeError):
                decode(payload)


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
