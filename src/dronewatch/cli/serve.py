"""``dronewatch serve --config site.toml``: the live service (pipeline, storage, API) until Ctrl-C.

:func:`serve` runs any of a site's :data:`PARTS`; ``serve`` runs them all, ``dronewatch worker``
some of them (:mod:`dronewatch.cli.worker`)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import logging
import signal
import socket
import sys
import time
from collections import Counter
from collections.abc import Iterable
from typing import Any

import uvicorn

from dronewatch.api.app import create_app
from dronewatch.api.security import hash_password, new_password
from dronewatch.bus import Bus, InProcessBus
from dronewatch.bus.nats import NatsBus
from dronewatch.cli import COMMANDS
from dronewatch.config import Config, host_port, load_config, receiver_position
from dronewatch.errors import ConfigError, DronewatchError
from dronewatch.ingest.adsb import ADSB_SIGMA
from dronewatch.ingest.asterix import (
    AsterixDecoder,
    edition_entries,
    parse_udp_url,
    radar_entry,
    system_entry,
)
from dronewatch.ingest.sapient import SapientListener, SapientNodes
from dronewatch.ingest.sources import (
    AdsbReceiver,
    AsterixReceiver,
    FileReplay,
    JsonLinesListener,
    RemoteIdReceivers,
    Simulator,
)
from dronewatch.model import Sensor
from dronewatch.outputs.notify import NotifyOutput
from dronewatch.outputs.sapient import SapientParent
from dronewatch.outputs.tak import TakOutput
from dronewatch.service.pipeline import STAGES, Pipeline
from dronewatch.service.region import RegionalPicture
from dronewatch.sim.scenarios import built_in
from dronewatch.storage import Repository, open_database
from dronewatch.tasks import cancel_and_wait

log = logging.getLogger(__name__)
SITE_PARTS = ("sources", *STAGES, "outputs")
PARTS = (*SITE_PARTS, "api", "region")
"""``region``: the regions' trackers, assessment and storage (``[[regions]]``); ``api`` shows the regions
and their sites too."""


def add_parser(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "serve", help=COMMANDS["serve"][1],
        description="Runs until Ctrl-C. On the first start it creates an admin user and prints its password once.")
    parser.add_argument("--config", help="TOML configuration (docs/configuration.md); defaults otherwise")
    parser.set_defaults(run=run)


def first_admin(repository: Repository) -> tuple[str, str] | None:
    """On an empty user table, an ``admin`` with a generated password: (name, password), shown once."""
    if repository.count_users():
        return None
    password = new_password()
    repository.add_user("admin", hash_password(password), "admin", now=time.time())
    repository.audit("dronewatch", "user.create", "user/admin", at=time.time(), detail={"role": "admin",
                                                                                        "first_start": True})
    return "admin", password


def build_pipeline(config: Config, repository: Repository, bus: Bus | None = None,
                   parts: tuple[str, ...] = PARTS, *, durable: bool = False) -> Pipeline:
    sources = config.sources
    live = bool(sources.udp or sources.tcp or sources.remoteid or sources.adsb or config.sapient.listen)
    pipeline = Pipeline(config.site.id, repository, bus, live=live,
                        first_alert_number=repository.alert_count(config.site.id) + 1, ingest=config.ingest,
                        tracking=config.tracking, assessment=config.assessment,
                        stages=[p for p in parts if p in STAGES], durable=durable,
                        view="api" in parts or "outputs" in parts)
    # the SAPIENT nodes beneath us are known where the SAPIENT listener runs: in this process, or not here
    nodes = SapientNodes() if config.sapient.listen and "sources" in parts else None
    if "sources" in parts:
        _add_sources(config, pipeline, nodes)
    if "outputs" in parts:
        _add_outputs(config, pipeline, nodes)
    return pipeline


def build_pipelines(config: Config, repository: Repository, bus: Bus,
                    parts: tuple[str, ...] = PARTS, *, durable: bool = False) -> dict[str, Pipeline]:
    """The pipelines of the parts running here, by site: the configured site's (:func:`build_pipeline`);
    each region's, with its tracker (:class:`RegionalPicture`), where ``region`` runs here; and where the
    API runs, a view of every region and of its sites."""
    pipelines = {}
    if set(parts) & {*SITE_PARTS, "api"}:
        pipelines[config.site.id] = build_pipeline(config, repository, bus, parts, durable=durable)
    viewing = "api" in parts
    for region in config.regions:
        running = "region" in parts
        if not (running or viewing):
            continue
        pipeline = Pipeline(region.id, repository, bus, live=False,
                            stages=("assessment", "storage") if running else (),
                            first_alert_number=repository.alert_count(region.id) + 1,
                            assessment=config.assessment, durable=durable, view=viewing, region=True)
        if running:
            pipeline.add_source("regional", RegionalPicture(region))
        pipelines[region.id] = pipeline
        for site_id in region.sites if viewing else ():
            if site_id not in pipelines:
                pipelines[site_id] = Pipeline(site_id, repository, bus, stages=())
    return pipelines


def _add_sources(config: Config, pipeline: Pipeline, nodes: SapientNodes | None) -> None:
    sources = config.sources
    if sources.simulate:
        pipeline.add_source("simulator", Simulator(built_in(sources.simulate, sources.seed), speed=sources.speed,
                                                         repeat=True))
    if sources.replay:
        pipeline.add_source("replay", FileReplay(sources.replay, speed=sources.speed))
    for protocol in ("udp", "tcp"):
        address = getattr(sources, protocol)
        if address:
            pipeline.add_source(protocol, JsonLinesListener(protocol, *host_port(address)))
    if sources.remoteid:
        lat, lon, alt = receiver_position(sources.remoteid_receiver)
        receiver = Sensor(id="rid-live", kind="remoteid", lat=lat, lon=lon, alt=alt)
        pipeline.add_source("remoteid", RemoteIdReceivers(sources.remoteid, receiver))
    if sources.adsb:
        lat, lon, alt = receiver_position(sources.adsb_receiver)
        receiver = Sensor(id="adsb-live", kind="adsb", lat=lat, lon=lon, alt=alt, sigma=dict(ADSB_SIGMA),
                          period_s=1.0)
        pipeline.add_source("adsb", AdsbReceiver(sources.adsb, receiver))
    if sources.asterix:
        for url in sources.asterix:
            parse_udp_url(url)
        common, per_source = edition_entries(sources.asterix_editions, "sources.asterix_editions")
        radars = dict(radar_entry(entry, "sources.asterix_radars") for entry in sources.asterix_radars)
        systems = dict(system_entry(entry, "sources.asterix_systems") for entry in sources.asterix_systems)
        pipeline.add_source("asterix", AsterixReceiver(sources.asterix, AsterixDecoder(
            radars, {source: sensor.id for source, sensor in systems.items()}, editions=common,
            source_editions=per_source, assumed_height_m=sources.asterix_assumed_height_m), list(systems.values())))
    if config.sapient.listen and nodes is not None:
        pipeline.add_source("sapient", SapientListener(*host_port(config.sapient.listen),
                                                       node_id=config.sapient.node_id, nodes=nodes))


def _add_outputs(config: Config, pipeline: Pipeline, nodes: SapientNodes | None) -> None:
    for tak in (t for t in config.tak if not t.sites or config.site.id in t.sites):
        output = TakOutput(tak, simulated=bool(config.sources.simulate))
        pipeline.add_output(f"tak {output.name}", output)
    for notify in (n for n in config.notify if not n.sites or config.site.id in n.sites):
        notifier = NotifyOutput(notify)
        pipeline.add_output(f"notify {notifier.name}", notifier)
    sapient = config.sapient
    if sapient.parent:
        pipeline.add_output("sapient-parent", SapientParent(*host_port(sapient.parent), node_id=sapient.node_id,
                                                            name=sapient.name, nodes=nodes))


async def serve(config: Config, *, parts: tuple[str, ...] = PARTS, durable: bool = False,
                announce: Any = print) -> None:
    """Run the site's ``parts`` until cancelled or a SIGINT/SIGTERM (``durable``: the stages read through
    durable consumers, as workers do)."""
    # the port first: a taken one stops the start with a clear error before anything runs
    listening = listen_socket(config.service.host, config.service.port) if "api" in parts else None
    repository = Repository(await asyncio.to_thread(open_database, config.database_url))
    created = first_admin(repository) if "api" in parts else None
    bus: Bus = InProcessBus()
    if config.bus.url:
        bus = await NatsBus.connect(config.bus.url, stream=config.bus.stream,
                                    max_age_s=config.bus.max_age_hours * 3600.0,
                                    name=f"dronewatch {config.site.id} {' '.join(parts)}")
    pipelines = build_pipelines(config, repository, bus, parts, durable=durable)
    names = {config.site.id: config.site.name, **{r.id: r.name or r.id for r in config.regions}}
    for site_id in pipelines:
        repository.ensure_site(site_id, names.get(site_id, site_id), time.time())
    server = None
    if "api" in parts:
        app = create_app(config, repository, pipelines)
        server = uvicorn.Server(uvicorn.Config(app, host=config.service.host, port=config.service.port,
                                               log_level="warning", lifespan="off"))

    async def purge() -> None:
        while True:
            await asyncio.sleep(config.retention.purge_every_minutes * 60.0)
            removed = await asyncio.to_thread(repository.purge, time.time(), config.retention)
            repository.audit("dronewatch", "retention.purge", f"site/{config.site.id}", at=time.time(),
                             detail=removed)

    for pipeline in pipelines.values():  # each site as it was, guarded before the first new record
        await pipeline.restore(repository)
    running = asyncio.create_task(_run_all(pipelines.values()))
    serving = asyncio.create_task(server.serve(sockets=[listening]) if server is not None and listening is not None
                                  else asyncio.Event().wait())
    purging = asyncio.create_task(purge() if "storage" in parts else asyncio.Event().wait())
    while server is not None and not server.started and not serving.done():
        await asyncio.sleep(0.05)
    restored = pipelines[config.site.id].stage("assessment").counts if config.site.id in pipelines else Counter()
    if "assessment" in parts and (restored["restored_sensors"] or restored["restored_zones"]
                                  or restored["restored_alerts"]):
        announce(f"restored from storage: {restored['restored_sensors']} sensor(s), {restored['restored_zones']} "
                 f"zone(s) in force, {restored['restored_alerts']} open alert(s)")
    where = (f"http://{config.service.host}:{config.service.port}/ (API docs at /docs)" if server is not None
             else ", ".join(parts))
    announce(f"dronewatch {config.site.id}: {where}, database "
             f"{repository.engine.url.render_as_string(hide_password=True)}"
             + (f", bus {config.bus.url} stream {config.bus.stream}" if config.bus.url else ""))
    if created:
        announce(f"first start: user {created[0]!r}, password {created[1]!r} (shown once; store it now)")
    try:
        # uvicorn handles SIGINT and SIGTERM: its server stops, then everything else
        await asyncio.wait([running, serving], return_when=asyncio.FIRST_COMPLETED)
    finally:
        if server is not None:
            server.should_exit = True
        else:
            serving.cancel()
        for pipeline in pipelines.values():
            pipeline.stop()
        ended = await asyncio.gather(running, serving, return_exceptions=True)
        purging.cancel()
        await bus.close()
        announce("dronewatch stopped")
    failure = next((e for e in ended if isinstance(e, DronewatchError)), None)
    if failure is not None:  # the pipeline could not run (its bus): the service stops with the reason
        raise failure


def listen_socket(host: str, port: int) -> socket.socket:
    """The service's listening socket, bound now; a :class:`ConfigError` naming the port if it cannot be."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        # the protocol named (IPPROTO_TCP), as asyncio's own listeners have it: asyncio sets TCP_NODELAY only on
        # connections whose socket says TCP, and without it Nagle's algorithm held WebSocket frames back ~40 ms
        listening = socket.socket(family, kind, proto)
        try:
            listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listening.bind(address)
            listening.listen()
        except OSError:
            listening.close()
            raise
        return listening
    except OSError as error:
        taken = error.errno == errno.EADDRINUSE
        raise ConfigError(f"service.port: cannot listen on {host}:{port}: "
                          + ("another program is using that port; stop it or choose another port "
                             "(dronewatch demo --port N, or [service] port / DRONEWATCH_SERVICE__PORT)"
                             if taken else str(error.strerror or error))) from None


async def _run_all(pipelines: Iterable[Pipeline]) -> None:
    """Every pipeline until all have stopped; the first to fail stops the others."""
    runs = [asyncio.create_task(p.run()) for p in pipelines]
    try:
        await asyncio.gather(*runs)
    finally:
        await cancel_and_wait(runs)


def stop_on_sigterm() -> None:
    """SIGTERM (systemd, docker, kill) stops the service as Ctrl-C does: cleanly."""
    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    stop_on_sigterm()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(config, announce=lambda text: print(text, file=sys.stderr, flush=True)))
    return 0
