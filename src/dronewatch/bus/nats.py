"""The bus on NATS JetStream: the stages' messages kept in one stream, for other processes and machines.

Every message is published to JetStream and stored (stream ``DRONEWATCH``, subjects ``dw.>``,
on file, kept ``max_age_s``), so a worker, a partner gateway or an investigator can read what a
site saw, in order, from any point. The two kinds of subscription keep their in-process meaning:

- ``block`` (a stage that must lose nothing) reads through a JetStream pull consumer and fetches
  only as many messages as its queue has room for: what it has not taken yet waits on the server,
  not in memory;
- ``drop_oldest`` (a live feed: a WebSocket client, a TAK server) is a plain NATS subscription,
  whose slowest reader drops its own oldest messages (counted) and holds back nobody else;
- a ``block`` subscription with a ``durable`` name (a stage worker) is a durable consumer: each
  message is acknowledged once the stage has handled it (:meth:`Subscription.done`), and a worker
  restarted under the same name goes on from the first message it had not acknowledged. Its
  first start takes only new messages.

A payload larger than the server's ``max_payload`` (less room for the headers) goes as several messages,
split between lines. A message comes back to the subscribers of the process that published it
with the records it was published with, as in process, so the stages in one process parse it once.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, DiscardPolicy, StorageType, StreamConfig

from dronewatch.bus import Message, Overflow, Subscription
from dronewatch.errors import TransportError
from dronewatch.model import Record
from dronewatch.tasks import cancel_and_wait

log = logging.getLogger(__name__)
_FETCH_MAX = 256
_CONSUMER_IDLE_S = 60.0  # the server removes the consumer of a process that died
_OWN_KEPT = 1_000  # the records of this many recent own messages: a reader further behind parses the bytes
_HEADER_ROOM = 256  # max_payload counts the headers too (message id, expected stream)
ACK_WAIT_S = 30.0
"""A durable stage's message not acknowledged by then is delivered again (a worker killed while handling it)."""
_DURABLE_QUEUE = 1_000  # a durable stage's backlog waits on the server: few in memory, handled within ACK_WAIT_S
_PUBLISH_RETRY_S = (0.1, 0.25, 0.5, 1.0, 2.0, 2.0, 2.0, 2.0, 5.0, 5.0, 10.0)  # 30 s: a server restart


def split_payload(data: bytes, limit: int) -> Iterator[bytes]:
    """``data`` in pieces of at most ``limit`` bytes, each made of whole lines."""
    if len(data) <= limit:
        yield data
        return
    start = 0
    while start < len(data):
        end = data.rfind(b"\n", start, start + limit) + 1 if len(data) - start > limit else len(data)
        if end <= start:
            raise TransportError(f"NATS: a line of over {limit} bytes (the server's max_payload) cannot be sent")
        yield data[start:end]
        start = end


class NatsBus:
    """:class:`~dronewatch.bus.Bus` on a NATS server with JetStream; made by :meth:`connect`."""

    def __init__(self, client: Client, jetstream: JetStreamContext, stream: str) -> None:
        self.client = client
        self.jetstream = jetstream
        self.stream = stream
        self.published = 0
        self._instance = uuid.uuid4().hex
        self._pieces = 0
        self._own: dict[str, Sequence[Record]] = {}
        self._pumps: dict[Subscription, asyncio.Task[None]] = {}

    @classmethod
    async def connect(cls, url: str, *, stream: str = "DRONEWATCH", max_age_s: float = 86_400.0,
                      name: str = "dronewatch", wait_s: float = 10.0) -> NatsBus:
        """Connect (waiting up to ``wait_s`` for the server) and make sure the stream exists with these limits.

        Once connected, the client reconnects for ever: a restarted server costs a pause, not the service.
        """
        async def complain(error: Exception) -> None:
            log.warning("NATS server %s: %s", url, error or type(error).__name__)

        try:
            client = await asyncio.wait_for(nats.connect(url, name=name, max_reconnect_attempts=-1,
                                                         error_cb=complain), wait_s)
        except (TimeoutError, OSError, nats.errors.Error) as error:
            raise TransportError(f"NATS server {url}: cannot connect ({error or type(error).__name__})") from error
        jetstream = client.jetstream()
        config = StreamConfig(name=stream, subjects=["dw.>"], storage=StorageType.FILE, max_age=max_age_s,
                              discard=DiscardPolicy.OLD)
        try:
            try:
                await jetstream.add_stream(config)
            except nats.js.errors.BadRequestError:  # it exists with other limits
                await jetstream.update_stream(config)
        except nats.errors.Error as error:
            await client.close()
            raise TransportError(f"NATS server {url}: stream {stream}: {error} (is JetStream enabled, -js?)"
                                 ) from error
        return cls(client, jetstream, stream)

    async def publish(self, message: Message) -> None:
        self.published += 1
        pieces = list(split_payload(message.data, self.client.max_payload - _HEADER_ROOM))
        for piece in pieces:
            self._pieces += 1
            # the id lets the server drop a second copy of a retried publish whose first one was stored
            message_id = f"{self._instance}-{self._pieces}"
            if message.records is not None and len(pieces) == 1:
                self._own[message_id] = message.records
                while len(self._own) > _OWN_KEPT:
                    del self._own[next(iter(self._own))]
            await self._publish(message.subject, piece, message_id)

    def _received(self, received: Msg, acked: bool = False) -> Message:
        """A message from the server; one this process published comes with its records, not to be parsed again."""
        records = self._own.get((received.headers or {}).get("Nats-Msg-Id", ""))
        sequence = received.metadata.sequence.stream if received.reply.startswith("$JS.ACK.") else None
        ack = received.ack if acked else None
        if records is not None:
            return Message(received.subject, records=records, sequence=sequence, ack=ack)
        return Message(received.subject, data=received.data, sequence=sequence, ack=ack)

    async def _publish(self, subject: str, piece: bytes, message_id: str) -> None:
        """Publish and wait for the server's acknowledgement, retrying while the server restarts or recovers."""
        waits = iter(_PUBLISH_RETRY_S)
        while True:
            try:
                await self.jetstream.publish(subject, piece, stream=self.stream, headers={"Nats-Msg-Id": message_id})
                return
            except nats.errors.Error as error:
                reason = error or type(error).__name__
                if self.client.is_closed:  # closed for good, not reconnecting: no point in waiting
                    raise TransportError(f"NATS: {subject} not stored: the connection is closed ({reason})"
                                         ) from error
                wait = next(waits, None)
                if wait is None:
                    raise TransportError(f"NATS: {subject} not stored after {sum(_PUBLISH_RETRY_S):g} s: {reason}"
                                         ) from error
                log.warning("NATS: publishing on %s failed (%s); again in %g s", subject, reason, wait)
                await asyncio.sleep(wait)

    def subscribe(self, pattern: str, *, overflow: Overflow = "block", maxsize: int = 10_000, last: bool = False,
                  durable: str | None = None) -> Subscription:
        if durable is not None and overflow != "block":
            raise ValueError("a durable subscription must lose nothing: overflow 'block'")
        if last and overflow != "block" and any(token in ("*", ">") for token in pattern.split(".")):
            raise ValueError(f"{pattern}: a live subscription takes the last message of one subject only")
        queue: asyncio.Queue[Message | None] = asyncio.Queue(min(maxsize, _DURABLE_QUEUE) if durable else maxsize)
        subscription = Subscription(pattern, overflow, queue)
        pump = (self._pull(subscription, last, durable) if overflow == "block"
                else self._listen(subscription, last))
        self._pumps[subscription] = asyncio.create_task(pump, name=f"nats {pattern}")
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        subscription.close()
        pump = self._pumps.pop(subscription, None)
        if pump is not None:
            pump.cancel()

    async def close(self) -> None:
        for subscription in self._pumps:
            subscription.close()
        await cancel_and_wait(self._pumps.values())
        self._pumps.clear()
        await self.client.close()

    async def _resume_at(self, durable: str) -> int:
        """Where a durable consumer's next reader starts: after the last message acknowledged in order (0: a new
        consumer). The consumer is made again from there, so that what a dead reader held comes first and in
        order, not out of order once its acknowledgement wait has passed."""
        try:
            info = await self.jetstream.consumer_info(self.stream, durable)
        except nats.js.errors.NotFoundError:
            return 0
        resume = info.ack_floor.stream_seq + 1 if info.ack_floor and info.ack_floor.stream_seq else 0
        if resume:
            await self.jetstream.delete_consumer(self.stream, durable)
        return resume

    def _consumer(self, subscription: Subscription, last: bool, durable: str | None,
                  next_sequence: int) -> ConsumerConfig:
        if durable is not None:  # the server keeps its place, across restarts of the reader
            start = (dict(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=next_sequence)
                     if next_sequence else
                     dict(deliver_policy=DeliverPolicy.LAST_PER_SUBJECT if last else DeliverPolicy.NEW))
            return ConsumerConfig(durable_name=durable, ack_policy=AckPolicy.EXPLICIT, ack_wait=ACK_WAIT_S,
                                  max_ack_pending=subscription.queue.maxsize + _FETCH_MAX, **start)
        if next_sequence:  # made again after an outage: from where the last one stopped
            return ConsumerConfig(ack_policy=AckPolicy.NONE, inactive_threshold=_CONSUMER_IDLE_S,
                                  deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=next_sequence)
        return ConsumerConfig(ack_policy=AckPolicy.NONE, inactive_threshold=_CONSUMER_IDLE_S,
                              deliver_policy=DeliverPolicy.LAST_PER_SUBJECT if last else DeliverPolicy.NEW)

    async def _pull(self, subscription: Subscription, last: bool, durable: str | None) -> None:
        next_sequence = 0  # of the stream: where a consumer made again after an outage starts
        while True:
            try:
                if durable is not None and not next_sequence:
                    next_sequence = await self._resume_at(durable)
                puller = await self.jetstream.pull_subscribe(
                    subscription.pattern, durable=durable, stream=self.stream,
                    config=self._consumer(subscription, last, durable, next_sequence))
            except nats.errors.Error as error:
                if self.client.is_closed:  # closed, not reconnecting: this subscription ends
                    log.error("NATS: the connection is closed; %s ends", subscription.pattern)
                    subscription.close()
                    return
                log.warning("NATS: no consumer for %s yet (%s); trying again", subscription.pattern, error)
                await asyncio.sleep(1.0)
                continue
            subscription.ready.set()
            try:
                while True:
                    room = subscription.queue.maxsize - subscription.queue.qsize()
                    try:
                        messages = await puller.fetch(max(1, min(room, _FETCH_MAX)), timeout=5.0)
                    except (TimeoutError, nats.errors.TimeoutError):
                        continue
                    for received in messages:
                        await subscription.deliver(self._received(received, acked=durable is not None))
                        next_sequence = received.metadata.sequence.stream + 1
            except nats.errors.Error as error:
                log.warning("NATS: reading %s failed (%s); resuming at stream sequence %d",
                            subscription.pattern, error, next_sequence)
                await asyncio.sleep(1.0)
            finally:
                if durable is None:
                    await _quietly(puller.unsubscribe())

    async def _listen(self, subscription: Subscription, last: bool) -> None:
        async def take(received: Msg) -> None:
            await subscription.deliver(self._received(received))

        listener = await self.client.subscribe(subscription.pattern, cb=take)
        if last:  # subscribed first: a message published in between comes twice rather than not at all
            try:
                latest = await self.jetstream.get_last_msg(self.stream, subscription.pattern)
            except nats.js.errors.NotFoundError:
                pass
            else:
                data = latest.data or b""
                subscription._put_dropping_oldest(Message(subscription.pattern, data=data, sequence=latest.seq))
        subscription.ready.set()
        try:
            await asyncio.Event().wait()  # until unsubscribed or closed
        finally:
            await _quietly(listener.unsubscribe())


async def _quietly(call: Any) -> None:
    """An unsubscribe on the way out: the connection may be closing or gone already."""
    try:
        await call
    except (nats.errors.Error, OSError) as error:
        log.debug("NATS unsubscribe: %s", error)
