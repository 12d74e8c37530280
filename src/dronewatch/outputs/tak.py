"""Sharing with TAK: the site's tracks, zones and alerts as Cursor-on-Target to one destination.

A :class:`TakOutput` is a pipeline output (``pipeline.add_output``). It reads the site's
``picture``, ``alerts`` and ``zones`` streams (dropping the oldest message, counted, when it
falls behind) and keeps, per destination, only what that destination may know: track
classes it is given, alerts from its minimum level, emergencies only where agreed.

Sending goes through an outbox with two parts: events that must all arrive (alerts,
deletes, zones, emergencies: first in, first out) and track updates, merged per track so
that a slow link or the rate limit costs old positions, never the latest one. While the
destination is unreachable the outbox keeps filling (its first part bounded, the oldest
dropped and counted) and the connection is retried with back-off; after each (re)connect
the site's own presence (SA) goes first, as TAK servers take a client's first event as its
identity, then the zones and the live picture.

Transports by URL: ``tcp://`` and ``tls://`` stream XML events back to back (TLS with a
client certificate and a pinned CA when configured); ``udp://`` sends one event per datagram
to a device or a multicast group (TTL and interface configurable). With ``protocol =
"takproto"`` UDP carries TAK Protocol v1 mesh frames; on TCP/TLS the output answers a
server's offer of version 1 (``t-x-takp-v``), asks for it, and switches to stream framing
only when the server says yes; until then, and with servers that never offer, it stays XML.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import socket
import ssl
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit
from xml.etree.ElementTree import Element

from dronewatch.bus import Subscription, subject
from dronewatch.config import TakConfig
from dronewatch.errors import DecodeError, TransportError
from dronewatch.formats import cot
from dronewatch.model import LEVELS, Alert, Level, TrackReport, Zone
from dronewatch.service.worker import BACKOFF_S, StageCounters, records_of

if TYPE_CHECKING:
    from dronewatch.service.pipeline import Pipeline

log = logging.getLogger(__name__)
_SA_EVERY_S = 20.0
_SA_STALE_S = 90.0
_ALERT_STALE_S = 30.0
_MUST_SEND_LIMIT = 10_000
_STALE_MIN_S, _STALE_MAX_S, _STALE_PER_INTERVAL = 5.0, 60.0, 3.0


class Transport(Protocol):
    async def send(self, data: bytes) -> None: ...

    async def close(self) -> None: ...


@dataclass(slots=True)
class Outbox:
    """What waits to be sent: ``must`` in order, ``tracks`` the latest event per track uid."""

    must: deque[bytes] = field(default_factory=deque)
    tracks: OrderedDict[str, bytes] = field(default_factory=OrderedDict)
    ready: asyncio.Event = field(default_factory=asyncio.Event)

    def put(self, event: bytes, counters: StageCounters) -> None:
        if len(self.must) >= _MUST_SEND_LIMIT:
            self.must.popleft()
            counters.counts["outbox_dropped"] += 1
        self.must.append(event)
        self.ready.set()

    def put_track(self, uid: str, event: bytes, counters: StageCounters) -> None:
        if uid in self.tracks:
            counters.counts["track_updates_merged"] += 1
            del self.tracks[uid]
        self.tracks[uid] = event
        self.ready.set()

    def forget_track(self, uid: str) -> None:
        self.tracks.pop(uid, None)

    def take(self) -> bytes | None:
        if self.must:
            return self.must.popleft()
        if self.tracks:
            return self.tracks.popitem(last=False)[1]
        self.ready.clear()
        return None

    def give_back(self, event: bytes) -> None:
        """An event the connection failed to send goes first again (a track update may be a stale copy:
        harmless, the next picture replaces it)."""
        self.must.appendleft(event)


@dataclass(slots=True)
class _Sent:
    uid: str
    event_type: str
    last_t: float
    interval_s: float | None = None


class TakOutput:
    """Tracks, zones and alerts of one site to one TAK destination (see the module docstring)."""

    def __init__(self, config: TakConfig, *, simulated: bool = False, clock: Callable[[], float] = time.time,
                 run: str | None = None, reconnect_s: tuple[float, ...] = BACKOFF_S) -> None:
        self.config = config
        self.reconnect_s = reconnect_s
        self.name = config.name or config.url
        self.simulated = simulated
        self.clock = clock
        self.run = run or format(int(clock()), "x")
        """Part of every track uid: track ids start again when the service does."""
        self.outbox = Outbox()
        self.connected = asyncio.Event()
        self._levels: dict[str, int] = {level: rank for rank, level in enumerate(LEVELS)}
        self._min_level = self._levels[config.min_alert_level]
        self._sent: dict[str, _Sent] = {}
        self._track_level: dict[str, dict[str, Level]] = {}
        """Per track id: its open alerts' levels by alert id (the highest sets the affiliation)."""
        self._emergencies: dict[str, Alert] = {}
        self._latest: dict[str, TrackReport] = {}
        self._zones: dict[str, Zone] = {}
        self._origin: cot.Origin | None = None
        self._bucket = config.max_events_per_s
        self._bucket_at = 0.0

    # ------------------------------------------------------------------ running
    async def __call__(self, pipeline: Pipeline) -> None:
        counters = pipeline.stage(f"tak {self.name}")
        await pipeline.site.placed.wait()  # the first sensor places the site (and our SA)
        site = pipeline.site.frame
        assert site is not None
        self._origin = cot.origin_for_site(pipeline.site_id, site.lat0_deg, site.lon0_deg, site.alt0_m,
                                             simulated=self.simulated)
        for zone in pipeline.site.zones:
            self._zones[zone.id] = zone
        subscriptions = [pipeline.bus.subscribe(subject(pipeline.site_id, stream), overflow="drop_oldest",
                                                maxsize=1000) for stream in ("picture", "alerts", "zones", "posture")]
        tasks = [asyncio.create_task(self._consume(pipeline, sub, counters)) for sub in subscriptions]
        tasks.append(asyncio.create_task(self._send_forever(pipeline, counters)))
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            for sub in subscriptions:
                counters.counts["queue_dropped"] += sub.dropped
                pipeline.bus.unsubscribe(sub)

    async def _consume(self, pipeline: Pipeline, subscription: Subscription, counters: StageCounters) -> None:
        while (message := await subscription.get()) is not None:
            stream = message.subject.rsplit(".", 1)[-1]
            if stream == "posture":
                self.on_posture(message.data, counters)
                continue
            records = records_of(message, counters, f"tak {self.name}")
            if stream == "picture":
                self.on_picture([r for r in records if isinstance(r, TrackReport)], pipeline, counters)
            elif stream == "alerts":
                for alert in records:
                    if isinstance(alert, Alert):
                        self.on_alert(alert, counters)
            else:
                for zone in records:
                    if isinstance(zone, Zone):
                        self.on_zone(zone, counters)

    # ------------------------------------------------------------------ what to send
    @property
    def origin(self) -> cot.Origin:
        assert self._origin is not None, "the output has not started"
        return self._origin

    def on_picture(self, reports: list[TrackReport], pipeline: Pipeline, counters: StageCounters) -> None:
        """A full picture: update the tracks this destination may see, delete those that ended or left its view."""
        now = self.clock()
        kinds = {s.id: s.kind for s in pipeline.site.sensors}
        wanted = {r.id: r for r in reports if (r.cls or "unknown") in self.config.classes}
        for track_id in [t for t in self._sent if t not in wanted]:
            self._delete(track_id, now, counters)
        for report in wanted.values():
            self._latest[report.id] = report
            self._put_track(report, now, cot.track_how(kinds.get(s, "other") for s in report.sensors or ()),
                            counters)

    def _put_track(self, report: TrackReport, now: float, how: str, counters: StageCounters) -> None:
        sent = self._sent.get(report.id)
        uid = cot.track_uid(self.origin, self.run, report.id)
        if sent is None:
            sent = self._sent[report.id] = _Sent(uid, "", report.t)
        elif report.t > sent.last_t:
            step = report.t - sent.last_t
            sent.interval_s = step if sent.interval_s is None else 0.8 * sent.interval_s + 0.2 * step
            sent.last_t = report.t
        stale = 10.0 if sent.interval_s is None else min(_STALE_MAX_S, max(
            _STALE_MIN_S, _STALE_PER_INTERVAL * sent.interval_s))
        level = self._highest_level(report.id)
        sent.event_type = cot.track_type(report.cls, level)
        event = cot.track_event(report, self.origin, uid=uid, now_s=now, stale_s=stale, how=how, level=level,
                                sigma_m=report.sigma_m)
        self.outbox.put_track(uid, event, counters)

    def _delete(self, track_id: str, now: float, counters: StageCounters) -> None:
        sent = self._sent.pop(track_id)
        self._latest.pop(track_id, None)
        self.outbox.forget_track(sent.uid)
        self.outbox.put(cot.delete_event(sent.uid, sent.event_type, self.origin, now_s=now, stale_s=_ALERT_STALE_S),
                        counters)
        counters.counts["deletes"] += 1

    def _highest_level(self, track_id: str) -> Level | None:
        levels = self._track_level.get(track_id)
        if not levels:
            return None
        highest: Level = max(levels.values(), key=self._levels.__getitem__)
        return highest

    def on_posture(self, data: bytes, counters: StageCounters) -> None:
        """A change of the site's threat posture, as a chat message to every TAK user (the bulletins' texts
        included: a destination that gets alerts is one the site shares its guard with)."""
        try:
            line = json.loads(data)
            text = cot.posture_text(line)
        except (ValueError, KeyError, TypeError) as error:
            counters.bad(f"tak {self.name}", "posture", f"not a posture line: {error}")
            return
        self.outbox.put(cot.chat_event(text, self.origin, message_id=f"{self.run}.posture.{round(line['t'] * 1000)}",
                                       now_s=self.clock()), counters)
        counters.counts["posture"] += 1

    def on_alert(self, alert: Alert, counters: StageCounters) -> None:
        levels = self._track_level.setdefault(alert.track, {})
        if alert.state == "resolved":
            levels.pop(alert.id, None)
        else:
            levels[alert.id] = alert.level
        if self._levels[alert.level] < self._min_level:
            return
        now = self.clock()
        report = self._latest.get(alert.track)
        name = cot.track_label(report) if report is not None else alert.track
        text = cot.alert_text(alert, name)
        message_id = f"{self.run}.{alert.id}.{alert.state}.{round(alert.t * 1000)}"
        self.outbox.put(cot.chat_event(text, self.origin, message_id=message_id, now_s=now), counters)
        counters.counts["alerts"] += 1
        if not self.config.emergency:
            return
        lat, lon, hae = self._alert_position(alert, report)
        if alert.level == "critical" and alert.state != "resolved":
            self._emergencies[alert.id] = alert
            self.outbox.put(cot.emergency_event(alert, self.origin, now_s=now, stale_s=_ALERT_STALE_S, lat=lat,
                                                lon=lon, hae=hae, text=text), counters)
            counters.counts["emergencies"] += 1
        elif self._emergencies.pop(alert.id, None) is not None:
            self.outbox.put(cot.emergency_cancel_event(alert, self.origin, now_s=now, stale_s=_ALERT_STALE_S,
                                                       lat=lat, lon=lon, hae=hae), counters)
            counters.counts["emergency_cancels"] += 1

    def _alert_position(self, alert: Alert, report: TrackReport | None) -> tuple[float, float, float]:
        if report is not None:
            return report.lat, report.lon, report.alt
        state = (alert.evidence or {}).get("track") or {}
        if all(k in state for k in ("lat", "lon", "alt")):
            return float(state["lat"]), float(state["lon"]), float(state["alt"])
        return self.origin.lat, self.origin.lon, self.origin.hae

    def on_zone(self, zone: Zone, counters: StageCounters) -> None:
        self._zones[zone.id] = zone
        if self.config.zones:
            self.outbox.put(cot.zone_event(zone, self.origin, now_s=self.clock()), counters)

    def _greeting(self) -> list[bytes]:
        """What a fresh connection gets first: our SA, the zones, the live emergencies (tracks follow from the
        outbox and the next picture)."""
        now = self.clock()
        events = [cot.sa_event(self.origin, now_s=now, stale_s=_SA_STALE_S)]
        if self.config.zones:
            events += [cot.zone_event(z, self.origin, now_s=now) for z in self._zones.values()]
        for alert in self._emergencies.values():
            lat, lon, hae = self._alert_position(alert, self._latest.get(alert.track))
            events.append(cot.emergency_event(alert, self.origin, now_s=now, stale_s=_ALERT_STALE_S, lat=lat,
                                              lon=lon, hae=hae, text=cot.alert_text(alert)))
        return events

    # ------------------------------------------------------------------ sending
    async def _send_forever(self, pipeline: Pipeline, counters: StageCounters) -> None:
        attempt = 0
        while True:
            try:
                transport = await open_transport(self.config, self.origin, self.clock, counters, self.name)
            except (OSError, TransportError, ssl.SSLError) as error:
                counters.counts["connect_failures"] += 1
                delay = self.reconnect_s[min(attempt, len(self.reconnect_s) - 1)]
                if attempt < 3 or attempt % 10 == 0:
                    log.warning("tak %s: cannot connect (%s); again in %.0f s", self.name, error, delay)
                attempt += 1
                await asyncio.sleep(delay)
                continue
            attempt = 0
            counters.counts["connects"] += 1
            self.connected.set()
            try:
                await self._send_while_connected(transport, counters)
            except (OSError, TransportError, ssl.SSLError) as error:
                counters.counts["disconnects"] += 1
                log.warning("tak %s: connection lost (%s); reconnecting", self.name, error)
            finally:
                self.connected.clear()
                await transport.close()

    async def _send_while_connected(self, transport: Transport, counters: StageCounters) -> None:
        for greeting in self._greeting():
            await self._send(transport, greeting, counters)
        sa_due = time.monotonic() + _SA_EVERY_S
        while True:
            event = self.outbox.take()
            if event is None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.outbox.ready.wait(), max(0.05, sa_due - time.monotonic()))
            else:
                await self._wait_for_rate()
                try:
                    await self._send(transport, event, counters)
                except BaseException:
                    self.outbox.give_back(event)
                    raise
            if time.monotonic() >= sa_due:
                await self._send(transport, cot.sa_event(self.origin, now_s=self.clock(), stale_s=_SA_STALE_S),
                                 counters)
                sa_due = time.monotonic() + _SA_EVERY_S

    async def _send(self, transport: Transport, event: bytes, counters: StageCounters) -> None:
        await transport.send(event)
        counters.counts["events_sent"] += 1
        counters.counts["bytes_sent"] += len(event)

    async def _wait_for_rate(self) -> None:
        """A token bucket: at most ``max_events_per_s`` on average, bursts of one second's worth."""
        rate = self.config.max_events_per_s
        now = time.monotonic()
        self._bucket = min(rate, self._bucket + (now - self._bucket_at) * rate)
        self._bucket_at = now
        if self._bucket < 1.0:
            await asyncio.sleep((1.0 - self._bucket) / rate)
            self._bucket, self._bucket_at = 1.0, time.monotonic()
        self._bucket -= 1.0


# ---------------------------------------------------------------------- transports
async def open_transport(config: TakConfig, origin: cot.Origin, clock: Callable[[], float],
                         counters: StageCounters, name: str) -> Transport:
    parts = urlsplit(config.url)
    host, port = parts.hostname or "", parts.port or 0
    if parts.scheme == "udp":
        return DatagramTransport(host, port, config)
    context = tls_context(config) if parts.scheme == "tls" else None
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port, ssl=context), 10.0)
    return StreamTransport(reader, writer, negotiate=config.protocol == "takproto", origin=origin, clock=clock,
                           counters=counters, name=name)


def tls_context(config: TakConfig) -> ssl.SSLContext:
    """Client TLS: only ``ca_file``'s CA is trusted when one is given (pinning); a client certificate if set."""
    context = ssl.create_default_context(cafile=config.ca_file or None)
    context.check_hostname = config.check_hostname
    if config.cert_file:
        context.load_cert_chain(config.cert_file, config.key_file, config.key_password or None)
    return context


class StreamTransport:
    """XML events back to back over TCP/TLS; reads the server's events to notice a close and to negotiate
    TAK Protocol v1 when the server offers it."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, negotiate: bool,
                 origin: cot.Origin, clock: Callable[[], float], counters: StageCounters, name: str) -> None:
        self.writer = writer
        self.framing: cot.TakProtocol = "xml"
        self.negotiate = negotiate
        self.origin = origin
        self.clock = clock
        self.counters = counters
        self.name = name
        self._requested = asyncio.Event()
        self._answered = asyncio.Event()
        self._reading = asyncio.create_task(self._read(reader))

    async def send(self, data: bytes) -> None:
        if self._reading.done():
            raise TransportError(f"{self.name}: the server closed the connection")
        if self._requested.is_set() and not self._answered.is_set():
            # after asking for TAK Protocol v1 a client must not send XML until the server answers
            await asyncio.wait_for(self._answered.wait(), 60.0)
        self.writer.write(cot.to_tak_protocol(data, self.framing))
        await self.writer.drain()

    async def _read(self, reader: asyncio.StreamReader) -> None:
        buffer = b""
        while chunk := await reader.read(65536):
            if self.framing == "stream":
                continue  # what a server relays to us is not our business; we only watch for the close
            try:
                events, buffer = cot.split_events(buffer + chunk)
            except DecodeError as error:
                self.counters.bad(f"tak {self.name}", "server", str(error))
                buffer = b""
                continue
            for event in events:
                await self._control(event)

    async def _control(self, event: Element) -> None:
        kind = event.get("type")
        if kind == "t-x-takp-v" and self.negotiate and not self._requested.is_set():
            offered = {e.get("version") for e in event.iter("TakProtocolSupport")}
            if "1" in offered:
                self.writer.write(cot.protocol_request_event(self.origin, now_s=self.clock()))
                await self.writer.drain()
                self._requested.set()
        elif kind == "t-x-takp-r" and self._requested.is_set():
            agreed = any(e.get("status") == "true" for e in event.iter("TakResponse"))
            self.framing = "stream" if agreed else "xml"
            self.counters.counts["takproto_agreed" if agreed else "takproto_refused"] += 1
            self._answered.set()

    async def close(self) -> None:
        self._reading.cancel()
        self.writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await self.writer.wait_closed()


class DatagramTransport:
    """One event per datagram to a device or a multicast group (TAK mesh: ``udp://239.2.3.1:6969``)."""

    def __init__(self, host: str, port: int, config: TakConfig) -> None:
        self.address = (host, port)
        self.framing: cot.TakProtocol = "mesh" if config.protocol == "takproto" else "xml"
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.setblocking(False)
        with contextlib.suppress(ValueError):
            if ipaddress.ip_address(host).is_multicast:
                self.socket.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, config.multicast_ttl)
                if config.multicast_interface:
                    self.socket.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF,
                                           socket.inet_aton(config.multicast_interface))

    async def send(self, data: bytes) -> None:
        await asyncio.get_running_loop().sock_sendto(self.socket, cot.to_tak_protocol(data, self.framing),
                                                     self.address)

    async def close(self) -> None:
        self.socket.close()
