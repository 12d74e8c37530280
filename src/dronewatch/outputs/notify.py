"""Notifications: alerts to the people on duty, off the dashboard, by webhook or by email.

A :class:`NotifyOutput` is a pipeline output (``pipeline.add_output``) for one destination (a
``[[notify]]`` table). It reads the site's ``alerts`` stream and queues a *notice* when

============  ==========================================================================
event         when
============  ==========================================================================
``opened``    an alert's line is ``open`` at ``min_level`` or above, and the destination
              has not been told of the alert at that level (the first such line)
``escalated`` the same, after an earlier line of the alert at a lower level
``resolved``  with ``resolved = true``: an alert the destination was told of resolves
============  ==========================================================================

and the alert's kind is one of ``kinds`` (empty: any). Every other line is not a notice: a
countdown (the predicted breach time moved), an acknowledgement, a re-opened line at the same
level. A notice is known by its delivery id, ``<site>.<alert id>.<level>.<state>``: the same
id on every attempt and after a restart of the service (alert ids go on where they stopped), so
that a receiver can drop a notice it already has.

Delivery never holds up the pipeline: the reader only queues (the bus drops its oldest message,
counted, should even that fall behind), and one sender per destination empties the queue in
order. As a worker on NATS (``dronewatch worker outputs``) the reader is a durable consumer,
``<site>-notify-<hash of the name>``: it acknowledges an alert line once its notice is kept, so
alerts raised while the outputs worker was down are read when it comes back.

A notice that fails for a reason that may pass (no connection, a timeout, HTTP 5xx, 408 or 429,
SMTP 4xx) is tried again after a back-off of 1 s doubling up to 60 s (longer if a 429 asks for it),
for as long as the service runs; meanwhile the queue holds ``max_queued`` notices and drops the
oldest (counted) beyond that. A notice refused for good (HTTP 4xx, a redirect, SMTP 5xx) is counted
and logged, not tried again. Notices are kept in the site's database (``notify_outbox``) from
before they are queued until they are delivered, refused or dropped, so a restart of the service
sends those it had not delivered yet (``restored``).

Webhook (``https://``, ``http://``): ``POST`` of a JSON object (:func:`webhook_body`) with

- ``X-Dronewatch-Delivery``: the delivery id;
- ``X-Dronewatch-Timestamp``: UNIX seconds when this attempt was signed;
- ``X-Dronewatch-Signature``: ``sha256=`` + hex HMAC-SHA256, keyed with the destination's secret,
  of ``f"{timestamp}.{body}"`` (the raw body bytes): the receiver checks it, and the timestamp's
  age, before it believes the notice (as Stripe's and GitHub's webhooks are checked).

Email (``smtp://`` with optional STARTTLS, ``smtps://``): one plain-text message to every
``mail_to``, subject ``[dronewatch CRITICAL] station: zone_breach_predicted compound, T12 in 35 s``,
``Message-ID`` made from the delivery id; :mod:`smtplib` in a worker thread.

Counters (stage ``notify <name>``): ``notices`` queued, ``sent``, ``retried`` (attempts that failed
and will be made again), ``failed`` (refused for good), ``dropped`` (the queue was full),
``queued`` (waiting now), ``restored`` (kept from before a restart), ``recipients_refused`` (mail
accepted for only some recipients), ``queue_dropped`` (alert lines the bus dropped before the reader
took them).
"""

from __future__ import annotations

import asyncio
import datetime
import email.policy
import email.utils
import hashlib
import hmac
import json
import logging
import os
import smtplib
import ssl
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import TYPE_CHECKING, Literal, Protocol
from urllib.parse import urlsplit

import httpx

from dronewatch.bus import Subscription, subject
from dronewatch.config import NotifyConfig
from dronewatch.errors import ConfigError, TransportError
from dronewatch.formats.scenario import parse_line, record_to_dict
from dronewatch.model import LEVELS, Alert, Level
from dronewatch.service.worker import StageCounters, records_of

if TYPE_CHECKING:
    from dronewatch.service.pipeline import Pipeline
    from dronewatch.storage import Repository

log = logging.getLogger(__name__)
NoticeEvent = Literal["opened", "escalated", "resolved"]
BACKOFF_S = (1.0, 60.0)
"""The first wait before a retry and the longest: 1, 2, 4, ... 60, 60, ... seconds."""
_RETRY_AFTER_MAX_S = 300.0
"""The longest wait a receiver's ``Retry-After`` may ask for."""
_REMEMBERED_ALERTS = 10_000
"""Alerts whose levels a destination remembers (the oldest forgotten beyond it: an alert never resolved)."""
_SIGNATURE_HEADER = "X-Dronewatch-Signature"
_MAIL_POLICY = email.policy.default.clone(max_line_length=998)
"""Headers on one line up to SMTP's limit: a subject folded right after ``Subject:`` reads with a leading
space in some clients."""


@dataclass(frozen=True, slots=True)
class Notice:
    """What one destination is told of one alert line."""

    site: str
    event: NoticeEvent
    alert: Alert
    link: str = ""

    @property
    def delivery(self) -> str:
        """The same on every attempt, to every destination, after a restart: ``<site>.<alert>.<level>.<state>``."""
        return f"{self.site}.{self.alert.id}.{self.alert.level}.{self.alert.state}"


class Unreachable(TransportError):
    """An attempt failed for a reason that may pass: try again (after ``retry_after_s`` at least, if given)."""

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class Refused(TransportError):
    """The destination refused the notice for good (trying again would get the same answer)."""


class Sender(Protocol):
    async def send(self, notice: Notice) -> None:
        """Deliver, or raise :class:`Unreachable` or :class:`Refused`."""

    async def close(self) -> None: ...


@dataclass(slots=True)
class Outbox:
    """Notices waiting, oldest first; at most ``limit`` (beyond it the oldest is dropped and counted)."""

    limit: int
    name: str = ""
    notices: deque[Notice] = field(default_factory=deque)
    ready: asyncio.Event = field(default_factory=asyncio.Event)

    def put(self, notice: Notice, counters: StageCounters) -> list[Notice]:
        """Queue ``notice``; the oldest ones dropped to make room."""
        self.notices.append(notice)
        self.ready.set()
        return self._bound(counters)

    def give_back(self, notice: Notice, counters: StageCounters) -> list[Notice]:
        """A notice to try again: first in line, unless the queue filled up meanwhile (then it is the oldest)."""
        self.notices.appendleft(notice)
        return self._bound(counters)

    def take(self, counters: StageCounters) -> Notice | None:
        if not self.notices:
            self.ready.clear()
            return None
        notice = self.notices.popleft()
        counters.counts["queued"] = len(self.notices)
        return notice

    def _bound(self, counters: StageCounters) -> list[Notice]:
        dropped: list[Notice] = []
        while len(self.notices) > self.limit:
            dropped.append(self.notices.popleft())
            counters.counts["dropped"] += 1
            if counters.counts["dropped"] % 100 == 1:
                log.warning("notify %s: queue full (%d); dropped %s (%d dropped so far)", self.name, self.limit,
                            dropped[-1].delivery, counters.counts["dropped"])
        counters.counts["queued"] = len(self.notices)
        return dropped


class NotifyOutput:
    """A site's alerts to one destination (see the module docstring). ``backoff_s``: the first and the
    longest wait before a retry; ``environ`` holds the secrets named by ``secret_env`` and ``password_env``."""

    def __init__(self, config: NotifyConfig, *, clock: Callable[[], float] = time.time,
                 backoff_s: tuple[float, float] = BACKOFF_S, environ: Mapping[str, str] | None = None) -> None:
        self.config = config
        self.name = config.label
        self.clock = clock
        self.backoff_s = backoff_s
        self.outbox = Outbox(config.max_queued, self.name)
        self.listening = asyncio.Event()
        """Set once the output reads the alerts stream (tests publish after it)."""
        environ = os.environ if environ is None else environ
        self._secret = _secret(config.secret, config.secret_env, environ, f"notify {self.name}: secret_env")
        self._password = _secret(config.password, config.password_env, environ, f"notify {self.name}: password_env")
        self._min_rank = LEVELS.index(config.min_level)
        self._told: OrderedDict[str, Level] = OrderedDict()
        """Per alert id: the highest level this destination was told of."""
        self._seen: OrderedDict[str, Level] = OrderedDict()
        """Per live alert id: its highest level in any line read (tells an escalation from an opening)."""
        self.repository: Repository | None = None
        """Where notices are kept until delivered (the pipeline's), if anywhere."""

    async def __call__(self, pipeline: Pipeline) -> None:
        counters = pipeline.stage(f"notify {self.name}")
        self.repository = pipeline.repository
        durable = consumer_name(pipeline.site_id, self.name) if pipeline.durable else None
        subscription = pipeline.bus.subscribe(subject(pipeline.site_id, "alerts"), maxsize=1000, durable=durable,
                                              overflow="drop_oldest" if durable is None else "block")
        sender = open_sender(self.config, self.name, self.clock, self._secret, self._password, counters)
        tasks: list[asyncio.Task[None]] = []
        try:
            await self._restore(counters)
            await subscription.ready.wait()
            self.listening.set()
            tasks = [asyncio.create_task(self._read(pipeline.site_id, subscription, counters)),
                     asyncio.create_task(self._deliver_forever(sender, counters))]
            await asyncio.gather(*tasks)
        finally:
            self.listening.clear()
            for task in tasks:
                task.cancel()
            counters.counts["queue_dropped"] += subscription.dropped
            pipeline.bus.unsubscribe(subscription)
            await sender.close()

    async def _read(self, site: str, subscription: Subscription, counters: StageCounters) -> None:
        while (message := await subscription.get()) is not None:
            for alert in records_of(message, counters, f"notify {self.name}"):
                if isinstance(alert, Alert) and (notice := self.on_alert(site, alert)) is not None:
                    await self._queue(notice, counters)
            await subscription.done(message)  # its notices are kept: a restarted worker need not read it again

    # ------------------------------------------------------------------ what to send
    def on_alert(self, site: str, alert: Alert) -> Notice | None:
        """The notice this alert line makes for this destination, if it makes one."""
        rank = LEVELS.index(alert.level)
        seen = self._seen.pop(alert.id, None)
        if alert.state == "resolved":
            told = self._told.pop(alert.id, None)
            if told is not None and self.config.resolved:
                return Notice(site, "resolved", alert, self.config.dashboard_url)
            return None
        self._seen[alert.id] = alert.level if seen is None else max(seen, alert.level, key=LEVELS.index)
        _forget_oldest(self._seen)
        kinds, sites = self.config.kinds, self.config.sites
        if alert.state != "open" or rank < self._min_rank or (kinds and alert.kind not in kinds) or (
                sites and site not in sites):
            return None
        told = self._told.get(alert.id)
        if told is not None and LEVELS.index(told) >= rank:
            return None  # a countdown, or a line re-opened at the level already told
        self._told[alert.id] = alert.level
        _forget_oldest(self._told)
        lower_before = told is not None or (seen is not None and LEVELS.index(seen) < rank)
        return Notice(site, "escalated" if lower_before else "opened", alert, self.config.dashboard_url)

    async def _queue(self, notice: Notice, counters: StageCounters) -> None:
        """Keep the notice in the database (when the site has one) first, then queue it."""
        if self.repository is not None and not await asyncio.to_thread(
                self.repository.keep_notice, self.name, notice.delivery, notice.site, notice.event,
                record_to_dict(notice.alert), notice.link, self.clock()):
            return  # kept already: restored from before a restart
        counters.counts["notices"] += 1
        await self._forget(self.outbox.put(notice, counters))

    async def _restore(self, counters: StageCounters) -> None:
        """The notices kept before a restart, queued again first; their alerts count as told."""
        if self.repository is None:
            return
        for row in await asyncio.to_thread(self.repository.kept_notices, self.name):
            alert = parse_line(json.dumps(row["alert"]), source=f"notify {self.name} outbox")
            assert isinstance(alert, Alert)
            if row["event"] != "resolved":
                self._told[alert.id] = alert.level
            counters.counts["restored"] += 1
            await self._forget(self.outbox.put(Notice(row["site_id"], row["event"], alert, row["link"]), counters))

    async def _forget(self, notices: list[Notice]) -> None:
        """Notices done with (delivered, refused, dropped): no longer kept."""
        if notices and self.repository is not None:
            await asyncio.to_thread(self.repository.forget_notices, self.name, [n.delivery for n in notices])

    # ------------------------------------------------------------------ sending
    def delay_s(self, attempt: int) -> float:
        """The wait before retry number ``attempt`` (0 first): doubling from the first to the longest."""
        first, longest = self.backoff_s
        return float(min(longest, first * 2.0 ** min(attempt, 32)))

    async def _deliver_forever(self, sender: Sender, counters: StageCounters) -> None:
        attempt = 0
        while True:
            notice = self.outbox.take(counters)
            if notice is None:
                await self.outbox.ready.wait()
                continue
            try:
                await sender.send(notice)
            except Unreachable as error:
                await self._forget(self.outbox.give_back(notice, counters))
                counters.counts["retried"] += 1
                delay = max(self.delay_s(attempt), min(error.retry_after_s or 0.0, _RETRY_AFTER_MAX_S))
                if attempt < 3 or attempt % 10 == 0:
                    log.warning("notify %s: %s not delivered (%s); again in %.1f s", self.name, notice.delivery,
                                error, delay)
                attempt += 1
                await asyncio.sleep(delay)
                continue
            except Refused as error:
                counters.counts["failed"] += 1
                log.error("notify %s: %s refused, not tried again: %s", self.name, notice.delivery, error)
            except asyncio.CancelledError:
                self.outbox.give_back(notice, counters)  # still kept: sent after a restart
                raise
            except Exception as error:  # a bug: contained to this notice
                counters.counts["failed"] += 1
                counters.failed(f"notify {self.name}", notice.delivery, error)
            else:
                counters.counts["sent"] += 1
                log.info("notify %s: %s delivered", self.name, notice.delivery)
            await self._forget([notice])
            attempt = 0


def consumer_name(site: str, destination: str) -> str:
    """A destination's durable consumer on NATS: its name may hold a URL, which a consumer name may not."""
    return f"{site}-notify-{hashlib.sha256(destination.encode()).hexdigest()[:16]}"


def _forget_oldest(book: OrderedDict[str, Level]) -> None:
    while len(book) > _REMEMBERED_ALERTS:
        book.popitem(last=False)


def _secret(value: str, variable: str, environ: Mapping[str, str], where: str) -> str:
    if not variable:
        return value
    if not environ.get(variable):
        raise ConfigError(f"{where}: the environment variable {variable} is not set (or empty)")
    return environ[variable]


# ---------------------------------------------------------------------- the notice as text
def summary(notice: Notice) -> str:
    """``zone_breach_predicted compound, T12 in 35 s``: the kind, the zone, the track, the time left."""
    alert = notice.alert
    text = f"{alert.kind}{f' {alert.zone}' if alert.zone else ''}, {alert.track}"
    if alert.eta_s is not None and alert.state != "resolved":
        text += f" in {alert.eta_s:.0f} s"
    return text


def mail_subject(notice: Notice) -> str:
    tag = "RESOLVED" if notice.event == "resolved" else notice.alert.level.upper()
    return " ".join(f"[dronewatch {tag}] {notice.site}: {summary(notice)}".split())  # no line breaks in a header


def mail_text(notice: Notice, roles: tuple[str, ...] = ()) -> str:
    alert = notice.alert
    lines = [f"Alert {alert.id} at {notice.site} {notice.event}: {alert.level} {alert.kind}",
             f"Zone: {alert.zone or '-'}", f"Track: {alert.track}"]
    if alert.eta_s is not None and alert.state != "resolved":
        lines.append(f"Predicted breach in {alert.eta_s:.0f} s")
    lines.append(f"Time: {utc(alert.t)}")
    lines += ["", "Reasons:", *(f"- {reason}" for reason in alert.reasons), ""]
    if notice.link:
        lines.append(f"Dashboard: {notice.link}")
    if roles:
        lines.append(f"For: {', '.join(roles)}")
    lines.append(f"Delivery: {notice.delivery}")
    return "\n".join(lines) + "\n"


def utc(t: float) -> str:
    """``2026-05-28T20:26:40Z``: UNIX seconds as UTC, ISO 8601."""
    return datetime.datetime.fromtimestamp(t, datetime.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def webhook_body(notice: Notice, roles: tuple[str, ...] = ()) -> bytes:
    """The JSON a webhook receives (compact, UTF-8); docs/notifications.md lists the fields."""
    alert = notice.alert
    return json.dumps({
        "delivery": notice.delivery, "event": notice.event, "site": notice.site, "alert": alert.id,
        "level": alert.level, "state": alert.state, "kind": alert.kind, "zone": alert.zone, "track": alert.track,
        "reasons": list(alert.reasons), "eta_s": alert.eta_s, "t": alert.t, "time": utc(alert.t),
        "roles": list(roles), "link": notice.link or None,
    }, separators=(",", ":"), ensure_ascii=False).encode()


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>``: HMAC-SHA256 keyed with ``secret`` of ``f"{timestamp}.{body}"``."""
    return "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


# ---------------------------------------------------------------------- senders
def open_sender(config: NotifyConfig, name: str, clock: Callable[[], float], secret: str, password: str,
                counters: StageCounters) -> Sender:
    if urlsplit(config.url).scheme.startswith("smtp"):
        return MailSender(config, name, clock, password, counters)
    return WebhookSender(config, name, clock, secret)


def tls_context(config: NotifyConfig) -> ssl.SSLContext:
    """Only ``ca_file``'s CA is trusted when one is given (pinning); the system's CAs otherwise."""
    return ssl.create_default_context(cafile=config.ca_file or None)


class WebhookSender:
    """A signed JSON ``POST`` per notice (httpx, one connection pool per destination)."""

    def __init__(self, config: NotifyConfig, name: str, clock: Callable[[], float], secret: str) -> None:
        self.config = config
        self.name = name
        self.clock = clock
        self.secret = secret
        self.client = httpx.AsyncClient(timeout=config.timeout_s, follow_redirects=False, verify=tls_context(config),
                                        headers={"User-Agent": "dronewatch"})

    async def send(self, notice: Notice) -> None:
        body = webhook_body(notice, self.config.roles)
        timestamp = str(int(self.clock()))
        headers = {"Content-Type": "application/json", "X-Dronewatch-Delivery": notice.delivery,
                   "X-Dronewatch-Event": notice.event, "X-Dronewatch-Timestamp": timestamp,
                   _SIGNATURE_HEADER: signature(self.secret, timestamp, body)}
        try:
            response = await self.client.post(self.config.url, content=body, headers=headers)
        except httpx.HTTPError as error:
            raise Unreachable(f"{type(error).__name__}: {error}") from None
        status = response.status_code
        if status < 300:
            return
        answer = f"HTTP {status} {response.reason_phrase}"
        if status in (408, 429) or status >= 500:
            raise Unreachable(answer, _retry_after_s(response.headers.get("Retry-After")))
        raise Refused(answer)

    async def close(self) -> None:
        await self.client.aclose()


def _retry_after_s(value: str | None) -> float | None:
    """A ``Retry-After`` in seconds (an HTTP date is taken as no advice)."""
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


class MailSender:
    """A plain-text message per notice over SMTP: :mod:`smtplib` in a worker thread, a connection each."""

    def __init__(self, config: NotifyConfig, name: str, clock: Callable[[], float], password: str,
                 counters: StageCounters) -> None:
        parts = urlsplit(config.url)
        self.counters = counters
        self.config = config
        self.name = name
        self.clock = clock
        self.password = password
        self.host = parts.hostname or ""
        self.tls = parts.scheme == "smtps"
        self.port = parts.port or (465 if self.tls else 25)

    def message(self, notice: Notice) -> EmailMessage:
        message = EmailMessage(policy=_MAIL_POLICY)
        message["Subject"] = mail_subject(notice)
        message["From"] = self.config.mail_from
        message["To"] = ", ".join(self.config.mail_to)
        message["Date"] = email.utils.formatdate(self.clock(), usegmt=True)
        message["Message-ID"] = f"<{notice.delivery}@dronewatch.invalid>"
        message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no out-of-office answers
        message["X-Dronewatch-Delivery"] = notice.delivery
        if notice.alert.level == "critical" and notice.event != "resolved":
            message["Importance"] = "high"
            message["X-Priority"] = "1"
        message.set_content(mail_text(notice, self.config.roles))
        return message

    async def send(self, notice: Notice) -> None:
        message = self.message(notice)
        try:
            refused = await asyncio.to_thread(self._send, message)
        except smtplib.SMTPRecipientsRefused as error:
            codes = [code for code, _ in error.recipients.values()]
            text = f"every recipient refused: {error.recipients}"
            if all(500 <= code < 600 for code in codes):
                raise Refused(text) from None
            raise Unreachable(text) from None
        except smtplib.SMTPResponseException as error:
            answer = error.smtp_error
            text = f"SMTP {error.smtp_code} {answer.decode(errors='replace') if isinstance(answer, bytes) else answer}"
            if 500 <= error.smtp_code < 600:
                raise Refused(text) from None
            raise Unreachable(text) from None
        except smtplib.SMTPNotSupportedError as error:
            raise Refused(f"the server does not support it: {error}") from None
        except (smtplib.SMTPException, OSError) as error:
            raise Unreachable(f"{type(error).__name__}: {error}") from None
        if refused:
            self.counters.counts["recipients_refused"] += len(refused)
            log.warning("notify %s: %s not accepted for %s", self.name, notice.delivery, refused)

    def _send(self, message: EmailMessage) -> dict[str, tuple[int, bytes]]:
        """One connection: (STARTTLS), (login), the message. The recipients refused while others were not."""
        timeout = self.config.timeout_s
        smtp = (smtplib.SMTP_SSL(self.host, self.port, timeout=timeout, context=tls_context(self.config)) if self.tls
                else smtplib.SMTP(self.host, self.port, timeout=timeout))
        with smtp:
            if self.config.starttls:
                smtp.starttls(context=tls_context(self.config))
            if self.config.username:
                smtp.login(self.config.username, self.password)
            return smtp.send_message(message)

    async def close(self) -> None:
        return None
