"""The service configuration: one TOML file, environment overrides, validated at start-up.

Every key, its type and default is declared once, in the dataclasses below;
``docs/configuration.md`` lists them. An environment variable
``DRONEWATCH_<SECTION>__<KEY>`` (upper case, double underscore) overrides a key of the file;
lists are given comma-separated. Unknown sections or keys, wrong types and bad values are
:class:`~dronewatch.errors.ConfigError` naming the file (or variable) and the key.
"""

from __future__ import annotations

import math
import os
import re
import tomllib
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from dronewatch.assessment.config import AssessmentConfig
from dronewatch.errors import ConfigError, DronewatchError
from dronewatch.formats.adsb import parse_feed_url
from dronewatch.model import LEVELS
from dronewatch.tracking.config import TrackerConfig
from dronewatch.tracking.regional import RegionalConfig
from dronewatch.web.tiles import TileArchive

ROLES = ("admin", "operator", "analyst", "partner", "sensor")
"""``sensor``: an account a sensor posts its data with (``docs/security.md``); it sees nothing."""
MAX_TOKEN_DAYS = 3650
"""No configuration may let an API token live longer than ten years."""
ENV_PREFIX = "DRONEWATCH_"


@dataclass(frozen=True, slots=True)
class SiteConfig:
    id: str = "site"
    """Stable identifier used in storage and for partner grants."""
    name: str = "dronewatch site"


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: str = "dronewatch-data"
    """Holds the SQLite database when ``storage.url`` is empty."""


@dataclass(frozen=True, slots=True)
class StorageConfig:
    url: str = ""
    """SQLAlchemy URL, e.g. ``postgresql+psycopg://user@host/db``; empty: SQLite in ``service.data_dir``."""


@dataclass(frozen=True, slots=True)
class BusConfig:
    url: str = ""
    """NATS server with JetStream, e.g. ``nats://127.0.0.1:4222``; empty: the in-process bus."""
    stream: str = "DRONEWATCH"
    """The JetStream stream that keeps the ``dw.>`` subjects."""
    max_age_hours: float = 24.0
    """How long the stream keeps a message; at most ``retention.operator_locations_days``, as it holds those too."""


@dataclass(frozen=True, slots=True)
class RetentionConfig:
    detections_days: float = 30.0
    tracks_days: float = 365.0
    operator_locations_days: float = 7.0
    purge_every_minutes: float = 60.0


@dataclass(frozen=True, slots=True)
class SecurityConfig:
    operator_location_roles: tuple[str, ...] = ("admin", "operator")
    """Roles allowed to see where drone operators stand."""
    session_hours: float = 12.0
    login_attempts_per_minute: int = 5
    token_days_default: int = 90
    """Lifetime of an API token whose request names none."""
    token_days_max: int = 365
    """The longest lifetime a token may be given."""
    evidence_roles: tuple[str, ...] = ("admin", "analyst")
    """Roles allowed to export evidence packages (each export is audited)."""
    evidence_key: str = ""
    """The site's Ed25519 signing key for evidence packages (PEM); empty: ``evidence-ed25519.pem`` in
    ``service.data_dir``. Made at first start when the file does not exist."""


@dataclass(frozen=True, slots=True)
class SourcesConfig:
    simulate: str = ""
    """A built-in scenario to simulate in process (``border-station``, ``swarm``, ``stress``), or empty."""
    seed: int = 7
    replay: str = ""
    """A scenario JSON Lines file to replay, or empty."""
    speed: float = 1.0
    """Pace of simulation and replay: 1 is real time, 0 as fast as possible."""
    udp: str = ""
    """``HOST:PORT`` to receive scenario JSON Lines datagrams on, or empty."""
    tcp: str = ""
    """``HOST:PORT`` to accept scenario JSON Lines connections on, or empty."""
    remoteid: str = ""
    """A live Remote ID receiver URL (docs/remoteid.md), or empty."""
    remoteid_receiver: str = ""
    """``LAT,LON[,ALT]`` of that receiver."""
    adsb: str = ""
    """A live ADS-B receiver feed, ``FORMAT+tcp://HOST:PORT`` (``beast``, ``avr``, ``sbs`` or ``hex``; docs/adsb.md), or
    empty."""
    adsb_receiver: str = ""
    """``LAT,LON[,ALT]`` of that receiver."""
    asterix: tuple[str, ...] = ()
    """Live ASTERIX radar feeds, ``udp://HOST:PORT`` each (a multicast group with ``?iface=``; a radar's two links
    both: duplicates are dropped); docs/asterix.md."""
    asterix_radars: tuple[str, ...] = ()
    """The radars whose CAT048 plots and CAT034 messages are taken, each ``SAC/SIC=ID,LAT,LON,ALT``."""
    asterix_systems: tuple[str, ...] = ()
    """The trackers (SDPS, e.g. ARTAS) whose CAT062 system tracks are taken, each ``SAC/SIC=ID,LAT,LON,ALT`` (its
    reference point): the tracks of aircraft with a Mode S address join the picture as that address's reports."""
    asterix_editions: tuple[str, ...] = ()
    """ASTERIX editions other than the newest, each ``[SAC/SIC:]CAT=EDITION`` (e.g. ``48=1.27``)."""
    asterix_assumed_height_m: float | None = None
    """The height (metres above the ellipsoid) to place radar plots that carry none (primary only: no Mode C, no
    3-D height); none: they are dropped and counted (``no_height``)."""
    dronescout: tuple[str, ...] = ()
    """DroneScout Remote ID sensors whose uploads this site takes over HTTP, each ``SENSOR-ID=LAT,LON[,ALT]``
    (docs/remoteid.md)."""


ZONE_SOURCES = ("simulate", "replay", "udp", "tcp")


@dataclass(frozen=True, slots=True)
class IngestConfig:
    """What the edge of the site takes from its sources (docs/security.md)."""

    max_future_s: float = 5.0
    """A live record's time may be at most this far ahead of the service's clock (clock skew)."""
    max_age_s: float = 300.0
    """... and at most this far behind it (a feed that catches up after an outage)."""
    max_sensors: int = 256
    """The most sensors a site may declare."""
    zone_sources: tuple[str, ...] = ("simulate", "replay")
    """Sources whose ``zone`` lines are taken (``simulate``, ``replay``, ``udp``, ``tcp``); zones from any
    other source are refused and counted. The API's zone routes are always taken (and audited)."""


@dataclass(frozen=True, slots=True)
class SapientConfig:
    listen: str = ""
    """``HOST:PORT`` SAPIENT edge nodes connect to (dronewatch as their fusion node), or empty."""
    parent: str = ""
    """``HOST:PORT`` of a higher SAPIENT node to report fused tracks and alerts to, or empty."""
    node_id: str = ""
    """dronewatch's SAPIENT node id (UUID v4, lower case); empty: a stable one made from the site id."""
    name: str = ""
    """The name in dronewatch's Registration; empty: ``dronewatch <site id>``."""


@dataclass(frozen=True, slots=True)
class TakConfig:
    """One TAK destination (a ``[[tak]]`` table): a TAK server, a device, or the mesh multicast group."""

    name: str = ""
    """Shown in counters and logs; defaults to the URL."""
    url: str = ""
    """``tcp://HOST:PORT`` or ``tls://HOST:PORT`` (a TAK server's streaming port), ``udp://HOST:PORT``
    (a device, or a multicast group such as ``udp://239.2.3.1:6969``, the TAK mesh)."""
    protocol: str = "xml"
    """``xml``, or ``takproto``: TAK Protocol v1, mesh framing over UDP; over TCP/TLS once the server offers it."""
    sites: tuple[str, ...] = ()
    """Sites whose picture this destination may receive; empty: every site of this service."""
    classes: tuple[str, ...] = ("drone", "unknown", "aircraft")
    """Track classes this destination may receive (``drone``, ``bird``, ``aircraft``, ``unknown``)."""
    min_alert_level: str = "warning"
    """Alerts below this level are not sent (``info``, ``warning``, ``critical``)."""
    emergency: bool = False
    """Critical alerts also as a TAK "911 Alert" emergency beacon, cancelled when they resolve."""
    zones: bool = True
    """Send the protected zones as shapes with a geofence."""
    max_events_per_s: float = 50.0
    """Rate limit; track updates beyond it are merged (the latest position of each track wins)."""
    cert_file: str = ""
    """TLS client certificate (PEM) for ``tls://``."""
    key_file: str = ""
    key_password: str = ""
    ca_file: str = ""
    """The only CA whose server certificates are accepted (PEM); empty: the system's CAs."""
    check_hostname: bool = True
    """Check the server certificate's name against the URL's host (TAK servers often lack one)."""
    multicast_ttl: int = 1
    multicast_interface: str = ""
    """Address of the interface multicast leaves by; empty: the system's choice."""


@dataclass(frozen=True, slots=True)
class NotifyConfig:
    """One notification destination (a ``[[notify]]`` table): a webhook, or people by email (docs/notifications.md)."""

    name: str = ""
    """Shown in counters and logs; defaults to the URL's scheme and host (a webhook's path may hold a token)."""
    url: str = ""
    """``https://...`` or ``http://...`` (a webhook), ``smtp://HOST[:PORT]`` or ``smtps://HOST[:PORT]``
    (a mail server)."""
    sites: tuple[str, ...] = ()
    """Sites whose alerts go to this destination; empty: every site of this service."""
    min_level: str = "critical"
    """An alert is sent when it opens at, or rises to, this level or above (``info``, ``warning``, ``critical``)."""
    kinds: tuple[str, ...] = ()
    """Alert kinds sent (``zone_breach_predicted``, ``zone_entry``, ``loiter``, ...); empty: every kind."""
    roles: tuple[str, ...] = ()
    """Who the destination is for (``admin``, ``operator``, ``analyst``, ``partner``): shown in the notices."""
    resolved: bool = False
    """Also tell the destination when an alert it was told of resolves."""
    secret: str = ""
    """A webhook's HMAC-SHA256 key for the signature header."""
    secret_env: str = ""
    """... or the environment variable that holds it."""
    mail_from: str = ""
    mail_to: tuple[str, ...] = ()
    username: str = ""
    """SMTP login; only over TLS (``smtps://`` or ``starttls``)."""
    password: str = ""
    password_env: str = ""
    """The environment variable that holds the SMTP password, instead of ``password``."""
    starttls: bool = False
    """Upgrade an ``smtp://`` connection with STARTTLS (refused if the server does not offer it)."""
    ca_file: str = ""
    """The only CA whose server certificates are accepted (PEM); empty: the system's CAs."""
    timeout_s: float = 10.0
    """One attempt's limit (connect, send, answer); a slower attempt is retried."""
    max_queued: int = 1000
    """Notices kept while the destination is away; beyond it the oldest is dropped and counted."""
    dashboard_url: str = ""
    """The dashboard's address as the recipients reach it, put in every notice; empty: none."""

    @property
    def label(self) -> str:
        """``name``, else the URL's scheme, host and port: never its path or login, which may hold a secret."""
        if self.name:
            return self.name
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}"


@dataclass(frozen=True, slots=True)
class RegionConfig:
    """A region (a ``[[regions]]`` table): neighbouring sites whose tracks make one regional picture
    (``tracking/regional.py``), assessed against all of their zones. It reads and writes the bus like
    a site, ``dw.<region id>.*``: its API routes are a site's, ``/api/sites/<region id>/...``."""

    id: str = ""
    """Letters, digits, - or _; not a site's id."""
    name: str = ""
    sites: tuple[str, ...] = ()
    """Two or more sites (their ``site.id``), each run with its own workers on the same bus."""
    bias_m: float = 15.0
    """How far apart (standard deviation per axis, metres) two sites place one object beyond their tracks'
    own uncertainty: survey and clock differences."""
    max_distance_m: float = 300.0
    """Two sites' tracks farther apart than this are never one object."""
    stale_s: float = 5.0
    """A site whose picture is older than this (its tracker stopped) leaves the regional picture."""

    @property
    def fusion(self) -> RegionalConfig:
        return RegionalConfig(bias_m=self.bias_m, max_distance_m=self.max_distance_m, stale_s=self.stale_s)


@dataclass(frozen=True, slots=True)
class MapConfig:
    tile_url: str = ""
    """A tile URL template with ``{z}``, ``{x}`` and ``{y}`` (a tile server the browsers reach), or empty."""
    tile_archive: str = ""
    """An MBTiles file of raster tiles that the service serves at ``/api/tiles/{z}/{x}/{y}``, or empty."""
    attribution: str = ""
    """Credit for the imagery, shown in the map's corner (an archive's own ``attribution`` when empty)."""


@dataclass(frozen=True, slots=True)
class Config:
    site: SiteConfig = field(default_factory=SiteConfig)
    service: ServiceConfig = field(default_factory=ServiceConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    bus: BusConfig = field(default_factory=BusConfig)
    retention: RetentionConfig = field(default_factory=RetentionConfig)
    security: SecurityConfig = field(default_factory=SecurityConfig)
    sources: SourcesConfig = field(default_factory=SourcesConfig)
    ingest: IngestConfig = field(default_factory=IngestConfig)
    tak: tuple[TakConfig, ...] = ()
    notify: tuple[NotifyConfig, ...] = ()
    regions: tuple[RegionConfig, ...] = ()
    sapient: SapientConfig = field(default_factory=SapientConfig)
    map: MapConfig = field(default_factory=MapConfig)
    tracking: TrackerConfig = field(default_factory=TrackerConfig)
    """The tracker's tuning (``tracking/config.py`` documents each key)."""
    assessment: AssessmentConfig = field(default_factory=AssessmentConfig)
    """The threat rules' tuning (``assessment/config.py`` documents each key)."""

    @property
    def database_url(self) -> str:
        if self.storage.url:
            return self.storage.url
        return f"sqlite:///{Path(self.service.data_dir).resolve() / 'dronewatch.db'}"

    @property
    def evidence_key_path(self) -> Path:
        return Path(self.security.evidence_key or Path(self.service.data_dir) / "evidence-ed25519.pem")


def load_config(path: str | Path | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """The configuration from ``path`` (none: defaults) with ``environ``'s overrides, validated."""
    environ = os.environ if environ is None else environ
    source = str(path) if path is not None else "<defaults>"
    data: dict[str, Any] = {}
    if path is not None:
        try:
            with open(path, "rb") as handle:
                data = tomllib.load(handle)
        except OSError as error:
            raise ConfigError(f"{source}: cannot read: {error.strerror}") from None
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(f"{source}: not valid TOML: {error}") from None
    config = Config()
    sections = {f.name: f for f in fields(Config)}
    for name, values in data.items():
        if name not in sections:
            raise ConfigError(f"{source}: unknown section [{name}]; known: {', '.join(sections)}")
        if name in _LISTS:
            if not isinstance(values, list) or not all(isinstance(v, dict) for v in values):
                raise ConfigError(f"{source}: {name} must be an array of tables: [[{name}]]")
            entries = tuple(_section(_LISTS[name](), v, f"{source}: {name}[{i}]") for i, v in enumerate(values))
            config = replace(config, **{name: entries})  # type: ignore[arg-type]
            continue
        if not isinstance(values, dict):
            raise ConfigError(f"{source}: {name} must be a table")
        config = replace(config, **{name: _section(getattr(config, name), values, f"{source}: {name}")})
    for variable, text in environ.items():
        if not variable.startswith(ENV_PREFIX) or "__" not in variable:
            continue
        section, _, key = variable[len(ENV_PREFIX):].lower().partition("__")
        if section not in sections:
            raise ConfigError(f"environment {variable}: unknown section {section!r}")
        if section in _LISTS:
            config = _override_entry(config, section, key, text, variable)
            continue
        current = getattr(config, section)
        config = replace(config, **{section: _override(current, key, text, variable, section)})
    _check(config, source)
    _check_notify(config, source, environ)
    return config


_LISTS: dict[str, type] = {"tak": TakConfig, "notify": NotifyConfig, "regions": RegionConfig}
"""Sections that are arrays of tables; the environment addresses an entry by its index:
``DRONEWATCH_TAK__0__URL``."""


def _override(current: Any, key: str, text: str, variable: str, label: str) -> Any:
    """``current`` (the section called ``label``) with ``key`` set from the environment's ``text``."""
    hint = _hints(type(current)).get(key)
    if hint is None:
        raise ConfigError(f"environment {variable}: unknown key {label}.{key}")
    value: Any = [v.strip() for v in text.split(",") if v.strip()] if _is_tuple(hint) else text
    return _section(current, {key: value}, f"environment {variable}: {label}", from_text=True)


def _override_entry(config: Config, section: str, rest: str, text: str, variable: str) -> Config:
    index, _, key = rest.partition("__")
    entries = list(getattr(config, section))
    if not index.isdigit() or int(index) >= len(entries):
        raise ConfigError(f"environment {variable}: {section} has {len(entries)} entries in the file; "
                          f"expected DRONEWATCH_{section.upper()}__<0..{len(entries) - 1}>__<KEY>")
    entries[int(index)] = _override(entries[int(index)], key, text, variable, f"{section}[{index}]")
    return replace(config, **{section: tuple(entries)})  # type: ignore[arg-type]


def _section(current: Any, values: Mapping[str, Any], where: str, from_text: bool = False) -> Any:
    hints = _hints(type(current))
    changes = {}
    for key, value in values.items():
        if key not in hints:
            raise ConfigError(f"{where}.{key}: unknown key; known: {', '.join(hints)}")
        changes[key] = _coerce(value, hints[key], f"{where}.{key}", from_text)
    return replace(current, **changes)


def _hints(cls: type) -> dict[str, Any]:
    return {name: hint for name, hint in typing.get_type_hints(cls).items()
            if is_dataclass(cls) and name in {f.name for f in fields(cls)}}


def _is_tuple(hint: Any) -> bool:
    return typing.get_origin(hint) is tuple


def _coerce(value: Any, hint: Any, where: str, from_text: bool) -> Any:
    if typing.get_origin(hint) is types.UnionType:  # X | None: TOML has no null, so a value given is an X
        hint = next(h for h in typing.get_args(hint) if h is not type(None))
    if _is_tuple(hint):
        item = typing.get_args(hint)[0]
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        return tuple(_coerce(v, item, f"{where}[{k}]", from_text) for k, v in enumerate(value))
    if hint is bool and from_text:
        if str(value).lower() not in ("true", "false", "1", "0", "yes", "no"):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return str(value).lower() in ("true", "1", "yes")
    if hint in (int, float) and from_text:
        try:
            return hint(value)
        except ValueError:
            raise ConfigError(f"{where}: expected {'an integer' if hint is int else 'a number'}, "
                              f"got {value!r}") from None
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    expected = hint if isinstance(hint, type) else None
    if expected is not None and (not isinstance(value, expected) or (isinstance(value, bool) and expected is not bool)):
        raise ConfigError(f"{where}: expected {expected.__name__}, got {type(value).__name__} {value!r}")
    return value


def _check(config: Config, source: str) -> None:
    config.tracking.check(f"{source}: tracking")
    config.assessment.check(f"{source}: assessment")
    if not 0 < config.service.port < 65536:
        raise ConfigError(f"{source}: service.port: {config.service.port} is not a TCP port")
    for name in ("detections_days", "tracks_days", "operator_locations_days", "purge_every_minutes"):
        if getattr(config.retention, name) <= 0:
            raise ConfigError(f"{source}: retention.{name}: must be positive")
    for key in ("operator_location_roles", "evidence_roles"):
        unknown = set(getattr(config.security, key)) - set(ROLES)
        if unknown:
            raise ConfigError(f"{source}: security.{key}: unknown role(s) {', '.join(sorted(unknown))}; "
                              f"roles are {', '.join(ROLES)}")
    if "partner" in config.security.evidence_roles:
        raise ConfigError(f"{source}: security.evidence_roles: a partner sees only the alert levels granted to it, "
                          "and a package holds all of a track's alerts: partners may not export")
    if config.security.session_hours <= 0 or config.security.login_attempts_per_minute <= 0:
        raise ConfigError(f"{source}: security: session_hours and login_attempts_per_minute must be positive")
    if not 1 <= config.security.token_days_default <= config.security.token_days_max <= MAX_TOKEN_DAYS:
        raise ConfigError(f"{source}: security: expected 1 <= token_days_default <= token_days_max <= "
                          f"{MAX_TOKEN_DAYS}, got {config.security.token_days_default} and "
                          f"{config.security.token_days_max}")
    for section, name in (("sources", "udp"), ("sources", "tcp"), ("sapient", "listen"), ("sapient", "parent")):
        value = getattr(getattr(config, section), name)
        if value:
            host_port(value, f"{source}: {section}.{name}")
    if config.sapient.parent and host_port(config.sapient.parent)[1] == 0:
        raise ConfigError(f"{source}: sapient.parent: port 0 is not a port to connect to")
    node_id = config.sapient.node_id
    if node_id and not re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", node_id):
        raise ConfigError(f"{source}: sapient.node_id: {node_id!r} is not a UUID version 4 in lower case "
                          "(SAPIENT peers such as Apex refuse anything else)")
    if config.sources.remoteid:
        receiver_position(config.sources.remoteid_receiver, f"{source}: sources.remoteid_receiver")
    if config.sources.adsb:
        try:
            parse_feed_url(config.sources.adsb)
        except ConfigError as error:
            raise ConfigError(f"{source}: sources.adsb: {error}") from None
        receiver_position(config.sources.adsb_receiver, f"{source}: sources.adsb_receiver")
    dronescout_sensors(config.sources.dronescout, f"{source}: sources.dronescout")
    if config.sources.speed < 0:
        raise ConfigError(f"{source}: sources.speed: must not be negative")
    height = config.sources.asterix_assumed_height_m
    if height is not None and not -500.0 <= height <= 20_000.0:
        raise ConfigError(f"{source}: sources.asterix_assumed_height_m: {height} is not a height a radar plot can "
                          "have (-500 to 20,000 m)")
    _check_ingest(config.ingest, source)
    for index, tak in enumerate(config.tak):
        _check_tak(tak, f"{source}: tak[{index}]")
    if not config.site.id or not config.site.id.replace("-", "").replace("_", "").isalnum():
        raise ConfigError(f"{source}: site.id: {config.site.id!r} must be letters, digits, - or _")
    _check_map(config.map, source)
    _check_bus(config, source)
    _check_regions(config, source)


def _check_regions(config: Config, source: str) -> None:
    seen = {config.site.id}
    for index, region in enumerate(config.regions):
        where = f"{source}: regions[{index}]"
        if not re.fullmatch(r"[A-Za-z0-9_-]+", region.id):
            raise ConfigError(f"{where}.id: {region.id!r} must be letters, digits, - or _")
        if region.id in seen:
            raise ConfigError(f"{where}.id: {region.id!r} is already a site's or another region's id")
        seen.add(region.id)
        if len(set(region.sites)) < 2 or len(set(region.sites)) != len(region.sites):
            raise ConfigError(f"{where}.sites: expected two or more different sites, got {list(region.sites)}")
        for site in region.sites:
            if not re.fullmatch(r"[A-Za-z0-9_-]+", site) or site in {r.id for r in config.regions}:
                raise ConfigError(f"{where}.sites: {site!r} is not a site id")
        if not (region.bias_m >= 0 and region.max_distance_m > 0 and region.stale_s > 0):
            raise ConfigError(f"{where}: bias_m must not be negative, max_distance_m and stale_s must be positive")


def _check_ingest(ingest: IngestConfig, source: str) -> None:
    if not (ingest.max_future_s >= 0 and ingest.max_age_s > 0):
        raise ConfigError(f"{source}: ingest.max_future_s must not be negative and ingest.max_age_s must be positive")
    if ingest.max_sensors < 1:
        raise ConfigError(f"{source}: ingest.max_sensors: must be at least 1")
    unknown = set(ingest.zone_sources) - set(ZONE_SOURCES)
    if unknown:
        raise ConfigError(f"{source}: ingest.zone_sources: unknown source(s) {', '.join(sorted(unknown))}; "
                          f"expected some of {', '.join(ZONE_SOURCES)}")


def _check_bus(config: Config, source: str) -> None:
    bus = config.bus
    if bus.url and urlsplit(bus.url).scheme not in ("nats", "tls"):
        raise ConfigError(f"{source}: bus.url: {bus.url!r} is not a nats:// or tls:// URL")
    if not re.fullmatch(r"[A-Za-z0-9_-]+", bus.stream):
        raise ConfigError(f"{source}: bus.stream: {bus.stream!r} must be letters, digits, - or _")
    most = config.retention.operator_locations_days * 24
    if not 0 < bus.max_age_hours <= most:
        raise ConfigError(f"{source}: bus.max_age_hours: must be positive and at most "
                          f"retention.operator_locations_days x 24 ({most:g}): the stream holds operator locations too")


def _check_map(config: MapConfig, source: str) -> None:
    if config.tile_url and config.tile_archive:
        raise ConfigError(f"{source}: map.tile_url and map.tile_archive: set one of them, not both")
    url = config.tile_url
    if url:
        if not url.startswith(("http://", "https://", "/")):
            raise ConfigError(f"{source}: map.tile_url: expected an http:// or https:// URL (or a path on this "
                              f"service), got {url!r}")
        missing = [p for p in ("{z}", "{x}") if p not in url] + ([] if "{y}" in url or "{-y}" in url else ["{y}"])
        if missing:
            raise ConfigError(f"{source}: map.tile_url: {url!r} lacks {', '.join(missing)}")
    if config.tile_archive:
        try:
            TileArchive(config.tile_archive).close()
        except DronewatchError as error:
            raise ConfigError(f"{source}: map.tile_archive: {error}") from None


def host_port(value: str, where: str = "address") -> tuple[str, int]:
    """``HOST:PORT`` as a host and a port number; :class:`ConfigError` naming ``where`` otherwise."""
    host, _, port = value.rpartition(":")
    if not (host and port.isdigit() and 0 <= int(port) < 65536):
        raise ConfigError(f"{where}: expected HOST:PORT, got {value!r}")
    return host, int(port)


def receiver_position(value: str, where: str = "receiver") -> tuple[float, float, float]:
    """``LAT,LON[,ALT]`` (degrees, metres above the ellipsoid; ALT 0 when left out) as numbers;
    :class:`ConfigError` naming ``where`` otherwise."""
    try:
        numbers = [float(v) for v in value.split(",")]
    except ValueError:
        numbers = []
    if len(numbers) not in (2, 3) or not all(map(math.isfinite, numbers)):
        raise ConfigError(f"{where}: expected LAT,LON[,ALT], got {value!r}")
    lat, lon, *alt = numbers
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        raise ConfigError(f"{where}: {lat}, {lon} is not a position on Earth")
    return lat, lon, alt[0] if alt else 0.0


def dronescout_sensors(entries: Sequence[str], where: str = "sources.dronescout"
                       ) -> dict[str, tuple[float, float, float]]:
    """``SENSOR-ID=LAT,LON[,ALT]`` entries as positions by sensor ID; :class:`ConfigError` naming ``where``."""
    found: dict[str, tuple[float, float, float]] = {}
    for index, entry in enumerate(entries):
        sensor, _, position = entry.partition("=")
        if not sensor.strip() or not position:
            raise ConfigError(f"{where}[{index}]: expected SENSOR-ID=LAT,LON[,ALT], got {entry!r}")
        found[sensor.strip()] = receiver_position(position, f"{where}[{index}]")
    return found


def keys() -> list[str]:
    """Every ``section.key`` there is (``docs/configuration.md`` lists each)."""
    return [f"{section.name}.{name}" for section in fields(Config)
            for name in _hints(_LISTS.get(section.name) or type(getattr(Config(), section.name)))]


def _check_tak(tak: TakConfig, where: str) -> None:
    parts = urlsplit(tak.url)
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme not in ("tcp", "tls", "udp") or not parts.hostname or port is None:
        raise ConfigError(f"{where}.url: expected tcp://HOST:PORT, tls://HOST:PORT or udp://HOST:PORT, "
                          f"got {tak.url!r}")
    if tak.protocol not in ("xml", "takproto"):
        raise ConfigError(f"{where}.protocol: expected xml or takproto, got {tak.protocol!r}")
    unknown = set(tak.classes) - {"drone", "bird", "aircraft", "unknown"}
    if unknown:
        raise ConfigError(f"{where}.classes: unknown class(es) {', '.join(sorted(unknown))}")
    if tak.min_alert_level not in LEVELS:
        raise ConfigError(f"{where}.min_alert_level: expected {', '.join(LEVELS)}, got {tak.min_alert_level!r}")
    if tak.max_events_per_s <= 0:
        raise ConfigError(f"{where}.max_events_per_s: must be positive")
    if not 0 < tak.multicast_ttl < 256:
        raise ConfigError(f"{where}.multicast_ttl: must be 1-255")
    if (tak.cert_file or tak.key_file or tak.ca_file) and parts.scheme != "tls":
        raise ConfigError(f"{where}: cert_file, key_file and ca_file are for tls:// destinations")
    if bool(tak.cert_file) != bool(tak.key_file):
        raise ConfigError(f"{where}: a client certificate needs both cert_file and key_file")
    for name in ("cert_file", "key_file", "ca_file"):
        path = getattr(tak, name)
        if path and not os.access(path, os.R_OK):
            raise ConfigError(f"{where}.{name}: cannot read {path!r}")


_MAIL_ONLY = ("mail_from", "mail_to", "username", "password", "password_env", "starttls")


def _check_notify(config: Config, source: str, environ: Mapping[str, str]) -> None:
    """The ``[[notify]]`` destinations (docs/notifications.md); ``environ`` holds the ``*_env`` secrets."""
    names: set[str] = set()
    for index, notify in enumerate(config.notify):
        where = f"{source}: notify[{index}]"
        parts = urlsplit(notify.url)
        try:
            parts.port  # noqa: B018 (urlsplit checks the port only when asked)
        except ValueError:
            raise ConfigError(f"{where}.url: the port is not a number from 0 to 65535") from None
        if parts.scheme not in ("https", "http", "smtp", "smtps") or not parts.hostname:
            # a webhook's URL may hold a token: it is shown only when it is no webhook's
            shown = "a URL without a host" if parts.scheme in ("https", "http", "smtp", "smtps") else repr(notify.url)
            raise ConfigError(f"{where}.url: expected https://..., http://..., smtp://HOST[:PORT] or "
                              f"smtps://HOST[:PORT], got {shown}")
        if parts.scheme.startswith("smtp"):
            _check_mail(notify, where, parts.scheme, bool(parts.username or parts.password))
        else:
            if not (notify.secret or notify.secret_env) or (notify.secret and notify.secret_env):
                raise ConfigError(f"{where}.secret: a webhook signs its notices: set secret or secret_env (one)")
            if notify.secret and len(notify.secret) < 16:
                raise ConfigError(f"{where}.secret: at least 16 characters (a random one: "
                                  "python -c 'import secrets; print(secrets.token_hex(32))')")
            if given := [key for key in _MAIL_ONLY if getattr(notify, key)]:
                raise ConfigError(f"{where}: {', '.join(given)} are for smtp:// and smtps:// destinations")
        for key in ("secret_env", "password_env"):
            variable = getattr(notify, key)
            if variable and not environ.get(variable):
                raise ConfigError(f"{where}.{key}: the environment variable {variable} is not set (or empty)")
        if notify.min_level not in LEVELS:
            raise ConfigError(f"{where}.min_level: expected {', '.join(LEVELS)}, got {notify.min_level!r}")
        people = [role for role in ROLES if role != "sensor"]  # a sensor account is no one to tell
        if unknown := set(notify.roles) - set(people):
            raise ConfigError(f"{where}.roles: unknown role(s) {', '.join(sorted(unknown))}; roles are "
                              f"{', '.join(people)}")
        for key, pattern in (("kinds", r"[a-z][a-z0-9_]*"), ("sites", r"[A-Za-z0-9_-]+")):
            for value in getattr(notify, key):
                if not re.fullmatch(pattern, value):
                    raise ConfigError(f"{where}.{key}: {value!r} is not an alert kind" if key == "kinds"
                                      else f"{where}.{key}: {value!r} is not a site id")
        if not (notify.timeout_s > 0 and notify.max_queued >= 1):
            raise ConfigError(f"{where}: timeout_s must be positive and max_queued at least 1")
        if notify.dashboard_url and urlsplit(notify.dashboard_url).scheme not in ("https", "http"):
            raise ConfigError(f"{where}.dashboard_url: expected an https:// or http:// URL, got "
                              f"{notify.dashboard_url!r}")
        if notify.ca_file and not os.access(notify.ca_file, os.R_OK):
            raise ConfigError(f"{where}.ca_file: cannot read {notify.ca_file!r}")
        if notify.label in names:
            raise ConfigError(f"{where}.name: {notify.label!r} names another destination too: give each its own name")
        names.add(notify.label)


def _check_mail(notify: NotifyConfig, where: str, scheme: str, credentials_in_url: bool) -> None:
    if credentials_in_url:
        raise ConfigError(f"{where}.url: the login goes in username and password (or password_env), not in the URL")
    if not notify.mail_to:
        raise ConfigError(f"{where}.mail_to: a mail destination needs at least one recipient")
    for key, address in [("mail_from", notify.mail_from), *(("mail_to", a) for a in notify.mail_to)]:
        if not re.fullmatch(r"[^@\s<>,]+@[^@\s<>,]+", address):
            raise ConfigError(f"{where}.{key}: {address!r} is not a mail address (name@host)")
    if notify.secret or notify.secret_env:
        raise ConfigError(f"{where}.secret: signing is for webhook destinations")
    if notify.starttls and scheme == "smtps":
        raise ConfigError(f"{where}.starttls: smtps:// is TLS from the start; starttls is for smtp://")
    if notify.password and notify.password_env:
        raise ConfigError(f"{where}: set password or password_env, not both")
    if bool(notify.username) != bool(notify.password or notify.password_env):
        raise ConfigError(f"{where}: a login needs both username and password (or password_env)")
    if notify.username and scheme == "smtp" and not notify.starttls:
        raise ConfigError(f"{where}.username: a login over smtp:// without starttls would send the password in "
                          "clear; use smtps:// or starttls = true")
