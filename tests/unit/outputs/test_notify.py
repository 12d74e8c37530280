"""Notifications against real receivers on 127.0.0.1: a webhook receiver (``http.server`` in a thread, plain
and TLS) and a mail server (aiosmtpd, plain and STARTTLS with a login). What reaches whom, once, signed;
what waits for a receiver that is away, and what is given up for good."""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import re
import ssl
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from dronewatch.bus import Message, subject
from dronewatch.bus.nats import NatsBus
from dronewatch.cli.serve import build_pipeline
from dronewatch.config import NotifyConfig, load_config
from dronewatch.errors import ConfigError
from dronewatch.model import Alert
from dronewatch.outputs.notify import NotifyOutput
from dronewatch.service.pipeline import Pipeline
from dronewatch.storage import Repository, open_database

NOW = 1_780_000_000.0
SECRET = "s3cret-for-the-station-hook"
DOCS = Path(__file__).resolve().parents[3] / "docs" / "notifications.md"
FAST = (0.05, 0.2)
"""Back-off for the tests: 0.05 s doubling to 0.2 s."""


def alert(alert_id: str = "A1", level: str = "critical", state: str = "open", t: float = NOW,
          eta_s: float | None = 35.0, kind: str = "zone_breach_predicted", zone: str | None = "compound") -> Alert:
    return Alert(t=t, id=alert_id, track="T12", level=level, kind=kind, state=state,  # type: ignore[arg-type]
                 reasons=("drone without Remote ID", f"predicted inside the zone in {eta_s} s"), zone=zone,
                 eta_s=eta_s)


# ---------------------------------------------------------------------- receivers
@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.body)  # type: ignore[no-any-return]


@dataclass
class Receiver:
    """A webhook receiver: keeps every request; answers each with the next of ``answers`` (status, headers),
    200 once they are used up."""

    port: int = 0
    answers: deque[tuple[int, dict[str, str]]] = field(default_factory=deque)
    context: ssl.SSLContext | None = None
    requests: list[Request] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status, headers = receiver.answers.popleft() if receiver.answers else (200, {})
                receiver.requests.append(Request(self.path, dict(self.headers.items()), body))
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        if self.context is not None:
            self._server.socket = self.context.wrap_socket(self._server.socket, server_side=True)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def url(self, path: str = "/hook") -> str:
        return f"{'https' if self.context else 'http'}://127.0.0.1:{self.port}{path}"

    def at(self, path: str) -> list[dict[str, Any]]:
        return [r.json for r in self.requests if r.path == path]


class Mailbox:
    """An aiosmtpd handler: keeps every message; ``nobody@`` does not exist (550); ``answers`` are given to
    DATA first (``451 ...``: try again later)."""

    def __init__(self, answers: Iterable[str] = ()) -> None:
        self.messages: list[tuple[list[str], EmailMessage]] = []
        self.answers = deque(answers)

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        if address.startswith("nobody@"):
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.answers:
            return self.answers.popleft()
        assert isinstance(envelope.content, bytes)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append((list(envelope.rcpt_tos), message))
        return "250 OK"

    def subjects(self) -> list[str]:
        return [str(m["Subject"]) for _, m in self.messages]


def mail_server(handler: Mailbox, port: int, **options: Any) -> Controller:
    controller = Controller(handler, hostname="127.0.0.1", port=port, **options)
    controller.start()
    return controller


def verify(request: Request, secret: str = SECRET) -> None:
    """The receiver's check, as docs/notifications.md shows it (the example there is the code run here)."""
    example = re.search(r"```python\n(.*?)```", DOCS.read_text(), re.S)
    assert example is not None
    namespace: dict[str, Any] = {}
    exec(example.group(1), namespace)
    headers = {k.lower(): v for k, v in request.headers.items()}
    assert namespace["verified"](secret.encode(), headers["x-dronewatch-timestamp"],
                                 headers["x-dronewatch-signature"], request.body, time.time())
    assert not namespace["verified"](b"another secret", headers["x-dronewatch-timestamp"],
                                     headers["x-dronewatch-signature"], request.body, time.time())
    assert not namespace["verified"](secret.encode(), headers["x-dronewatch-timestamp"],
                                     headers["x-dronewatch-signature"], request.body + b" ", time.time())


# ---------------------------------------------------------------------- the pipeline
async def until(condition: Callable[[], bool], timeout_s: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


async def with_outputs(outputs: dict[str, NotifyOutput], body: Callable[[Pipeline], Awaitable[None]],
                       pipeline: Pipeline | None = None) -> Pipeline:
    """A site's pipeline (no stages: the test plays the assessment) with the outputs attached."""
    if pipeline is None:
        pipeline = Pipeline("station", live=True, stages=())
        for name, output in outputs.items():
            pipeline.add_output(f"notify {name}", output)
    running = asyncio.create_task(pipeline.run())
    await until(lambda: all(o.listening.is_set() for o in outputs.values()), what="the outputs to listen")
    try:
        await body(pipeline)
    finally:
        pipeline.stop()
        await running
    return pipeline


async def publish(pipeline: Pipeline, *lines: Alert) -> None:
    await pipeline.bus.publish(Message(subject(pipeline.site_id, "alerts"), records=list(lines)))


def counts(pipeline: Pipeline, name: str) -> dict[str, int]:
    return dict(pipeline.counters[f"notify {name}"].counts)


def webhook(url: str, **options: Any) -> NotifyConfig:
    return NotifyConfig(name=options.pop("name", "hook"), url=url, secret=SECRET, **options)


def mail(port: int, **options: Any) -> NotifyConfig:
    return NotifyConfig(name=options.pop("name", "duty"), url=f"smtp://127.0.0.1:{port}",
                        mail_from="dronewatch@station.example",
                        mail_to=options.pop("mail_to", ("duty@station.example", "ops@station.example")), **options)


# ---------------------------------------------------------------------- tests
def test_a_critical_alert_reaches_a_webhook_signed_and_a_mailbox_once(free_port: Callable[..., int]) -> None:
    receiver, mailbox = Receiver().start(), Mailbox()
    controller = mail_server(mailbox, free_port())
    hook = NotifyOutput(webhook(receiver.url(), roles=("operator",), dashboard_url="https://dw.station.example/"),
                        backoff_s=FAST)
    duty = NotifyOutput(mail(controller.port, dashboard_url="https://dw.station.example/"), backoff_s=FAST)

    async def body(pipeline: Pipeline) -> None:
        await publish(pipeline, alert())
        # the countdown moves, an operator acknowledges, a warning opens: nothing for a critical-only destination
        await publish(pipeline, alert(t=NOW + 1, eta_s=30.0), alert(t=NOW + 5, eta_s=20.0))
        await publish(pipeline, alert(t=NOW + 6, eta_s=19.0, state="acknowledged"))
        await publish(pipeline, alert("A2", level="warning"))
        await publish(pipeline, alert("A3", kind="loiter", zone=None, eta_s=None))
        await until(lambda: len(receiver.requests) == 2 and len(mailbox.messages) == 2, what="two notices each")
        await until(lambda: counts(pipeline, "hook").get("sent") == 2 and counts(pipeline, "duty").get("sent") == 2,
                    what="the counters")

    try:
        pipeline = asyncio.run(with_outputs({"hook": hook, "duty": duty}, body))
    finally:
        receiver.stop()
        controller.stop()
    first = receiver.requests[0]
    verify(first)
    assert first.headers["X-Dronewatch-Delivery"] == "station.A1.critical.open"
    assert first.headers["Content-Type"] == "application/json"
    assert first.json == {
        "delivery": "station.A1.critical.open", "event": "opened", "site": "station", "alert": "A1",
        "level": "critical", "state": "open", "kind": "zone_breach_predicted", "zone": "compound", "track": "T12",
        "reasons": ["drone without Remote ID", "predicted inside the zone in 35.0 s"], "eta_s": 35.0, "t": NOW,
        "time": "2026-05-28T20:26:40Z", "roles": ["operator"], "link": "https://dw.station.example/"}
    assert [r.json["alert"] for r in receiver.requests] == ["A1", "A3"]
    assert mailbox.subjects() == ["[dronewatch CRITICAL] station: zone_breach_predicted compound, T12 in 35 s",
                                  "[dronewatch CRITICAL] station: loiter, T12"]
    recipients, message = mailbox.messages[0]
    assert recipients == ["duty@station.example", "ops@station.example"]
    assert (message["From"], message["To"]) == ("dronewatch@station.example",
                                                 "duty@station.example, ops@station.example")
    assert message["Message-ID"] == "<station.A1.critical.open@dronewatch.invalid>"
    assert message["Importance"] == "high"
    text = message.get_content().replace("\r\n", "\n")  # as it went over the wire
    assert "Alert A1 at station opened: critical zone_breach_predicted" in text
    assert "- drone without Remote ID\n" in text and "Predicted breach in 35 s" in text
    assert "Dashboard: https://dw.station.example/" in text
    for name in ("hook", "duty"):
        assert {k: v for k, v in counts(pipeline, name).items() if v} == {"notices": 2, "sent": 2}


def test_escalations_resolutions_and_kinds_go_where_they_are_wanted() -> None:
    receiver = Receiver().start()
    outputs = {"critical": NotifyOutput(webhook(receiver.url("/critical"), name="critical", resolved=True),
                                        backoff_s=FAST),
               "warnings": NotifyOutput(webhook(receiver.url("/warnings"), name="warnings", min_level="warning"),
                                        backoff_s=FAST),
               "loiter": NotifyOutput(webhook(receiver.url("/loiter"), name="loiter", min_level="info",
                                              kinds=("loiter",)), backoff_s=FAST)}

    async def body(pipeline: Pipeline) -> None:
        await publish(pipeline, alert(level="warning", eta_s=100.0))
        await publish(pipeline, alert(t=NOW + 40, eta_s=50.0))  # rises to critical
        await publish(pipeline, alert(t=NOW + 45, eta_s=40.0), alert(t=NOW + 46, eta_s=39.0, state="acknowledged"))
        await publish(pipeline, alert(t=NOW + 90, eta_s=0.0, state="resolved"))
        await publish(pipeline, alert("A2", level="warning", kind="loiter", zone=None, eta_s=None))
        await publish(pipeline, alert("A2", level="warning", kind="loiter", zone=None, eta_s=None, state="resolved"))
        await publish(pipeline, alert("A9", kind="loiter", zone=None, eta_s=None))  # last, for every destination
        await until(lambda: all(receiver.at(p) and receiver.at(p)[-1]["alert"] == "A9"
                                for p in ("/critical", "/warnings", "/loiter")), what="A9 everywhere")

    try:
        asyncio.run(with_outputs(outputs, body))
    finally:
        receiver.stop()

    def seen(path: str) -> list[tuple[str, str, str]]:
        return [(n["alert"], n["event"], n["level"]) for n in receiver.at(path)]

    assert seen("/critical") == [("A1", "escalated", "critical"), ("A1", "resolved", "critical"),
                                 ("A9", "opened", "critical")]
    assert seen("/warnings") == [("A1", "opened", "warning"), ("A1", "escalated", "critical"),
                                 ("A2", "opened", "warning"), ("A9", "opened", "critical")]
    assert seen("/loiter") == [("A2", "opened", "warning"), ("A9", "opened", "critical")]
    deliveries = [r.headers["X-Dronewatch-Delivery"] for r in receiver.requests if r.path == "/critical"]
    assert deliveries == ["station.A1.critical.open", "station.A1.critical.resolved", "station.A9.critical.open"]


def test_a_webhook_that_is_down_gets_the_notice_when_it_comes_back(free_port: Callable[..., int]) -> None:
    receiver = Receiver(port=free_port(), answers=deque([(503, {})]))  # back, but not ready at first
    hook = NotifyOutput(webhook(receiver.url()), backoff_s=FAST)

    async def body(pipeline: Pipeline) -> None:
        await publish(pipeline, alert())
        await until(lambda: counts(pipeline, "hook").get("retried", 0) >= 2, what="two failed attempts")
        assert counts(pipeline, "hook").get("sent", 0) == 0
        receiver.start()
        await until(lambda: counts(pipeline, "hook").get("sent") == 1, what="the notice delivered")

    try:
        pipeline = asyncio.run(with_outputs({"hook": hook}, body))
    finally:
        receiver.stop()
    assert len(receiver.requests) == 2  # the 503, then the delivery
    assert {r.headers["X-Dronewatch-Delivery"] for r in receiver.requests} == {"station.A1.critical.open"}
    for request in receiver.requests:
        verify(request)
    hook_counts = counts(pipeline, "hook")
    assert hook_counts["retried"] >= 3 and hook_counts["queued"] == 0 and hook_counts.get("failed", 0) == 0


def test_a_notice_not_yet_delivered_is_sent_after_a_restart_of_the_service(tmp_path: Path,
                                                                          free_port: Callable[..., int]) -> None:
    repository = Repository(open_database(f"sqlite:///{tmp_path / 'dw.db'}"))
    repository.ensure_site("station", "Border station", NOW)
    receiver = Receiver(port=free_port())

    def site(hook: NotifyOutput) -> Pipeline:
        pipeline = Pipeline("station", repository, live=True, stages=())
        pipeline.add_output("notify hook", hook)
        return pipeline

    async def down(pipeline: Pipeline) -> None:  # the receiver is away, then the service stops
        await publish(pipeline, alert())
        await until(lambda: counts(pipeline, "hook").get("retried", 0) >= 1, what="a failed attempt")

    first = NotifyOutput(webhook(receiver.url()), backoff_s=FAST)
    asyncio.run(with_outputs({"hook": first}, down, site(first)))
    assert [row["delivery"] for row in repository.kept_notices("hook")] == ["station.A1.critical.open"]

    async def back(pipeline: Pipeline) -> None:  # started again; the receiver is back
        receiver.start()
        await until(lambda: counts(pipeline, "hook").get("sent") == 1, what="the kept notice delivered")
        await publish(pipeline, alert(eta_s=30.0))  # the same alert, still open: nothing new to tell
        await asyncio.sleep(0.3)

    second = NotifyOutput(webhook(receiver.url()), backoff_s=FAST)
    try:
        pipeline = asyncio.run(with_outputs({"hook": second}, back, site(second)))
    finally:
        receiver.stop()
    assert [r.headers["X-Dronewatch-Delivery"] for r in receiver.requests] == ["station.A1.critical.open"]
    verify(receiver.requests[0])
    assert json.loads(receiver.requests[0].body)["eta_s"] == 35.0  # the notice as it was queued
    assert counts(pipeline, "hook")["restored"] == 1 and counts(pipeline, "hook").get("notices", 0) == 0
    assert repository.kept_notices("hook") == []


def test_an_outputs_worker_on_nats_tells_of_alerts_raised_while_it_was_down(
        tmp_path: Path, free_port: Callable[..., int],
        nats_server: Callable[..., AbstractContextManager[str]]) -> None:
    repository = Repository(open_database(f"sqlite:///{tmp_path / 'dw.db'}"))
    repository.ensure_site("station", "Border station", NOW)
    receiver = Receiver(port=free_port()).start()

    async def outputs_worker(url: str, body: Callable[[Pipeline], Awaitable[None]]) -> Pipeline:
        bus = await NatsBus.connect(url)
        hook = NotifyOutput(webhook(receiver.url()), backoff_s=FAST)
        pipeline = Pipeline("station", repository, bus, stages=(), durable=True, view=False)
        pipeline.add_output("notify hook", hook)
        try:
            return await with_outputs({"hook": hook}, body, pipeline)
        finally:
            await bus.close()

    async def assessment(url: str, *lines: Alert) -> None:
        """The assessment worker, raising alerts while the outputs worker is down."""
        bus = await NatsBus.connect(url)
        await bus.publish(Message(subject("station", "alerts"), records=list(lines)))
        await bus.close()

    async def first(pipeline: Pipeline) -> None:
        await publish(pipeline, alert("A1"))
        await until(lambda: counts(pipeline, "hook").get("sent") == 1, what="A1 delivered")

    async def second(pipeline: Pipeline) -> None:
        await until(lambda: counts(pipeline, "hook").get("sent") == 2, what="the alerts raised meanwhile")

    (tmp_path / "nats").mkdir()
    try:
        with nats_server(tmp_path / "nats") as url:
            asyncio.run(outputs_worker(url, first))
            asyncio.run(assessment(url, alert("A2", level="warning"), alert("A2"), alert("A3", level="critical",
                                                                                          kind="loiter")))
            pipeline = asyncio.run(outputs_worker(url, second))
    finally:
        receiver.stop()
    assert [r.headers["X-Dronewatch-Delivery"] for r in receiver.requests] == [
        "station.A1.critical.open", "station.A2.critical.open", "station.A3.critical.open"]
    assert counts(pipeline, "hook").get("notices") == 2  # A1 was not read again
    assert repository.kept_notices("hook") == []


def test_a_mail_server_that_is_down_gets_the_message_when_it_comes_back(free_port: Callable[..., int]) -> None:
    port = free_port()
    mailbox = Mailbox(answers=["451 4.3.0 try again later"])
    duty = NotifyOutput(mail(port), backoff_s=FAST)
    bounce = NotifyOutput(mail(port, name="bounce", mail_to=("nobody@station.example",)), backoff_s=FAST)
    controllers: list[Controller] = []

    async def body(pipeline: Pipeline) -> None:
        await publish(pipeline, alert())
        await until(lambda: counts(pipeline, "duty").get("retried", 0) >= 2, what="two failed attempts")
        controllers.append(await asyncio.to_thread(mail_server, mailbox, port))
        await until(lambda: counts(pipeline, "duty").get("sent") == 1, what="the message delivered")
        await until(lambda: counts(pipeline, "bounce").get("failed") == 1, what="the unknown mailbox refused")

    try:
        pipeline = asyncio.run(with_outputs({"duty": duty, "bounce": bounce}, body))
    finally:
        for controller in controllers:
            controller.stop()
    assert mailbox.subjects() == ["[dronewatch CRITICAL] station: zone_breach_predicted compound, T12 in 35 s"]
    assert counts(pipeline, "duty")["retried"] >= 3  # down twice, then 451 once
    assert counts(pipeline, "bounce").get("sent", 0) == 0 and counts(pipeline, "bounce")["queued"] == 0


def test_a_refusal_is_not_retried_and_a_429_is() -> None:
    receiver = Receiver(answers=deque([(429, {"Retry-After": "0"}), (200, {}), (400, {}), (200, {})])).start()
    hook = NotifyOutput(webhook(receiver.url()), backoff_s=FAST)

    async def body(pipeline: Pipeline) -> None:
        await publish(pipeline, alert("A1"), alert("A2"), alert("A3"))
        await until(lambda: len(receiver.requests) == 4 and counts(pipeline, "hook").get("sent") == 2,
                    what="four requests")
        await asyncio.sleep(0.3)  # time enough for a retry that must not come

    try:
        pipeline = asyncio.run(with_outputs({"hook": hook}, body))
    finally:
        receiver.stop()
    assert [r.json["alert"] for r in receiver.requests] == ["A1", "A1", "A2", "A3"]
    assert {k: v for k, v in counts(pipeline, "hook").items() if v} == {"notices": 3, "sent": 2, "retried": 1,
                                                                       "failed": 1}


def test_while_a_receiver_is_away_the_queue_keeps_the_newest_notices(free_port: Callable[..., int]) -> None:
    receiver = Receiver(port=free_port())
    hook = NotifyOutput(webhook(receiver.url(), max_queued=2), backoff_s=FAST)

    async def body(pipeline: Pipeline) -> None:
        await publish(pipeline, *(alert(f"A{n}") for n in range(1, 5)))
        await until(lambda: counts(pipeline, "hook").get("dropped") == 2, what="the oldest dropped")
        assert counts(pipeline, "hook")["notices"] == 4  # the reader went on: it never waits for the receiver
        receiver.start()
        await until(lambda: counts(pipeline, "hook").get("sent") == 2, what="the rest delivered")

    try:
        pipeline = asyncio.run(with_outputs({"hook": hook}, body))
    finally:
        receiver.stop()
    assert [r.json["alert"] for r in receiver.requests] == ["A3", "A4"]
    assert counts(pipeline, "hook")["queued"] == 0


def test_destinations_follow_their_sites(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    receiver = Receiver().start()
    site = tmp_path / "site.toml"
    site.write_text(f'[site]\nid = "station"\n'
                    f'[[notify]]\nname = "station-hook"\nurl = "{receiver.url("/station")}"\nsites = ["station"]\n'
                    f'secret_env = "DW_HOOK_SECRET"\n'
                    f'[[notify]]\nname = "north-hook"\nurl = "{receiver.url("/north")}"\nsites = ["north"]\n'
                    f'secret_env = "DW_HOOK_SECRET"\n'
                    f'[[notify]]\nname = "every-hook"\nurl = "{receiver.url("/every")}"\n'
                    f'secret_env = "DW_HOOK_SECRET"\n')
    monkeypatch.setenv("DW_HOOK_SECRET", SECRET)
    config = load_config(site)
    repository = Repository(open_database(f"sqlite:///{tmp_path / 'dw.db'}"))
    repository.ensure_site("station", "Border station", NOW)
    pipeline = build_pipeline(config, repository, parts=("outputs",))
    outputs = {name.removeprefix("notify "): output for name, output in pipeline._outputs
               if isinstance(output, NotifyOutput)}
    assert sorted(outputs) == ["every-hook", "station-hook"]

    async def body(pipeline: Pipeline) -> None:
        await publish(pipeline, alert())
        await until(lambda: len(receiver.requests) == 2, what="both destinations of the station")
        # the receiver has the request before the sender has its answer and counts it
        await until(lambda: counts(pipeline, "station-hook").get("sent") == 1, what="the delivery counted")

    try:
        asyncio.run(with_outputs(outputs, body, pipeline))
    finally:
        receiver.stop()
    assert sorted(r.path for r in receiver.requests) == ["/every", "/station"]
    for request in receiver.requests:
        verify(request)
    assert pipeline.stats()["notify station-hook"]["sent"] == 1


def test_tls_starttls_with_a_login_and_https_with_a_pinned_ca(tmp_path: Path, free_port: Callable[..., int],
                                                               certificate: Callable[..., Any]) -> None:
    ca_key, ca = certificate(tmp_path, "ca", None)
    certificate(tmp_path, "server", (ca_key, ca))
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(tmp_path / "server.pem", tmp_path / "server.key")

    def login(server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any) -> AuthResult:
        good = isinstance(data, LoginPassword) and (data.login, data.password) == (b"dw", b"pw")
        return AuthResult(success=good, handled=False)  # not handled: aiosmtpd answers 535 itself

    mailbox = Mailbox()
    controller = mail_server(mailbox, free_port(), tls_context=server_tls, require_starttls=True,
                             auth_required=True, authenticator=login)
    receiver = Receiver(context=server_tls).start()
    secure = dict(ca_file=str(tmp_path / "ca.pem"))
    outputs = {
        "duty": NotifyOutput(mail(controller.port, starttls=True, username="dw", password_env="DW_SMTP", **secure),
                             backoff_s=FAST, environ={"DW_SMTP": "pw"}),
        "wrong": NotifyOutput(mail(controller.port, name="wrong", starttls=True, username="dw", password="no",
                                   **secure), backoff_s=FAST),
        "hook": NotifyOutput(webhook(receiver.url(), **secure), backoff_s=FAST)}

    async def body(pipeline: Pipeline) -> None:
        await publish(pipeline, alert())
        await until(lambda: all(counts(pipeline, n).get("sent") == 1 for n in ("duty", "hook"))
                    and counts(pipeline, "wrong").get("failed") == 1, what="two delivered, one login refused")

    try:
        pipeline = asyncio.run(with_outputs(outputs, body))
    finally:
        controller.stop()
        receiver.stop()
    assert len(mailbox.messages) == 1 and len(receiver.requests) == 1
    assert counts(pipeline, "wrong").get("retried", 0) == 0  # 535: a wrong password is not tried again


def test_back_off_doubles_up_to_its_longest() -> None:
    output = NotifyOutput(webhook("https://hooks.example/dw"))
    assert [output.delay_s(n) for n in range(9)] == [1, 2, 4, 8, 16, 32, 60, 60, 60]


def test_notify_destinations_are_read_with_overrides_and_secrets_from_the_environment(tmp_path: Path) -> None:
    site = tmp_path / "site.toml"
    site.write_text('[[notify]]\nurl = "https://hooks.example/dw/T0K3N"\nsecret_env = "DW_HOOK"\n'
                    '[[notify]]\nname = "duty"\nurl = "smtps://mail.example"\nmail_from = "dw@station.example"\n'
                    'mail_to = ["duty@station.example"]\nusername = "dw"\npassword_env = "DW_MAIL"\n'
                    'roles = ["operator"]\n')
    config = load_config(site, {"DW_HOOK": SECRET, "DW_MAIL": "pw", "DRONEWATCH_NOTIFY__0__MIN_LEVEL": "warning",
                                "DRONEWATCH_NOTIFY__1__KINDS": "zone_entry,zone_breach_predicted"})
    hook, duty = config.notify
    assert (hook.label, hook.min_level, hook.resolved) == ("https://hooks.example", "warning", False)  # no token
    assert (duty.label, duty.min_level, duty.kinds) == ("duty", "critical", ("zone_entry", "zone_breach_predicted"))
    assert NotifyOutput(replace(duty), environ={"DW_MAIL": "pw"})._password == "pw"
    with pytest.raises(ConfigError, match="environment variable DW_MAIL is not set"):
        NotifyOutput(duty, environ={})


HOOK = '[[notify]]\nurl = "https://hooks.example/dw"\nsecret = "0123456789abcdef"\n'
MAIL = '[[notify]]\nurl = "smtp://mail.example:25"\nmail_from = "dw@station.example"\nmail_to = ["a@b.example"]\n'


@pytest.mark.parametrize(("toml", "environ", "reason"), [
    ('[notify]\nurl = "https://a"\n', {}, r"notify must be an array of tables: \[\[notify\]\]"),
    ('[[notify]]\nurl = "ftp://a.example/x"\nsecret = "0123456789abcdef"\n', {},
     r"site.toml: notify\[0\].url: expected https://..., http://..., smtp://HOST\[:PORT\] .* got 'ftp://a.example/x'"),
    ('[[notify]]\nurl = "https:///T0K3N"\nsecret = "0123456789abcdef"\n', {},
     r"notify\[0\].url: .*got a URL without a host"),
    ('[[notify]]\nurl = "smtp://mail.example:99999"\n', {}, r"notify\[0\].url: the port is not a number"),
    ('[[notify]]\nurl = "https://hooks.example/dw"\n', {}, r"notify\[0\].secret: a webhook signs its notices"),
    ('[[notify]]\nurl = "https://hooks.example/dw"\nsecret = "short"\n', {}, r"notify\[0\].secret: at least 16"),
    ('[[notify]]\nurl = "https://hooks.example/dw"\nsecret_env = "DW_NOWHERE"\n', {},
     r"notify\[0\].secret_env: the environment variable DW_NOWHERE is not set"),
    (HOOK + 'mail_to = ["a@b.example"]\n', {}, r"notify\[0\]: mail_to are for smtp:// and smtps:// destinations"),
    (HOOK + 'min_level = "severe"\n', {}, r"notify\[0\].min_level: expected info, warning, critical, got 'severe'"),
    (HOOK + 'roles = ["operator", "pilot"]\n', {}, r"notify\[0\].roles: unknown role\(s\) pilot"),
    (HOOK + 'kinds = ["Zone Entry"]\n', {}, r"notify\[0\].kinds: 'Zone Entry' is not an alert kind"),
    (HOOK + "timeout_s = 0\n", {}, r"notify\[0\]: timeout_s must be positive"),
    (HOOK + 'dashboard_url = "dw.example"\n', {}, r"notify\[0\].dashboard_url: expected an https://"),
    (HOOK + 'ca_file = "/nonexistent/ca.pem"\n', {}, r"notify\[0\].ca_file: cannot read"),
    (HOOK + HOOK, {}, r"notify\[1\].name: 'https://hooks.example' names another destination too"),
    (HOOK + 'sercet = "x"\n', {}, r"notify\[0\].sercet: unknown key"),
    ('[[notify]]\nurl = "smtp://mail.example"\nmail_from = "dw@station.example"\n', {},
     r"notify\[0\].mail_to: a mail destination needs at least one recipient"),
    (MAIL.replace("a@b.example", "duty"), {}, r"notify\[0\].mail_to: 'duty' is not a mail address"),
    (MAIL + 'secret = "0123456789abcdef"\n', {}, r"notify\[0\].secret: signing is for webhook destinations"),
    (MAIL + 'username = "dw"\npassword = "pw"\n', {}, r"notify\[0\].username: a login over smtp:// without starttls"),
    (MAIL + 'username = "dw"\nstarttls = true\n', {}, r"notify\[0\]: a login needs both username and password"),
    (MAIL + 'username = "dw"\nstarttls = true\npassword_env = "DW_NOWHERE"\n', {},
     r"notify\[0\].password_env: the environment variable DW_NOWHERE is not set"),
    (MAIL.replace("smtp://", "smtps://") + "starttls = true\n", {}, r"notify\[0\].starttls: smtps:// is TLS"),
    (MAIL.replace("smtp://", "smtp://dw:pw@"), {}, r"notify\[0\].url: the login goes in username and password"),
    (HOOK, {"DRONEWATCH_NOTIFY__0__MIN_LEVEL": "loud"}, r"notify\[0\].min_level: expected"),
    (HOOK, {"DRONEWATCH_NOTIFY__0__RESOLVED": "maybe"}, r"notify\[0\].resolved: expected true or false"),
])
def test_bad_notify_destinations_name_entry_and_key(tmp_path: Path, toml: str, environ: dict[str, str],
                                                    reason: str) -> None:
    site = tmp_path / "site.toml"
    site.write_text(toml)
    with pytest.raises(ConfigError, match=reason):
        load_config(site, environ)
