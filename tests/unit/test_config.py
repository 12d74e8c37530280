"""The TOML configuration: defaults, file, environment overrides, clear errors, every key documented."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from dronewatch.config import keys, load_config
from dronewatch.errors import ConfigError

DOCS = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def test_defaults_file_and_environment(tmp_path: Path) -> None:
    assert load_config(None, {}).service.port == 8080
    site = tmp_path / "site.toml"
    site.write_text('[site]\nid = "station-7"\n[service]\nport = 9000\ndata_dir = "/var/lib/dw"\n'
                    '[retention]\ndetections_days = 14\n[security]\noperator_location_roles = ["admin"]\n')
    config = load_config(site, {"DRONEWATCH_SERVICE__PORT": "9100", "DRONEWATCH_RETENTION__TRACKS_DAYS": "90",
                                "DRONEWATCH_SECURITY__OPERATOR_LOCATION_ROLES": "admin, operator", "HOME": "/x"})
    assert (config.site.id, config.service.port, config.retention.detections_days, config.retention.tracks_days) == (
        "station-7", 9100, 14.0, 90.0)
    assert config.security.operator_location_roles == ("admin", "operator")
    assert config.database_url == "sqlite:////var/lib/dw/dronewatch.db"


@pytest.mark.parametrize(("toml", "environ", "reason"), [
    ("[servce]\nport = 1\n", {}, r"site.toml: unknown section \[servce\]"),
    ("[service]\nprot = 1\n", {}, "site.toml: service.prot: unknown key"),
    ('[service]\nport = "80"\n', {}, "site.toml: service.port: expected int, got str '80'"),
    ("[service]\nport = 70000\n", {}, "service.port: 70000 is not a TCP port"),
    ("[retention]\ntracks_days = -1\n", {}, "retention.tracks_days: must be positive"),
    ('[security]\noperator_location_roles = ["pilot"]\n', {}, r"unknown role\(s\) pilot"),
    ('[site]\nid = "a b"\n', {}, "site.id: 'a b' must be letters, digits"),
    ("[service\n", {}, "site.toml: not valid TOML"),
    ("", {"DRONEWATCH_SERVICE__PORT": "eighty"}, "DRONEWATCH_SERVICE__PORT: service.port: expected an integer"),
    ("", {"DRONEWATCH_STORAGE__URI": "x"}, "DRONEWATCH_STORAGE__URI: unknown key storage.uri"),
    ('[sapient]\nlisten = "5020"\n', {}, "site.toml: sapient.listen: expected HOST:PORT, got '5020'"),
    ('[sapient]\nparent = "c2:0"\n', {}, "sapient.parent: port 0 is not a port to connect to"),
    ('[sapient]\nnode_id = "A8654CDF-4328-47DE-81FA-C495589E30C9"\n', {},
     "sapient.node_id: 'A8654CDF-4328-47DE-81FA-C495589E30C9' is not a UUID version 4 in lower case"),
    ('[map]\ntile_url = "https://t.example/{z}/{x}/{y}.png"\ntile_archive = "a.mbtiles"\n', {},
     "site.toml: map.tile_url and map.tile_archive: set one of them, not both"),
    ('[map]\ntile_url = "https://t.example/{z}/{y}.png"\n', {}, r"site.toml: map.tile_url: .* lacks \{x\}"),
    ('[map]\ntile_url = "ftp://t.example/{z}/{x}/{y}"\n', {}, "site.toml: map.tile_url: expected an http"),
    ('[map]\ntile_archive = "/nowhere/site.mbtiles"\n', {},
     "site.toml: map.tile_archive: /nowhere/site.mbtiles: no such file"),
    ("", {"DRONEWATCH_MAP__TILE_ARCHIVE": "/nowhere/x.mbtiles"},
     "map.tile_archive: /nowhere/x.mbtiles: no such file"),
    ('[bus]\nurl = "127.0.0.1:4222"\n', {}, "site.toml: bus.url: '127.0.0.1:4222' is not a nats:// or tls:// URL"),
    ('[bus]\nstream = "dw.all"\n', {}, "bus.stream: 'dw.all' must be letters, digits"),
    ("[bus]\nmax_age_hours = 200\n", {}, r"bus.max_age_hours: must be positive and at most .* \(168\)"),
    ("", {"DRONEWATCH_BUS__MAX_AGE_HOURS": "0"}, "bus.max_age_hours: must be positive"),
])
def test_bad_configuration_names_file_and_key(tmp_path: Path, toml: str, environ: dict[str, str],
                                              reason: str) -> None:
    site = tmp_path / "site.toml"
    site.write_text(toml)
    with pytest.raises(ConfigError, match=reason):
        load_config(site, environ)


def test_a_tile_archive_must_be_a_readable_mbtiles_file(tmp_path: Path, mbtiles: Callable[..., Path]) -> None:
    good = mbtiles(tmp_path / "good.mbtiles", {(0, 0, 0): b"\x89PNG\r\n\x1a\n"})
    site = tmp_path / "site.toml"
    site.write_text(f'[map]\ntile_archive = "{good}"\n')
    assert load_config(site, {}).map.tile_archive == str(good)
    (tmp_path / "bad.mbtiles").write_text("a text file, not SQLite\n" * 50)
    site.write_text(f'[map]\ntile_archive = "{tmp_path / "bad.mbtiles"}"\n')
    with pytest.raises(ConfigError, match=r"site.toml: map.tile_archive: .*bad.mbtiles: not an MBTiles archive"):
        load_config(site, {})
    good.chmod(0)
    site.write_text(f'[map]\ntile_archive = "{good}"\n')
    if os.geteuid() != 0:  # root reads it anyway
        with pytest.raises(ConfigError, match=r"site.toml: map.tile_archive: .*good.mbtiles"):
            load_config(site, {})


def test_every_key_is_documented() -> None:
    text = DOCS.read_text()
    missing = [key for key in keys() if f"`{key}`" not in text]
    assert missing == []


def test_tak_destinations_are_an_array_of_tables_with_indexed_overrides(tmp_path: Path) -> None:
    site = tmp_path / "site.toml"
    site.write_text('[[tak]]\nurl = "tcp://127.0.0.1:8087"\n[[tak]]\nurl = "udp://239.2.3.1:6969"\n'
                    'protocol = "takproto"\nclasses = ["drone"]\n')
    config = load_config(site, {"DRONEWATCH_TAK__1__MIN_ALERT_LEVEL": "critical",
                                "DRONEWATCH_TAK__0__CLASSES": "drone,bird"})
    assert [t.url for t in config.tak] == ["tcp://127.0.0.1:8087", "udp://239.2.3.1:6969"]
    assert config.tak[0].classes == ("drone", "bird") and config.tak[0].min_alert_level == "warning"
    assert (config.tak[1].protocol, config.tak[1].classes, config.tak[1].min_alert_level) == (
        "takproto", ("drone",), "critical")


@pytest.mark.parametrize(("toml", "environ", "reason"), [
    ('[tak]\nurl = "tcp://a:1"\n', {}, r"tak must be an array of tables: \[\[tak\]\]"),
    ('[[tak]]\nurl = "http://a:1"\n', {}, r"tak\[0\].url: expected tcp://HOST:PORT"),
    ('[[tak]]\nurl = "tcp://a"\n', {}, r"tak\[0\].url: expected"),
    ('[[tak]]\nurl = "tcp://a:1"\n[[tak]]\nurl = "udp://b:2"\nclasses = ["ufo"]\n', {},
     r"tak\[1\].classes: unknown class\(es\) ufo"),
    ('[[tak]]\nurl = "tls://a:1"\nca_file = "/nonexistent/ca.pem"\n', {}, r"tak\[0\].ca_file: cannot read"),
    ('[[tak]]\nurl = "tcp://a:1"\ncert_file = "x"\n', {}, "are for tls:// destinations"),
    ('[[tak]]\nurl = "tcp://a:1"\nprotocl = "xml"\n', {}, r"tak\[0\].protocl: unknown key"),
    ('[[tak]]\nurl = "tcp://a:1"\n', {"DRONEWATCH_TAK__1__URL": "tcp://b:2"}, "tak has 1 entries in the file"),
    ('[[tak]]\nurl = "tcp://a:1"\n', {"DRONEWATCH_TAK__0__PORT": "2"}, r"unknown key tak\[0\].port"),
])
def test_bad_tak_destinations_name_entry_and_key(tmp_path: Path, toml: str, environ: dict[str, str],
                                                 reason: str) -> None:
    site = tmp_path / "site.toml"
    site.write_text(toml)
    with pytest.raises(ConfigError, match=reason):
        load_config(site, environ)


def test_regions_are_an_array_of_tables_with_indexed_overrides(tmp_path: Path) -> None:
    site = tmp_path / "site.toml"
    site.write_text('[site]\nid = "north"\n[[regions]]\nid = "border"\nsites = ["north", "south"]\n')
    [region] = load_config(site, {"DRONEWATCH_REGIONS__0__STALE_S": "8"}).regions
    assert (region.id, region.sites, region.fusion.stale_s, region.fusion.bias_m) == (
        "border", ("north", "south"), 8.0, 15.0)


@pytest.mark.parametrize(("toml", "reason"), [
    ('[[regions]]\nid = "b r"\nsites = ["a", "b"]\n', r"regions\[0\].id: 'b r' must be letters"),
    ('[[regions]]\nid = "site"\nsites = ["a", "b"]\n', r"regions\[0\].id: 'site' is already a site's"),
    ('[[regions]]\nid = "r"\nsites = ["a"]\n', r"regions\[0\].sites: expected two or more different sites"),
    ('[[regions]]\nid = "r"\nsites = ["a", "a"]\n', r"regions\[0\].sites: expected two or more"),
    ('[[regions]]\nid = "r"\nsites = ["a", "r2"]\n[[regions]]\nid = "r2"\nsites = ["a", "b"]\n',
     r"regions\[0\].sites: 'r2' is not a site id"),
    ('[[regions]]\nid = "r"\nsites = ["a", "b"]\nstale_s = 0\n', r"regions\[0\]: .*stale_s must be positive"),
])
def test_bad_regions_name_entry_and_key(tmp_path: Path, toml: str, reason: str) -> None:
    site = tmp_path / "site.toml"
    site.write_text(toml)
    with pytest.raises(ConfigError, match=reason):
        load_config(site, {})


def test_a_site_tunes_its_tracker_and_threat_rules(tmp_path: Path) -> None:
    site = tmp_path / "site.toml"
    site.write_text("[tracking]\nconfirm_hits = 3\nq_horizontal = [0.05, 10, 100.5]\n"
                    "[assessment]\ncritical_horizon_s = 90\nsettled_confidence = 0.9\n")
    config = load_config(site, {"DRONEWATCH_TRACKING__MODE_STAY_PER_S": "0.97, 0.85, 0.8"})
    assert config.tracking.confirm_hits == 3
    assert config.tracking.q_horizontal == (0.05, 10.0, 100.5)
    assert all(isinstance(q, float) for q in config.tracking.q_horizontal)
    assert config.tracking.mode_stay_per_s == (0.97, 0.85, 0.8)
    assert (config.assessment.critical_horizon_s, config.assessment.settled_confidence) == (90.0, 0.9)


@pytest.mark.parametrize(("toml", "environ", "reason"), [
    ("[tracking]\nq_vertical = [0.01, 0.3]\n", {},
     r"site.toml: tracking.q_vertical: one value per motion mode \(3, as q_horizontal\), got 2"),
    ('[tracking]\nq_horizontal = [0.02, "fast", 150]\n', {}, r"tracking.q_horizontal\[1\]: expected float"),
    ("[tracking]\nconfirm_hits = 5\n", {}, r"tracking.confirm_hits \(5\) is more than confirm_window \(4\)"),
    ("[tracking]\ngate_probability = 1.5\n", {}, "tracking.gate_probability: a probability, at most 1"),
    ("[tracking]\nmode_prior = [0.5, 0.4, 0]\n", {}, "tracking.mode_prior: must add up to 1"),
    ("[tracking]\non_demand_modes = [3]\n", {}, r"tracking.on_demand_modes: mode numbers 0-2"),
    ("[assessment]\nsettled_confidence = 1.2\n", {}, "assessment.settled_confidence: a probability"),
    ("[assessment]\nclear_s = 0\n", {}, "assessment.clear_s: must be above 0"),
    ("[assessment]\ncritical_horizon_s = 300\n", {}, "assessment.critical_horizon_s .300. is beyond"),
    ('[sources]\nadsb = "tcp://127.0.0.1:30005"\nadsb_receiver = "59.8,30.26,20"\n', {},
     r"site.toml: sources.adsb: ADS-B feed 'tcp://127.0.0.1:30005': expected FORMAT\+tcp://HOST:PORT"),
    ('[sources]\nadsb = "beast+tcp://127.0.0.1:70000"\nadsb_receiver = "59.8,30.26,20"\n', {},
     "port 70000 is not a TCP port"),
    ('[sources]\nadsb = "beast+tcp://127.0.0.1:30005"\n', {}, r"sources.adsb_receiver: expected LAT,LON\[,ALT\]"),
    ("", {"DRONEWATCH_TRACKING__Q_HORIZONTAL": "0.02,x,150"},
     r"DRONEWATCH_TRACKING__Q_HORIZONTAL: tracking.q_horizontal\[1\]: expected a number"),
])
def test_bad_tuning_names_file_and_key(tmp_path: Path, toml: str, environ: dict[str, str], reason: str) -> None:
    site = tmp_path / "site.toml"
    site.write_text(toml)
    with pytest.raises(ConfigError, match=reason):
        load_config(site, environ)
