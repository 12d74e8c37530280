"""``dronewatch remoteid decode`` on real captures and on hex."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dronewatch.cli import main

DATA = Path(__file__).resolve().parents[2] / "data" / "remoteid"
BASIC_ID_PACK = "f01901" + "0012" + b"SSEVTFG93700070".hex().ljust(40, "0") + "000000"


def test_decode_a_capture_as_json_lines_with_a_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["remoteid", "decode", str(DATA / "parrot_anafi4_real_frames1-800.pcapng"), "--json"]) == 0
    out, err = capsys.readouterr()
    lines = [json.loads(line) for line in out.splitlines()]
    assert len(lines) == 163
    first = lines[0]
    assert first["frame"] >= 1 and first["transport"] == "wifi-beacon" and first["sender"].count(":") == 5
    location = next(m for m in first["messages"] if m["type"] == "location")
    assert location["status"] == "ground" and 47.0 < location["lat"] < 47.5 and location["pressure_altitude_m"] is None
    assert "800 frames, 163 Remote ID frames" in err and "163 decoded" in err


def test_rejections_and_crc_failures_are_reported(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["remoteid", "decode", str(DATA / "parrot_anafi4_spoofed_frames1-400.pcapng")]) == 0
    assert "rejected 8: message pack: 4 messages need 103 bytes" in capsys.readouterr().err
    assert main(["remoteid", "decode", str(DATA / "odid_bt5_lr_sample.pcapng")]) == 0
    assert "30 CRC/FCS failures" in capsys.readouterr().err


def test_decode_hex(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["remoteid", "decode", "--hex", BASIC_ID_PACK, "--json"]) == 0
    (message,) = json.loads(capsys.readouterr().out)["messages"]
    assert message == {"type": "basic_id", "protocol_version": 0, "id_type": "serial_number",
                       "ua_type": "helicopter_or_multirotor", "uas_id": "SSEVTFG93700070"}
    assert main(["remoteid", "decode", "--hex", BASIC_ID_PACK[:-2]]) == 1
    assert "1 messages need 28 bytes, only 27" in capsys.readouterr().err
    assert main(["remoteid", "decode", "--hex", "zz"]) == 2
    assert "not hexadecimal" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["decode", "detections"])
def test_a_file_that_is_no_capture_is_an_error(command: str, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    lines = tmp_path / "scenario.jsonl"
    lines.write_text('{"type":"scenario","name":"x"}\n', encoding="utf-8")
    extra = ["--receiver", "47.0,8.0,400"] if command == "detections" else []
    assert main(["remoteid", command, str(lines), *extra]) == 2
    assert f"{lines}: not a capture: not a pcap or pcapng capture" in capsys.readouterr().err
