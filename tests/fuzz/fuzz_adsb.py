"""atheris harness: any bytes through the Mode S feed readers and decoder give messages or counted errors.

Run (installs nothing at test time; atheris is in the ``fuzz`` extra):
    .venv/bin/python tests/fuzz/fuzz_adsb.py -atheris_runs=1000000
    mkdir -p /tmp/adsb-corpus && head -c 4000 tests/data/feeds/adsb/ulss7_beast_2018-04-03.bin \
        > /tmp/adsb-corpus/beast && .venv/bin/python tests/fuzz/fuzz_adsb.py -atheris_runs=1000000 /tmp/adsb-corpus
(libFuzzer writes new inputs into the first corpus directory: never point it at tests/data.)
The first byte picks the entry point: 0 a Beast stream whole, 1 the same in two reads (a live
socket), 2 AVR lines, 3 timestamped hex lines, 4 SBS-1 lines, 5 the bytes as Mode S replies of
7 and 14 bytes straight into the decoder (rs1090 behind it), 6 the whole-file path with the
format told from the bytes. Only ``DecodeError`` (sniffing) may escape; everything else must be
counted.
"""

from __future__ import annotations

import contextlib
import sys

import atheris

with atheris.instrument_imports(include=["dronewatch"]):
    from dronewatch.errors import DecodeError
    from dronewatch.formats.adsb import ModeSFrame, beast_frames
    from dronewatch.ingest.adsb import ModeSDecoder, feed_messages, sniff_format

_FORMATS = {2: "avr", 3: "hex", 4: "sbs"}


def test_one_input(raw: bytes) -> None:
    if not raw:
        return
    kind, data = raw[0] % 7, raw[1:]
    decoder = ModeSDecoder((59.8, 30.26), start=1.0e9)
    if kind == 0:
        list(feed_messages(data, "beast", decoder))
    elif kind == 1:
        cut = len(data) // 2
        first, used, _ = beast_frames(data[:cut], final=False)
        second, _, _ = beast_frames(data[:cut][used:] + data[cut:])
        whole, _, _ = beast_frames(data)
        if first + second != whole:
            raise AssertionError("a Beast stream read in two parts framed otherwise than whole")
        decoder.decode(whole)
    elif kind in _FORMATS:
        list(feed_messages(data, _FORMATS[kind], decoder))  # type: ignore[arg-type]
    elif kind == 5:
        replies = [data[k:k + 14] for k in range(0, len(data) - 13, 14)]
        replies += [data[k:k + 7] for k in range(0, len(data) - 6, 7)]
        decoder.decode([ModeSFrame(float(n), reply) for n, reply in enumerate(replies)])
    else:
        with contextlib.suppress(DecodeError):
            list(feed_messages(data, sniff_format(data), decoder))
    for message in list(decoder.aircraft.values()):
        if message.position is not None and not (-90 <= message.position[0] <= 90):
            raise AssertionError(f"a position off the Earth: {message}")


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
