"""atheris harness: any bytes through the ASTERIX framing, record decoders and the live ingest give records or
counted errors, and every record the ingest makes is a valid scenario line.

Run (installs nothing at test time; atheris is in the ``fuzz`` extra):
    .venv/bin/python tests/fuzz/fuzz_asterix.py -atheris_runs=1000000
    mkdir -p /tmp/asterix-corpus && .venv/bin/python tests/fuzz/fuzz_asterix.py --seed-corpus /tmp/asterix-corpus \
        && .venv/bin/python tests/fuzz/fuzz_asterix.py -atheris_runs=1000000 /tmp/asterix-corpus
(``--seed-corpus DIR`` writes the real recordings' datagrams, each behind the byte that routes it to the
live path, and their records to each decoder. libFuzzer writes new inputs into the first corpus
directory: never point it at tests/data.)
The first byte picks the entry point: 0 the rest as one UDP datagram into the live ingest (seven radars, a
tracker read in edition 0.17, another in 1.21), 1 the same as a whole file (capture or raw stream; only
the ``DecodeError`` saying it is neither may escape), 2 the records of a CAT048 block (1.32, then 1.27),
3 CAT034, 4 CAT062 1.21 (and 1.16), 5 CAT062 0.17, 6 the framing alone. Checked: nothing but that one
``DecodeError`` escapes; block errors carry an offset inside the input; records are within their fields'
ranges; each detection, scan and track passes the scenario parser.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterable
from pathlib import Path

import atheris

with atheris.instrument_imports(include=["dronewatch", "asterix"]):
    from dronewatch.errors import DecodeError
    from dronewatch.formats.asterix import DataBlock, capture_datagrams, data_blocks, decode_block, split_blocks
    from dronewatch.formats.scenario import parse_line, record_to_line
    from dronewatch.ingest.asterix import AsterixDecoder, file_records
    from dronewatch.model import Record, Sensor

_RADARS = {(25, sic): Sensor(id=f"radar-{sic}", kind="radar", lat=43.57, lon=16.41, alt=780.0)
           for sic in (11, 12, 13, 14, 201, 204, 205)}
_DECODERS = {2: ((48, "1.32"), (48, "1.27")), 3: ((34, "1.29"),), 4: ((62, "1.21"), (62, "1.16")), 5: ((62, "0.17"),)}
_DATA = Path(__file__).resolve().parents[1] / "data" / "feeds" / "asterix"


def _decoder() -> AsterixDecoder:
    return AsterixDecoder(_RADARS, {(25, 100): "artas", (25, 101): "sdps"},
                          source_editions={(25, 100): {62: "0.17"}}, assumed_height_m=300.0)


def _check_outputs(outputs: Iterable[Record]) -> None:
    for record in outputs:
        parse_line(record_to_line(record), source="fuzz")  # raises FormatError: a finding


def test_one_input(raw: bytes) -> None:
    if not raw:
        return
    kind, data = raw[0] % 7, raw[1:]
    if kind == 0:
        decoder = _decoder()
        _check_outputs(decoder.ingest(data, 1_462_433_756.5, "fuzz"))
        _check_outputs(decoder.ingest(data, 1_462_433_757.0, "fuzz"))  # the same again: duplicates
    elif kind == 1:
        decoder = _decoder()
        with contextlib.suppress(DecodeError):
            decoded = list(file_records(data, decoder, "fuzz"))
            _check_outputs([r for r in map(decoder.convert, decoded) if r is not None])
    elif kind in _DECODERS:
        for category, edition in _DECODERS[kind]:
            records, error = decode_block(DataBlock(category, 0, data), edition)
            if error is not None and (error.offset is None or not 0 <= error.offset <= len(data) + 3):
                raise AssertionError(f"an error outside the block: {error!r}")
            for record in records:
                if record.category != category or not 0 <= record.sac <= 255 or not (
                        record.tod_s is None or 0 <= record.tod_s < 86_401):
                    raise AssertionError(f"a record out of its ranges: {record}")
    else:
        try:
            blocks = split_blocks(data)
        except DecodeError as error:
            if error.offset is None or not 0 <= error.offset < len(data):
                raise AssertionError(f"an offset outside the input: {error!r}") from None
            return
        if sum(3 + len(b.records) for b in blocks) != len(data) or blocks != list(data_blocks(data)):
            raise AssertionError("blocks do not account for every byte")


def _seed(directory: Path) -> None:
    """The real recordings as seeds: each datagram for the live path and its records for each decoder."""
    directory.mkdir(parents=True, exist_ok=True)
    count = 0
    for path in sorted(_DATA.glob("*.pcap")):
        datagrams, _, _ = capture_datagrams(path.read_bytes())
        for datagram in datagrams[:20]:
            (directory / f"live-{count}").write_bytes(b"\x00" + datagram.payload)
            for block in split_blocks(datagram.payload):
                route = {48: 2, 34: 3, 62: 5 if "0.17" in path.name else 4}.get(block.category)
                if route is not None:
                    (directory / f"block-{count}").write_bytes(bytes([route]) + block.records)
            count += 1
    (directory / "raw").write_bytes(b"\x01" + (_DATA / "croatiacontrol_cat062_cat065.raw").read_bytes())


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--seed-corpus":
        _seed(Path(sys.argv[2]))
        sys.exit(0)
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
