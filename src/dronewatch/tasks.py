"""Stopping asyncio tasks for certain."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

AGAIN_EVERY_S = 0.5


async def cancel_and_wait(tasks: Iterable[asyncio.Task[Any]]) -> None:
    """Cancel ``tasks`` and wait until every one has ended, cancelling again any still running after
    :data:`AGAIN_EVERY_S`. In Python 3.11 ``asyncio.wait_for`` (used inside nats-py's requests, so in every
    JetStream publish) returns its result and drops a cancellation that comes as that result does: the task
    goes on as if never cancelled, and a single ``cancel()`` then waits for it for ever."""
    pending = {task for task in tasks if not task.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=AGAIN_EVERY_S)
