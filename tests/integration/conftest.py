"""FreeTAKServer, started once per test process for every test that needs it (it takes 30 s to start)."""

from collections.abc import Iterator

import pytest
from tak_peers import FtsServer, freetakserver


@pytest.fixture(scope="session")
def fts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FtsServer]:
    with freetakserver(tmp_path_factory.mktemp("fts")) as server:
        print(f"FreeTAKServer up in {server.startup_s:.1f} s")
        yield server
