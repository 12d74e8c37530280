"""The message bus between pipeline stages: subjects and byte payloads, as NATS has them.

Subjects are ``dw.<site>.<stream>`` with streams ``ingest`` (sensor, zone, detection and
scan lines from sources), ``tracks`` (track lines from the tracker), ``picture`` (the same
with each track's class) and ``alerts`` (alert lines); payloads are scenario JSON Lines,
one or more records per message. Patterns are NATS subject wildcards (``*`` one token, ``>``
the rest). :class:`InProcessBus` is the embedded implementation;
:class:`dronewatch.bus.nats.NatsBus` puts the same messages on NATS JetStream.

In process a message keeps the records it was published with, so the stages after the
tracker neither encode nor parse JSON; its bytes are made once, when something needs them
(a network bus, a WebSocket, a file).

Back-pressure is chosen per subscription: ``block`` (a file replay must lose nothing, so
the publisher waits for room) or ``drop_oldest`` (a live feed must stay current: the oldest
waiting message goes, and :attr:`Subscription.dropped` counts it).

A subscription made with ``last=True`` first gets the latest message already published on each
subject it matches: a reader that starts late learns a state subject (``dw.<site>.state``) at once.
A ``block`` subscription made with a ``durable`` name keeps its place: on NATS a process that
restarts with the same name goes on after the last message it marked :meth:`Subscription.done`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from dronewatch.formats.scenario import record_to_line
from dronewatch.model import Record

Overflow = Literal["block", "drop_oldest"]


def subject(site: str, stream: str) -> str:
    return f"dw.{site}.{stream}"


def subject_matches(pattern: str, name: str) -> bool:
    """Whether a subject matches a NATS pattern: ``*`` stands for one token, a final ``>`` for one or more."""
    wanted, tokens = pattern.split("."), name.split(".")
    for index, token in enumerate(wanted):
        if token == ">" and index == len(wanted) - 1:
            return len(tokens) > index
        if index >= len(tokens) or token not in ("*", tokens[index]):
            return False
    return len(tokens) == len(wanted)


class Message:
    """A subject and its payload: JSON Lines bytes, or the records they encode (each made from the other once)."""

    __slots__ = ("_data", "ack", "records", "sequence", "subject")

    def __init__(self, subject: str, data: bytes | None = None, records: Sequence[Record] | None = None, *,
                 sequence: int | None = None, ack: Callable[[], Awaitable[None]] | None = None) -> None:
        if (data is None) == (records is None):
            raise ValueError("a message has either data or records")
        self.subject = subject
        self._data = data
        self.records = records
        """The records as published in process; ``None`` for a message that came as bytes."""
        self.sequence = sequence
        """Its place in the stored stream (on NATS); a reader that stores it keeps this to skip a redelivery."""
        self.ack = ack
        """Tells a durable consumer the message is handled (:meth:`Subscription.done`)."""

    @property
    def data(self) -> bytes:
        if self._data is None:
            assert self.records is not None
            self._data = "".join(record_to_line(r) for r in self.records).encode()
        return self._data


@dataclass(eq=False)
class Subscription:
    pattern: str
    overflow: Overflow
    queue: asyncio.Queue[Message | None]
    dropped: int = 0
    received: int = 0
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    """Set once the subscription gets every message published from then on (at once in process; on NATS
    once the server has its consumer)."""
    _closed: bool = field(default=False, repr=False)

    def __aiter__(self) -> AsyncIterator[Message]:
        return self._messages()

    async def _messages(self) -> AsyncIterator[Message]:
        while (message := await self.queue.get()) is not None:
            yield message

    async def deliver(self, message: Message) -> None:
        """Queue a message: wait for room (``block``) or make room by dropping the oldest (``drop_oldest``)."""
        if self._closed:
            return
        self.received += 1
        if self.overflow == "block":
            await self.queue.put(message)
        else:
            self._put_dropping_oldest(message)

    def _put_dropping_oldest(self, item: Message | None) -> None:
        while True:
            try:
                self.queue.put_nowait(item)
                return
            except asyncio.QueueFull:
                self.queue.get_nowait()
                self.dropped += 1

    async def get(self) -> Message | None:
        """The next message; ``None`` once the subscription is closed and drained."""
        return await self.queue.get()

    @staticmethod
    async def done(*messages: Message) -> None:
        """The messages are handled: a durable subscription does not get them again after a restart."""
        for message in messages:
            if message.ack is not None:
                await message.ack()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._put_dropping_oldest(None)  # the end marker goes in even when the queue is full


class Bus(Protocol):
    async def publish(self, message: Message) -> None: ...

    def subscribe(self, pattern: str, *, overflow: Overflow = "block", maxsize: int = 10_000, last: bool = False,
                  durable: str | None = None) -> Subscription: ...

    def unsubscribe(self, subscription: Subscription) -> None: ...

    async def close(self) -> None: ...


class InProcessBus:
    """Every subscriber whose pattern matches gets every message, in publishing order."""

    def __init__(self) -> None:
        self._subscriptions: list[Subscription] = []
        self._last: dict[str, Message] = {}
        self.published = 0

    async def publish(self, message: Message) -> None:
        self.published += 1
        self._last[message.subject] = message
        for subscription in list(self._subscriptions):
            if subject_matches(subscription.pattern, message.subject):
                await subscription.deliver(message)
        # a publish is a scheduling point, as it is on a network bus: a busy stage or source lets the
        # API and the other stages run between its messages instead of holding the event loop
        await asyncio.sleep(0)

    def subscribe(self, pattern: str, *, overflow: Overflow = "block", maxsize: int = 10_000, last: bool = False,
                  durable: str | None = None) -> Subscription:
        """``durable`` has no meaning in one process (nothing outlives it)."""
        subscription = Subscription(pattern, overflow, asyncio.Queue(maxsize))
        if last:
            for name, message in self._last.items():
                if subject_matches(pattern, name):
                    subscription._put_dropping_oldest(message)
        subscription.ready.set()
        self._subscriptions.append(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        subscription.close()
        if subscription in self._subscriptions:
            self._subscriptions.remove(subscription)

    async def close(self) -> None:
        for subscription in self._subscriptions:
            subscription.close()
        self._subscriptions.clear()
