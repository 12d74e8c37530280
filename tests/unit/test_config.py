"""The TOML configuration: defaults, file, environment overrides, clear errors, every key documented."""

from __future__ import annotations

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
])
def test_bad_configuration_names_file_and_key(tmp_path: Path, toml: str, environ: dict[str, str],
                                              reason: str) -> None:
    site = tmp_path / "site.toml"
    site.write_text(toml)
    with pytest.raises(ConfigError, match=reason):
        load_config(site, environ)


def test_every_key_is_documented() -> None:
    text = DOCS.read_text()
    missing = [key for key in keys() if f"`{key}`" not in text]
    assert missing == []
