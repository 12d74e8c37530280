"""Real third-party TAK peers for end-to-end tests: taky and FreeTAKServer as TAK servers, a pytak
client as the receiving TAK device, and private network namespaces for UDP multicast.

dronewatch's Cursor-on-Target output is only proven when software we did not write accepts it, so
these helpers start the real thing (PyPI packages, installed by ``python3 dev.py test``; nothing is
downloaded at test time) on 127.0.0.1 and stop it again, process group and all, even when a test
fails. Research behind every choice: ``shared/formats/cot.md`` sections 6, 8 and 9.

| helper | peer | where it runs |
| --- | --- | --- |
| ``taky_server(root, tls=...)`` | taky 0.10 (MIT), the main venv | 127.0.0.1, a free port |
| ``freetakserver(root)`` | FreeTAKServer 2.2.1 (EPL-2.0), ``.venv-fts`` | its own network + mount namespace |
| ``PytakReceiver(url)`` | pytak 7.6.1 (Apache-2.0) client in a thread | the test process (or a namespace) |
| ``multicast_namespace()`` | a network namespace with multicast on ``lo`` | for 239.2.3.1:6969 mesh traffic |

Quick use::

    with taky_server(tmp_path) as server, PytakReceiver(server.url) as rx:
        sock = socket.create_connection((server.host, server.port))
        sock.sendall(sa_event("dronewatch.test", "DRONEWATCH", now=datetime.now(UTC)))
        sock.sendall(refresh_times(SAMPLE.read_bytes(), datetime.now(UTC)))
        got = rx.wait_for(lambda r: r.uid == "dronewatch.site1.track.42", timeout_s=1.0)
        assert schema_errors(got.event) == []

How tests reach FreeTAKServer (the choice the brief asked for). FTS binds its HTTP(S) API on
0.0.0.0:8080/8443 whatever address it is given, so it runs in a network namespace of its own made
with ``ip netns add`` (a unique name, deleted afterwards), with its CoT ports on the namespace's
127.0.0.1. Tests reach 8087/8089 through a **byte-for-byte TCP forwarder**: a thread of the test
process that has joined the namespace with ``setns(CLONE_NEWNET)`` accepts on 127.0.0.1:<free
port> sockets created in the test's own namespace and connects each one to 127.0.0.1:8087/8089
inside. Why this and not the alternatives:

- the code under test (dronewatch's TAK output, the pytak receiver) connects to a plain
  ``tcp://127.0.0.1:PORT`` / ``tls://...`` exactly as it would to a partner's server: no
  namespace-aware code in dronewatch, per-event arrival stamps in-process, no JSON round trip;
- a veth pair would need addresses outside loopback (private ranges, which this workplace flags)
  and interfaces and routes in the shared root namespace, where parallel test runs and other
  sessions collide; the forwarder uses only 127.0.0.1 and a namespace name;
- running each client as a subprocess in the namespace (``Namespace.run_python`` exists for that)
  costs an interpreter start per client and only reports after the fact;
- TLS is not terminated: the forwarder copies ciphertext, so the client-certificate and CA-pinning
  checks are end to end with FTS. It adds one in-process loopback hop (well under a millisecond).

FreeTAKServer also keeps state in its own site-packages (emergencies, connections, type mappings,
logs) and in ``/opt/fts`` (databases, generated certificates). Its start command runs in a private
mount namespace with a fresh scratch directory bind-mounted over ``/opt`` and an **overlayfs over
site-packages** whose upper layer is scratch too: every write of a run lands in the test's
directory, ``.venv-fts`` is never modified and nothing carries over to the next run or to a
parallel one.

Peer quirks the tests rely on (checked on this machine):

- pytak's stream reader splits on ``</event>`` (XML only); on EOF it spins (``readuntil`` raises,
  the worker loops at once), so the receiver watches for EOF itself and stops.
- pytak with ``TAK_PROTO=1`` passes a datagram through ``takproto.parse_proto``, which decodes mesh
  protobuf and XML that starts with ``<?xml`` and silently drops anything else (XML without the
  declaration); on a stream it would drop servers' relays for the same reason, so use
  ``tak_proto=0`` for tcp/tls.
- pytak sends a ``t-x-d-d`` "takPing" hello as its first event unless ``PYTAK_NO_HELLO`` is set
  (any non-empty value, even "0"). A TAK server takes a client's first event as its identity, so the
  receiver sets it and sends a proper SA (``a-f-G-U-C`` with ``<contact callsign>``) instead.
- FreeTAKServer does not relay a client's first (identity) event; it answers with a GeoChat
  welcome (``b-t-f``, ``__chat id=<client uid>``) once the client is registered
  (``FtsServer.wait_registered``). It rewrites what it relays (see ``FTS_REWRITES``).
- taky registers a client at accept (no welcome), forwards everything to everyone but the sender,
  replays persisted events to new clients and re-serialises events without the XML declaration.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import datetime as dt
import functools
import ipaddress
import json
import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from configparser import ConfigParser
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from lxml import etree

with warnings.catch_warnings():
    # pytak warns at import that aiohttp (for its Marti/WebSocket transports only) is missing
    warnings.filterwarnings("ignore", message=".*aiohttp.*", category=UserWarning)
    import pytak
    from pytak.classes import _takmsg2xml

#: pytak's own TakMessage -> CoT XML rebuild (private in pytak 7.6.1; what its WebSocket and MQTT
#: receivers hand to applications), for checking what a protobuf receiver makes of our events.
takmsg_to_xml: Callable[[Any], bytes | None] = _takmsg2xml

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
COT_SCHEMA = REPO / "tests" / "data" / "interop" / "cot" / "cot-event-with-track.xsd"
FTS_VENV = REPO / ".venv-fts"
FTS_PYTHON = FTS_VENV / "bin" / "python"
FTS_CERTS = ("Client.pem", "Client.key", "ca.pem")
#: What FreeTAKServer 2.2.1 did to what it relayed here (tests assert around it, not on it).
FTS_REWRITES = (
    "no XML declaration; attributes sorted, detail children reordered, <point> last, <x/> written <x></x>",
    "adds <marti><dest/></marti> to <detail>, and <usericon/> to tracks",
    "drops <archive/>",
    "an attribute-less <remarks>text</remarks> becomes <detail remarks='text'> (with source=... it survives)",
    "b-a-o-tbl with uid '...-9-1-1': remarks text replaced by 'CALL 911 NOW' (source lost), emergency/@text added",
    "b-a-o-can: emergency/@text added",
    "the client's first event (its identity SA) is not relayed; a stale event is dropped",
)

MULTICAST_GROUP = "239.2.3.1"
MULTICAST_PORT = 6969
_CLONE_NEWNET = 0x40000000
_T = TypeVar("_T")
_XML_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=False)


class HarnessError(RuntimeError):
    """A peer could not be started or reached; the message says which and shows its log."""


# --------------------------------------------------------------------------------------------
# CoT helpers: what a test sender needs around the committed samples


def cot_time(moment: dt.datetime) -> str:
    """``xs:dateTime`` in UTC with milliseconds and ``Z``, as ATAK writes it."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def refresh_times(xml: bytes, now: dt.datetime, *, stale_s: float = 60.0) -> bytes:
    """The event with ``time``/``start`` set to ``now`` and ``stale`` to ``now + stale_s``; the rest
    (XML declaration included) byte for byte. Samples carry fixed past times, and FTS silently drops
    an event whose stale time has passed."""
    start = xml.index(b"<event")
    end = xml.index(b">", start)
    tag = xml[start:end]
    stale = now + dt.timedelta(seconds=stale_s)
    for name, moment in ((b"time", now), (b"start", now), (b"stale", stale)):
        tag, count = re.subn(rb'(\s' + name + rb'=")[^"]*(")', rb"\g<1>" + cot_time(moment).encode() + rb"\g<2>", tag)
        if count != 1:
            raise ValueError(f"<event> start tag has {count} {name.decode()} attributes, expected 1")
    return xml[:start] + tag + xml[end:]


def sa_event(uid: str, callsign: str, *, now: dt.datetime, stale_s: float = 300.0,
             lat: float = 51.5, lon: float = -0.14) -> bytes:
    """A client's situational-awareness event (friendly ground unit with a callsign), with the XML
    declaration: TAK servers take a client's first event as its identity, so send this first."""
    stale = now + dt.timedelta(seconds=stale_s)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<event version="2.0" uid="{uid}" type="a-f-G-U-C" how="h-g-i-g-o" time="{cot_time(now)}" '
        f'start="{cot_time(now)}" stale="{cot_time(stale)}">'
        f'<point lat="{lat:.6f}" lon="{lon:.6f}" hae="10.0" ce="10.0" le="10.0"/>'
        f'<detail><contact callsign="{callsign}" endpoint="*:-1:stcp"/>'
        '<__group name="Cyan" role="Team Member"/></detail></event>'
    ).encode()


@functools.lru_cache(maxsize=1)
def cot_schema() -> etree.XMLSchema:
    """The MITRE base-event schema with the track sub-schema (lax ``<detail>`` children checked)."""
    return etree.XMLSchema(etree.parse(str(COT_SCHEMA)))


def schema_errors(event: etree._Element | None) -> list[str]:
    """Schema violations of one ``<event>`` (empty when valid); a missing event is one error."""
    if event is None:
        return ["no <event> element"]
    schema = cot_schema()
    if schema.validate(event):
        return []
    return [f"line {error.line}: {error.message}" for error in schema.error_log]


# --------------------------------------------------------------------------------------------
# Network namespaces


def _require_root_and_ip() -> None:
    if os.geteuid() != 0:
        raise HarnessError("network namespaces need root (CI and the dev machines run as root)")
    if shutil.which("ip") is None:
        raise HarnessError("'ip' (Debian iproute2) is missing: run python3 dev.py test, which installs it")


def _ip(*args: str) -> None:
    completed = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if completed.returncode:
        raise HarnessError(f"ip {' '.join(args)} failed ({completed.returncode}): {completed.stderr.strip()}")


_libc = ctypes.CDLL(None, use_errno=True)


@dataclass(frozen=True, slots=True)
class Namespace:
    """A named network namespace (``ip netns``) made for one test run."""

    name: str

    @property
    def path(self) -> Path:
        return Path("/run/netns") / self.name

    def enter_current_thread(self) -> None:
        """Move the calling thread (only it: ``setns`` is per thread) into this namespace. Sockets
        keep the namespace they were created in, so sockets made here work from any thread."""
        fd = os.open(self.path, os.O_RDONLY)
        try:
            if _libc.setns(fd, _CLONE_NEWNET) != 0:
                code = ctypes.get_errno()
                raise OSError(code, f"setns({self.path}): {os.strerror(code)}")
        finally:
            os.close(fd)

    def call(self, function: Callable[..., _T], *args: Any) -> _T:
        """``function(*args)`` in a short-lived thread inside the namespace; its result or exception.
        Use it to create sockets there (e.g. a multicast sender)."""
        outcome: dict[str, Any] = {}

        def body() -> None:
            try:
                self.enter_current_thread()
                outcome["value"] = function(*args)
            except BaseException as error:
                outcome["error"] = error

        thread = threading.Thread(target=body, name=f"netns-{self.name}")
        thread.start()
        thread.join()
        if "error" in outcome:
            raise outcome["error"]
        return outcome["value"]  # type: ignore[no-any-return]

    def run_python(self, code: str, *args: str, timeout_s: float = 30.0, env: dict[str, str] | None = None,
                   check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a Python snippet with the test interpreter (the main venv) inside the namespace:
        ``ip netns exec NAME python -c CODE ARGS...``. ``tests/integration`` is on ``PYTHONPATH``
        so the snippet can ``import tak_peers``. With ``check``, a non-zero exit raises with the
        snippet's output."""
        environment = {**os.environ, **(env or {})}
        environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), environment.get("PYTHONPATH")]))
        completed = subprocess.run(
            ["ip", "netns", "exec", self.name, sys.executable, "-c", code, *args],
            capture_output=True, text=True, timeout=timeout_s, env=environment, cwd=REPO, check=False,
        )
        if check and completed.returncode:
            raise HarnessError(
                f"python in namespace {self.name} exited {completed.returncode}\n"
                f"--- stdout\n{completed.stdout[-4000:]}\n--- stderr\n{completed.stderr[-4000:]}"
            )
        return completed

    def run_python_json(self, code: str, *args: str, timeout_s: float = 30.0,
                        env: dict[str, str] | None = None) -> Any:
        """``run_python`` for a snippet that prints one JSON document as its last stdout line."""
        completed = self.run_python(code, *args, timeout_s=timeout_s, env=env)
        lines = completed.stdout.strip().splitlines()
        if not lines:
            raise HarnessError(f"snippet printed nothing; stderr:\n{completed.stderr[-4000:]}")
        return json.loads(lines[-1])


def _kill_namespace_processes(name: str) -> None:
    """SIGKILL whatever still runs in the namespace: it is ours alone (a unique name), and a process
    left in it would keep it (and its ports) alive after ``ip netns del``."""
    listing = subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True, check=False)
    for word in listing.stdout.split():
        pid = int(word)
        if pid != os.getpid():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


_NAMESPACE_NAME = re.compile(r"^(dw|dwmc|dwfts)-(\d+)-[0-9a-f]{6}$")


def _sweep_stale_namespaces() -> None:
    """Delete namespaces of ours whose test process is gone (killed before its ``finally`` ran),
    with whatever still runs in them (a FreeTAKServer, say). Another live run's are left alone."""
    listing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False)
    for line in listing.stdout.splitlines():
        name = line.split(" ", 1)[0]
        match = _NAMESPACE_NAME.match(name)
        if match is None or Path(f"/proc/{match.group(2)}").exists():
            continue
        _kill_namespace_processes(name)
        subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)


@contextlib.contextmanager
def network_namespace(prefix: str = "dw") -> Iterator[Namespace]:
    """A fresh network namespace with ``lo`` up, deleted (and emptied of processes) afterwards.
    Its name carries the test process id, so a later run can clean up after a killed one."""
    _require_root_and_ip()
    _sweep_stale_namespaces()
    namespace = Namespace(f"{prefix}-{os.getpid()}-{secrets.token_hex(3)}")
    _ip("netns", "add", namespace.name)
    try:
        _ip("-n", namespace.name, "link", "set", "lo", "up")
        yield namespace
    finally:
        _kill_namespace_processes(namespace.name)
        _ip("netns", "del", namespace.name)


@contextlib.contextmanager
def multicast_namespace() -> Iterator[Namespace]:
    """A namespace where 239.2.3.1:6969 mesh traffic stays on ``lo``: multicast on, and a route for
    224.0.0.0/4 on ``lo`` (there is no other interface), so a sender and a pytak receiver that both
    use 127.0.0.1 as their multicast interface meet, and nothing reaches a real network."""
    with network_namespace("dwmc") as namespace:
        _ip("-n", namespace.name, "link", "set", "lo", "multicast", "on")
        _ip("-n", namespace.name, "route", "add", "224.0.0.0/4", "dev", "lo")
        yield namespace


def multicast_sender(local_addr: str = "127.0.0.1", ttl: int = 1) -> socket.socket:
    """A UDP socket that sends multicast out of ``local_addr`` (call it through ``Namespace.call``)."""
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sender.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, ttl)
    sender.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(local_addr))
    sender.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
    return sender


# --------------------------------------------------------------------------------------------
# Servers


@dataclass(frozen=True, slots=True)
class TakServer:
    """Where a TAK server's CoT stream listens, as the test process reaches it.

    ``url`` is ``tcp://HOST:PORT`` or ``tls://HOST:PORT``; for TLS, ``ca_path`` is the CA to pin (the
    only one trusted), ``cert_path``/``key_path`` the client certificate, and ``check_hostname``
    whether the server certificate names ``host`` (FTS's ``CN=server`` has no SAN)."""

    host: str
    port: int
    url: str
    log_path: Path
    ca_path: Path | None = None
    cert_path: Path | None = None
    key_path: Path | None = None
    check_hostname: bool = True

    @property
    def tls(self) -> bool:
        return self.url.startswith("tls://")

    def ssl_context(self) -> ssl.SSLContext:
        """A client context that trusts only ``ca_path`` and presents the client certificate."""
        if not (self.tls and self.ca_path and self.cert_path and self.key_path):
            raise HarnessError(f"{self.url} is not a TLS server with client credentials")
        context = ssl.create_default_context(cafile=str(self.ca_path))  # cafile given: no system CAs
        # FTS signs a server certificate with no extensions at all; Python >= 3.13 would refuse it
        # under VERIFY_X509_STRICT. The chain to the pinned CA is still verified.
        context.verify_flags &= ~ssl.VERIFY_X509_STRICT
        context.check_hostname = self.check_hostname
        context.load_cert_chain(str(self.cert_path), str(self.key_path))
        return context

    def pytak_config(self) -> dict[str, str]:
        """pytak settings for this server's TLS: client cert/key, the pinned CA, hostname check."""
        if not self.tls:
            return {}
        assert self.ca_path and self.cert_path and self.key_path
        config = {
            "PYTAK_TLS_CLIENT_CERT": str(self.cert_path),
            "PYTAK_TLS_CLIENT_KEY": str(self.key_path),
            "PYTAK_TLS_CLIENT_CAFILE": str(self.ca_path),
        }
        if self.check_hostname:
            config["PYTAK_TLS_SERVER_EXPECTED_HOSTNAME"] = self.host
        else:
            config["PYTAK_TLS_DONT_CHECK_HOSTNAME"] = "1"
        return config

    def connect(self, timeout_s: float = 5.0) -> socket.socket:
        """A blocking client socket to this server (TLS handshake done, if TLS)."""
        raw = socket.create_connection((self.host, self.port), timeout=timeout_s)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if not self.tls:
            return raw
        try:
            return self.ssl_context().wrap_socket(raw, server_hostname=self.host if self.check_hostname else None)
        except BaseException:
            raw.close()
            raise


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _log_tail(path: Path, limit: int = 6000) -> str:
    try:
        return path.read_text(errors="replace")[-limit:]
    except OSError as error:
        return f"(no log: {error})"


def _stop_group(process: subprocess.Popen[bytes], grace_s: float = 10.0) -> None:
    """SIGTERM the process group, wait, then SIGKILL it: the peers fork workers."""
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(wait_s)
        except subprocess.TimeoutExpired:
            continue
        # the leader is gone; members of its group may linger a moment
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        return


@dataclass(frozen=True, slots=True)
class Pki:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, PEM files."""

    ca_path: Path
    ca_key_path: Path
    server_cert_path: Path
    server_key_path: Path
    client_cert_path: Path
    client_key_path: Path


def make_test_pki(directory: Path, *, server_ip: str = "127.0.0.1") -> Pki:
    """Generate a throwaway PKI with ``cryptography`` (EC P-256: instant): the server certificate has
    ``server_ip`` as a SAN so hostname checking can stay on; the client certificate is for
    ``clientAuth``. Valid from an hour ago for a day."""
    directory.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)

    def name(common_name: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "dronewatch tests"),
                          x509.NameAttribute(NameOID.COMMON_NAME, common_name)])

    def write(stem: str, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate) -> tuple[Path, Path]:
        cert_path, key_path = directory / f"{stem}.pem", directory / f"{stem}.key"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        key_path.chmod(0o600)
        return cert_path, key_path

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder().subject_name(name("dronewatch test CA")).issuer_name(name("dronewatch test CA"))
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                     crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_path, ca_key_path = write("ca", ca_key, ca_cert)

    def leaf(common_name: str, usage: x509.ObjectIdentifier, san: list[x509.GeneralName] | None
             ) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder().subject_name(name(common_name)).issuer_name(ca_cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        )
        if san:
            builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
        return key, builder.sign(ca_key, hashes.SHA256())

    server_key, server_cert = leaf("taky test server", ExtendedKeyUsageOID.SERVER_AUTH,
                                   [x509.IPAddress(ipaddress.ip_address(server_ip)), x509.DNSName("localhost")])
    server_cert_path, server_key_path = write("server", server_key, server_cert)
    client_key, client_cert = leaf("dronewatch-test-client", ExtendedKeyUsageOID.CLIENT_AUTH, None)
    client_cert_path, client_key_path = write("client", client_key, client_cert)
    return Pki(ca_path, ca_key_path, server_cert_path, server_key_path, client_cert_path, client_key_path)


def _wait_listening(connect: Callable[[], socket.socket], process: subprocess.Popen[bytes], what: str,
                    log_path: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    last: BaseException | None = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise HarnessError(f"{what} exited with {process.returncode} while starting; log:\n{_log_tail(log_path)}")
        try:
            connect().close()
            return
        except OSError as error:
            last = error
            time.sleep(0.1)
    raise HarnessError(f"{what} did not accept connections within {timeout_s:.0f} s ({last!r}); "
                       f"log:\n{_log_tail(log_path)}")


# taky 0.10's __init__ does ``from pkg_resources import get_distribution`` for its version string;
# pkg_resources is gone from the setuptools that grpcio-tools pulls into the venv. Start taky's own
# entry point (``taky.cot.__main__``) with a stand-in for that one lookup when it is missing.
_TAKY_LAUNCHER = """
import importlib.metadata, importlib.util, runpy, sys, types
if importlib.util.find_spec("pkg_resources") is None:
    shim = types.ModuleType("pkg_resources")
    class DistributionNotFound(Exception):
        pass
    def get_distribution(name):
        try:
            return types.SimpleNamespace(version=importlib.metadata.version(name))
        except importlib.metadata.PackageNotFoundError as error:
            raise DistributionNotFound(name) from error
    shim.DistributionNotFound, shim.get_distribution = DistributionNotFound, get_distribution
    sys.modules["pkg_resources"] = shim
sys.argv[0] = "taky"
runpy.run_module("taky.cot", run_name="__main__", alter_sys=True)
"""


@contextlib.contextmanager
def taky_server(root: Path, *, tls: bool = False, startup_timeout_s: float = 20.0) -> Iterator[TakServer]:
    """taky 0.10 (its ``taky`` entry point, from the test interpreter's venv) on 127.0.0.1 and a free
    port, configured by ``root/taky.conf`` (state, COT logs and ``taky.log`` under ``root``).

    With ``tls``, taky requires a client certificate: a fresh PKI is generated in ``root/pki`` and
    the yielded server carries the CA to pin and the client certificate/key; the server certificate
    names 127.0.0.1 so hostname checking stays on. Yields once a client can connect (for TLS, once a
    full handshake with the client certificate succeeds); the process group is stopped afterwards."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "cot-log").mkdir(exist_ok=True)
    pki = make_test_pki(root / "pki") if tls else None
    log_path = root / "taky.log"
    for attempt in range(3):  # the free port can be taken between probe and bind: retry with another
        port = _free_port()
        config = ConfigParser(interpolation=None)
        config["taky"] = {"hostname": "127.0.0.1", "node_id": "dronewatch-test", "bind_ip": "127.0.0.1",
                          "root_dir": str(root)}
        config["cot_server"] = {"port": str(port), "log_cot": str(root / "cot-log")}
        config["dp_server"] = {"upload_path": str(root / "dp-user")}
        config["ssl"] = {"enabled": "true" if pki else "false"}
        if pki:
            config["ssl"].update({"client_cert_required": "true", "ca": str(pki.ca_path),
                                  "cert": str(pki.server_cert_path), "key": str(pki.server_key_path),
                                  "cert_db": str(root / "pki" / "cert-db.txt")})
        config_path = root / "taky.conf"
        with config_path.open("w") as handle:
            config.write(handle)
        server = TakServer(
            host="127.0.0.1", port=port, url=f"{'tls' if pki else 'tcp'}://127.0.0.1:{port}", log_path=log_path,
            ca_path=pki.ca_path if pki else None, cert_path=pki.client_cert_path if pki else None,
            key_path=pki.client_key_path if pki else None,
        )
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-c", _TAKY_LAUNCHER, "-c", str(config_path), "-l", "info"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=root, start_new_session=True,
            )
        try:
            try:
                _wait_listening(server.connect, process, "taky", log_path, startup_timeout_s)
            except HarnessError:
                if attempt < 2 and process.poll() is not None and "Address already in use" in _log_tail(log_path):
                    continue
                raise
            yield server
            return
        finally:
            _stop_group(process)


# --------------------------------------------------------------------------------------------
# TCP forwarder into a namespace (see the module docstring for why)


class _Forwarder:
    """Copies TCP streams between 127.0.0.1 ports of the test's namespace and ports inside ``netns``."""

    def __init__(self, netns: Namespace, target_ports: tuple[int, ...]) -> None:
        self.netns = netns
        self.listeners: dict[int, socket.socket] = {}
        for target in target_ports:  # created here, in the caller's (root) namespace
            listener = socket.socket()
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(("127.0.0.1", 0))
            listener.listen(64)
            listener.setblocking(False)
            self.listeners[target] = listener
        self.ports = {target: int(s.getsockname()[1]) for target, s in self.listeners.items()}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name=f"forwarder-{netns.name}", daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        self._ready.wait(10)
        if self._error is not None:
            raise HarnessError(f"forwarder into {self.netns.name} failed: {self._error!r}") from self._error
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            with contextlib.suppress(RuntimeError):  # loop already closed
                self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)
        for listener in self.listeners.values():
            listener.close()

    def _main(self) -> None:
        try:
            self.netns.enter_current_thread()  # outgoing sockets made in this thread live in netns
            asyncio.run(self._serve())
        except BaseException as error:
            self._error = error
        finally:
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        writers: set[asyncio.StreamWriter] = set()
        handlers: set[asyncio.Task[Any]] = set()

        async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                       pair: set[asyncio.StreamWriter]) -> None:
            try:
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
                if writer.can_write_eof():
                    writer.write_eof()  # pass the half-close on (a TLS close_notify is just data here)
            except (ConnectionError, OSError):
                for each in pair:  # a reset on one side ends the other direction too
                    each.close()

        def handler_for(target: int) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Any]:
            async def handle(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
                task = asyncio.current_task()
                assert task is not None
                handlers.add(task)
                task.add_done_callback(handlers.discard)
                inner = socket.socket()  # this thread is in netns
                inner.setblocking(False)
                try:
                    await asyncio.get_running_loop().sock_connect(inner, ("127.0.0.1", target))
                    server_reader, server_writer = await asyncio.open_connection(sock=inner)
                except OSError:
                    inner.close()
                    client_writer.close()
                    return
                pair = {client_writer, server_writer}
                writers.update(pair)
                try:
                    await asyncio.gather(pipe(client_reader, server_writer, pair),
                                         pipe(server_reader, client_writer, pair))
                finally:
                    for each in pair:
                        each.close()
                    writers.difference_update(pair)
            return handle

        servers = [await asyncio.start_server(handler_for(target), sock=listener)
                   for target, listener in self.listeners.items()]
        self._ready.set()
        await self._stop.wait()
        for server in servers:
            server.close()
        for writer in list(writers):
            writer.close()  # the pipes read EOF and the handlers return: none is left to cancel
        if handlers:
            await asyncio.wait(set(handlers), timeout=5)


# --------------------------------------------------------------------------------------------
# FreeTAKServer


@dataclass(frozen=True, slots=True)
class FtsServer:
    """A running FreeTAKServer 2.2.1. ``tcp`` (its 8087) and ``tls`` (its 8089, client certificate
    ``Client.pem``/``Client.key`` signed by ``ca.pem``, which the client pins; hostname check off)
    are reached at 127.0.0.1 ports of the test's namespace through the forwarder; ``netns`` is
    the namespace FTS runs in; ``opt`` its scratch ``/opt``."""

    tcp: TakServer
    tls: TakServer
    netns: Namespace
    opt: Path
    log_path: Path
    startup_s: float

    def wait_registered(self, receiver: PytakReceiver, timeout_s: float = 15.0) -> Received:
        """Wait for FTS's GeoChat welcome to ``receiver``: from then on FTS relays to it."""
        return receiver.wait_for(fts_welcome_for(receiver.uid), timeout_s)


def fts_welcome_for(uid: str) -> Callable[[Received], bool]:
    """Matches FTS's welcome chat (``b-t-f`` with ``<__chat id=uid>``), sent once a client's
    identity (its first event) is registered."""
    def match(item: Received) -> bool:
        if item.cot_type != "b-t-f" or item.event is None:
            return False
        chat = item.event.find("detail/__chat")
        return chat is not None and chat.get("id") == uid
    return match


_FTS_START = r"""
set -e
mount --bind "$1" /opt
mount -t overlay overlay -o "lowerdir=$2,upperdir=$3,workdir=$4" "$2"
exec "$5" -m FreeTAKServer.controllers.services.FTS -CoTIP 127.0.0.1 -SSLCoTIP 127.0.0.1 \
    -DataPackageIP 127.0.0.1 -SSLDataPackageIP 127.0.0.1 -RestAPIIP 127.0.0.1 -AutoStart True
"""


def _fts_site_packages() -> Path:
    found = sorted((FTS_VENV / "lib").glob("python3*/site-packages/FreeTAKServer"))
    if not FTS_PYTHON.exists() or not found:
        raise HarnessError(f"FreeTAKServer is not installed in {FTS_VENV}: run python3 dev.py test "
                           "(it creates .venv-fts with freetakserver==2.2.1)")
    return found[-1].parent


@contextlib.contextmanager
def freetakserver(root: Path, *, startup_timeout_s: float = 120.0) -> Iterator[FtsServer]:
    """FreeTAKServer 2.2.1 from ``.venv-fts``, started as in cot.md section 9: in its own network
    namespace (``lo`` only) and a private mount namespace with ``root/opt`` over ``/opt`` and an
    overlay over its site-packages (upper layer ``root/overlay``), environment
    ``FTS_FIRST_START=false`` and 127.0.0.1 addresses, ``-AutoStart True``. Yields when 8087 and
    8089 accept and the generated client certificate exists; stops the process group, anything
    left in the namespace and the namespace itself afterwards."""
    site_packages = _fts_site_packages()
    _require_root_and_ip()
    root.mkdir(parents=True, exist_ok=True)
    opt, upper, work = root / "opt", root / "overlay" / "upper", root / "overlay" / "work"
    for directory in (opt, upper, work):
        directory.mkdir(parents=True, exist_ok=True)
    for path in (opt, site_packages, upper, work):
        if "," in str(path) or ":" in str(path):  # overlayfs option syntax
            raise HarnessError(f"path not usable in an overlay mount option: {path}")
    log_path = root / "fts.log"
    environment = {**os.environ, "FTS_FIRST_START": "false", "FTS_USER_ADDRESS": "127.0.0.1",
                   "FTS_DP_ADDRESS": "127.0.0.1", "FTS_API_ADDRESS": "127.0.0.1", "PYTHONUNBUFFERED": "1"}
    environment.pop("PYTHONPATH", None)
    with network_namespace("dwfts") as netns:
        started = time.perf_counter()
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                ["ip", "netns", "exec", netns.name, "unshare", "-m", "--propagation", "private", "--",
                 "sh", "-c", _FTS_START, "fts-start", str(opt), str(site_packages), str(upper), str(work),
                 str(FTS_PYTHON)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=root, env=environment,
                start_new_session=True,
            )
        try:
            for port in (8087, 8089):
                _wait_listening(functools.partial(netns.call, socket.create_connection, ("127.0.0.1", port), 1.0),
                                process, f"FreeTAKServer port {port}", log_path,
                                max(1.0, startup_timeout_s - (time.perf_counter() - started)))
            certs = opt / "fts" / "certs"
            missing = [name for name in FTS_CERTS if not (certs / name).exists()]
            if missing:
                raise HarnessError(f"FreeTAKServer made no {', '.join(missing)} in {certs}; "
                                   f"log:\n{_log_tail(log_path)}")
            startup_s = time.perf_counter() - started
            with _Forwarder(netns, (8087, 8089)) as forwarder:
                tcp_port, tls_port = forwarder.ports[8087], forwarder.ports[8089]
                yield FtsServer(
                    tcp=TakServer("127.0.0.1", tcp_port, f"tcp://127.0.0.1:{tcp_port}", log_path),
                    tls=TakServer("127.0.0.1", tls_port, f"tls://127.0.0.1:{tls_port}", log_path,
                                  ca_path=certs / "ca.pem", cert_path=certs / "Client.pem",
                                  key_path=certs / "Client.key", check_hostname=False),
                    netns=netns, opt=opt, log_path=log_path, startup_s=startup_s,
                )
        finally:
            _stop_group(process)
            # overlayfs leaves its work dir mode 000; make the scratch removable for pytest
            for directory in work.rglob("*"):
                with contextlib.suppress(OSError):
                    directory.chmod(0o700)


# --------------------------------------------------------------------------------------------
# pytak receiver


@dataclass(frozen=True, slots=True)
class Received:
    """One item from pytak's rx queue, stamped with ``time.perf_counter()`` on arrival.

    ``raw`` is what pytak handed over: the bytes up to ``</event>`` on a stream, a datagram on UDP;
    with ``tak_proto=1`` over UDP pytak hands over a decoded takproto ``TakMessage`` (``message``)
    and ``raw`` is its serialisation (pytak does not keep the datagram). ``event`` is the parsed
    ``<event>`` (lxml, entities off) when the item was XML."""

    raw: bytes
    t_s: float
    event: etree._Element | None = None
    message: Any = None
    parse_error: str | None = None

    @classmethod
    def from_pytak(cls, item: Any, t_s: float) -> Received:
        if isinstance(item, bytes | bytearray):
            raw = bytes(item)
            start = min((i for i in (raw.find(b"<?xml"), raw.find(b"<event")) if i >= 0), default=0)
            try:
                return cls(raw, t_s, etree.fromstring(raw[start:], _XML_PARSER))
            except etree.XMLSyntaxError as error:
                return cls(raw, t_s, parse_error=str(error))
        return cls(item.SerializeToString(), t_s, message=item)

    @property
    def uid(self) -> str | None:
        if self.event is not None:
            value = self.event.get("uid")
            return None if value is None else str(value)
        return str(self.message.cotEvent.uid) if self.message is not None else None

    @property
    def cot_type(self) -> str | None:
        if self.event is not None:
            value = self.event.get("type")
            return None if value is None else str(value)
        return str(self.message.cotEvent.type) if self.message is not None else None

    def summary(self, since_s: float) -> str:
        return f"+{self.t_s - since_s:.3f}s type={self.cot_type} uid={self.uid} raw={self.raw[:200]!r}"


class PytakReceiver:
    """A pytak client (``pytak.protocol_factory`` for the connection, ``pytak.RXWorker`` for
    reading: third-party code) in a background thread with its own event loop, collecting
    everything it receives.

    ``url`` is a pytak ``COT_URL`` (``tcp://``, ``tls://``, ``udp+ro://239.2.3.1:6969``, ...);
    ``tak_proto`` is pytak's ``TAK_PROTO``; ``config`` adds pytak settings (TLS paths,
    ``PYTAK_MULTICAST_LOCAL_ADDR``, ...). On a stream it first sends an SA with ``self.uid`` and
    ``self.callsign`` as XML (servers take the first event as identity; pytak's own ``t-x-d-d``
    hello is switched off). ``netns`` runs the client inside a namespace (``multicast_namespace``).
    """

    def __init__(self, url: str, *, tak_proto: int = 0, config: dict[str, str] | None = None,
                 callsign: str | None = None, netns: Namespace | None = None,
                 connect_timeout_s: float = 10.0) -> None:
        self.url = url
        self.uid = f"dronewatch-test.pytak.{secrets.token_hex(4)}"
        self.callsign = callsign or f"PYTAK-{self.uid[-8:].upper()}"
        base, _, read_only = pytak.parse_cot_scheme(url.split("://", 1)[0])
        self._stream = base in ("tcp", "tls", "ssl")
        self._sends_sa = self._stream and not read_only
        self._settings = {"COT_URL": url, "TAK_PROTO": str(tak_proto), "PYTAK_NO_HELLO": "1", **(config or {})}
        self._netns = netns
        self._connect_timeout_s = connect_timeout_s
        self._items: list[Received] = []
        self._arrived = threading.Condition()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._thread_main, name=f"pytak-{self.uid}", daemon=True)
        self.started_s = 0.0

    # -- public

    def __enter__(self) -> Self:
        self.started_s = time.perf_counter()
        self._thread.start()
        if not self._ready.wait(self._connect_timeout_s + 5):
            self.__exit__(None, None, None)
            raise HarnessError(f"pytak did not connect to {self.url} within {self._connect_timeout_s} s")
        if self._error is not None:
            self._thread.join(5)
            raise HarnessError(f"pytak could not connect to {self.url}: {self._error!r}") from self._error
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._loop is not None and self._stop is not None:
            with contextlib.suppress(RuntimeError):  # loop already finished
                self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    @property
    def error(self) -> BaseException | None:
        """Why the client stopped on its own (e.g. the server closed the connection), if it did."""
        return self._error

    def received(self) -> list[Received]:
        with self._arrived:
            return list(self._items)

    def wait_for(self, predicate: Callable[[Received], bool], timeout_s: float = 5.0, *,
                 after_s: float | None = None) -> Received:
        """The first item (arrived at or after ``after_s``, a ``perf_counter`` stamp, if given) that
        matches; ``AssertionError`` listing what did arrive if none does within ``timeout_s``."""
        deadline = time.perf_counter() + timeout_s
        checked = 0
        with self._arrived:
            while True:
                for item in self._items[checked:]:
                    if (after_s is None or item.t_s >= after_s) and predicate(item):
                        return item
                checked = len(self._items)
                remaining = deadline - time.perf_counter()
                if remaining <= 0 or not self._thread.is_alive():
                    break
                self._arrived.wait(min(remaining, 0.5))
            items = list(self._items)
        lines = [f"no matching CoT from {self.url} within {timeout_s} s; {len(items)} arrived:"]
        lines += [item.summary(self.started_s) for item in items[-30:]]
        if self._error is not None:
            lines.append(f"receiver stopped: {self._error!r}")
        raise AssertionError("\n".join(lines))

    # -- the receiver thread

    def _thread_main(self) -> None:
        try:
            if self._netns is not None:
                self._netns.enter_current_thread()
            asyncio.run(self._main())
        except BaseException as error:
            self._error = self._error or error
        finally:
            self._ready.set()
            with self._arrived:
                self._arrived.notify_all()

    def _record(self, item: Any) -> None:
        received = Received.from_pytak(item, time.perf_counter())
        with self._arrived:
            self._items.append(received)
            self._arrived.notify_all()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        parser = ConfigParser(interpolation=None)
        parser["pytak"] = self._settings
        section = parser["pytak"]
        try:
            reader, writer = await asyncio.wait_for(pytak.protocol_factory(section), self._connect_timeout_s)
            if self._sends_sa and writer is not None:
                writer.write(sa_event(self.uid, self.callsign, now=dt.datetime.now(dt.UTC)))
                await writer.drain()
        except BaseException as error:
            self._error = error
            return
        rx_queue: asyncio.Queue[Any] = asyncio.Queue(10000)
        worker = pytak.RXWorker(rx_queue, section, reader)

        async def drain() -> None:
            while True:
                self._record(await rx_queue.get())

        async def watch_eof() -> None:
            # pytak's RXWorker busy-loops after EOF (readuntil raises, readcot returns None, repeat)
            while not reader.at_eof():
                await asyncio.sleep(0.05)
            raise EOFError(f"{self.url} closed the connection")

        tasks = [asyncio.create_task(worker.run()), asyncio.create_task(drain()),
                 asyncio.create_task(self._stop.wait())]
        if self._stream:
            tasks.append(asyncio.create_task(watch_eof()))
        self._ready.set()
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                self._error = task.exception()
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        while not rx_queue.empty():
            self._record(rx_queue.get_nowait())
        for end in (writer, reader):
            close = getattr(end, "close", None)
            if callable(close) and not isinstance(end, asyncio.StreamReader):
                with contextlib.suppress(Exception):
                    close()
        if isinstance(writer, asyncio.StreamWriter):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 2.0)


# Re-exported so tests read as one vocabulary.
__all__ = [
    "FTS_REWRITES", "MULTICAST_GROUP", "MULTICAST_PORT", "FtsServer", "HarnessError", "Namespace",
    "Pki", "PytakReceiver", "Received", "TakServer", "cot_schema", "cot_time", "freetakserver",
    "fts_welcome_for", "make_test_pki", "multicast_namespace", "multicast_sender", "network_namespace",
    "refresh_times", "sa_event", "schema_errors", "takmsg_to_xml", "taky_server",
]
