"""atheris harness: any bytes as DroneScout uploads, or as the opendroneid UAS data struct inside one, give
receptions, refusals named as FormatError, or a DecodeError; nothing else.

Run (installs nothing at test time; atheris is in the ``fuzz`` extra):
    .venv/bin/python tests/fuzz/fuzz_dronescout.py -atheris_runs=1000000
    mkdir -p /tmp/ds-corpus && cp tests/data/remoteid/dronescout/*.json /tmp/ds-corpus && \
        .venv/bin/python tests/fuzz/fuzz_dronescout.py -atheris_runs=1000000 /tmp/ds-corpus
(libFuzzer writes new inputs into the first corpus directory: never point it at tests/data.)
The first byte picks the entry point: even, the rest as the text of an uploads file (JSON array or lines);
odd, the rest padded to the struct's size as ``UASdata`` itself, straight and inside a base64 upload.
"""

from __future__ import annotations

import base64
import contextlib
import json
import math
import sys

import atheris

with atheris.instrument_imports(include=["dronewatch"]):
    from dronewatch.errors import DecodeError, FormatError
    from dronewatch.formats.remoteid import Location
    from dronewatch.formats.remoteid.dronescout import UAS_DATA_SIZE, Reception, read_uploads, uas_data_messages


def _check(found: Reception) -> None:
    for message in found.messages:
        if isinstance(message, Location) and message.lat is not None and not (
                math.isfinite(message.lat) and -90.0 <= message.lat <= 90.0):
            raise AssertionError(f"a latitude off the Earth came through: {message}")


def test_one_input(raw: bytes) -> None:
    if not raw:
        return
    if raw[0] % 2 == 0:
        for item in read_uploads(raw[1:].decode("utf-8", errors="replace")):
            if isinstance(item, Reception):
                _check(item)
            elif not isinstance(item, FormatError):
                raise AssertionError(f"neither a reception nor a FormatError: {item!r}")
        return
    struct_bytes = raw[1:].ljust(UAS_DATA_SIZE, b"\0")
    with contextlib.suppress(DecodeError):
        uas_data_messages(struct_bytes)
    upload = {"protocol": 1.0, "data": {"sensor ID": "s", "MAC address": "m", "timestamp": 1735677509089,
                                        "UASdata": base64.b64encode(struct_bytes).decode()}}
    for item in read_uploads(json.dumps(upload)):
        if isinstance(item, Reception):
            _check(item)


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
