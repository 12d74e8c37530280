"""The API's side of alert commands: send one on the site's bus and wait for the assessment's result."""

from __future__ import annotations

import asyncio
import logging

from dronewatch.assessment.commands import Command, CommandResult, parse_result
from dronewatch.bus import Bus, Message, Subscription, subject
from dronewatch.errors import FormatError, TransportError

log = logging.getLogger(__name__)


class CommandSender:
    """Sends commands to one site's assessment; results are matched to their command by id."""

    def __init__(self, bus: Bus, site_id: str) -> None:
        self.bus = bus
        self.site_id = site_id
        self._waiting: dict[str, asyncio.Future[CommandResult]] = {}
        self._results: Subscription | None = None
        self._listener: asyncio.Task[None] | None = None

    async def send(self, command: Command, timeout_s: float = 10.0) -> CommandResult:
        """The result of ``command``; :class:`TransportError` if none comes within ``timeout_s`` (the command
        stays on the bus: a late assessment may still apply it)."""
        if self._listener is None:
            self._results = self.bus.subscribe(subject(self.site_id, "results"), overflow="drop_oldest",
                                               maxsize=10_000)
            self._listener = asyncio.create_task(self._listen(self._results), name=f"results {self.site_id}")
        assert self._results is not None
        await asyncio.wait_for(self._results.ready.wait(), timeout_s)
        waiting = asyncio.get_running_loop().create_future()
        self._waiting[command.id] = waiting
        try:
            await self.bus.publish(Message(subject(self.site_id, "commands"), data=command.line()))
            return await asyncio.wait_for(waiting, timeout_s)
        except TimeoutError:
            raise TransportError(f"{self.site_id}: the assessment did not answer command {command.id} within "
                                 f"{timeout_s:g} s") from None
        finally:
            del self._waiting[command.id]

    async def _listen(self, results: Subscription) -> None:
        while (message := await results.get()) is not None:
            for line in message.data.split(b"\n"):
                try:
                    result = parse_result(line, message.subject)
                except FormatError as error:
                    log.warning("%s", error)
                    continue
                if result is not None and (waiting := self._waiting.get(result.id)) and not waiting.done():
                    waiting.set_result(result)
