"""Suite-wide settings (property tests judged on what they find, not on how fast a loaded CI machine runs)
and helpers for the tests that start servers."""

import socket
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, settings

# CI runs on 2 shared cores with xdist: time-based health checks and deadlines would fail at random.
settings.register_profile("ci", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci")


def _free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def free_port() -> Callable[..., int]:
    """A port on 127.0.0.1 free right now: ``free_port()`` for TCP, ``free_port(socket.SOCK_DGRAM)`` for UDP."""
    return _free_port
