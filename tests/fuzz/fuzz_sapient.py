"""atheris harness: any bytes through SAPIENT framing, decoding and validation give results or a DecodeError.

Run (installs nothing at test time; atheris is in the ``fuzz`` extra):
    .venv/bin/python tests/fuzz/fuzz_sapient.py -atheris_runs=1000000
    mkdir -p /tmp/sapient-corpus && cp tests/data/interop/sapient/samples/*.bin /tmp/sapient-corpus && \
        .venv/bin/python tests/fuzz/fuzz_sapient.py -atheris_runs=1000000 /tmp/sapient-corpus
(libFuzzer writes new inputs into the first corpus directory: never point it at tests/data.)
The first byte picks where the rest goes: 0-127 a stream for the FrameReader (cut at the second
byte), 128-255 one payload straight into decode, validate and, for a DetectionReport, the converter
(which may also raise FormatError).
"""

from __future__ import annotations

import contextlib
import sys

import atheris

with atheris.instrument_imports():
    from dronewatch.errors import DecodeError, FormatError
    from dronewatch.formats.sapient import FrameError, FrameReader, convert, decode, kind_of, validate
    from dronewatch.model import Sensor

SENSOR = Sensor(id="s", kind="radar", lat=31.7775, lon=-106.529, alt=1140.0)
NODE = convert.GeoPoint(31.7775, -106.529, 1140.0)


def _payload(payload: bytes) -> None:
    with contextlib.suppress(DecodeError):
        message = decode(payload)
        validate(message)
        if kind_of(message) == "detection_report":
            with contextlib.suppress(FormatError):
                convert.detection_of(message, SENSOR, NODE, heading_deg=10.0)


def test_one_input(raw: bytes) -> None:
    if len(raw) < 2:
        return
    if raw[0] >= 128:
        _payload(raw[1:])
        return
    reader = FrameReader(max_bytes=4096)
    cut = raw[1] % (len(raw) - 1)
    for part in (raw[2:2 + cut], raw[2 + cut:]):
        try:
            payloads = reader.feed(part)
        except FrameError as error:
            payloads = error.frames
        for payload in payloads:
            _payload(payload)


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
