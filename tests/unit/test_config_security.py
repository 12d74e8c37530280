"""The ``[security]`` keys of API token lifetimes: read, overridden and refused like the rest."""

from __future__ import annotations

from pathlib import Path

import pytest

from dronewatch.config import load_config
from dronewatch.errors import ConfigError


def test_token_lifetimes_are_read_and_overridden(tmp_path: Path) -> None:
    path = tmp_path / "site.toml"
    path.write_text("[security]\ntoken_days_default = 30\ntoken_days_max = 180\n")
    config = load_config(path, environ={"DRONEWATCH_SECURITY__TOKEN_DAYS_MAX": "60"})
    assert (config.security.token_days_default, config.security.token_days_max) == (30, 60)
    assert (load_config(None, {}).security.token_days_default, load_config(None, {}).security.token_days_max) == (
        90, 365)


@pytest.mark.parametrize("text", ["token_days_default = 0", "token_days_default = 400",
                                  "token_days_max = 5000", 'token_days_max = "a year"'])
def test_token_lifetimes_out_of_bounds_are_named(tmp_path: Path, text: str) -> None:
    path = tmp_path / "site.toml"
    path.write_text(f"[security]\n{text}\n")
    with pytest.raises(ConfigError, match=r"security.*token_days"):
        load_config(path, environ={})
