"""``dronewatch serve --config site.toml``: the live service (pipeline, storage, API) until Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
import time
from typing import Any

import uvicorn

from dronewatch.api.app import create_app
from dronewatch.api.security import hash_password, new_password
from dronewatch.bus import Bus
from dronewatch.bus.nats import NatsBus
from dronewatch.cli import COMMANDS
from dronewatch.config import Config, host_port, load_config
from dronewatch.errors import DronewatchError
from dronewatch.ingest.sapient import SapientListener, SapientNodes
from dronewatch.model import Sensor
from dronewatch.outputs.sapient import SapientParent
from dronewatch.outputs.tak import TakOutput
from dronewatch.service.pipeline import Pipeline
from dronewatch.service.sources import FileReplay, JsonLinesListener, RemoteIdReceivers, Simulator
from dronewatch.sim.scenarios import built_in
from dronewatch.storage import Repository, open_database

log = logging.getLogger(__name__)


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


def build_pipeline(config: Config, repository: Repository, bus: Bus | None = None) -> Pipeline:
    sources = config.sources
    live = bool(sources.udp or sources.tcp or sources.remoteid or config.sapient.listen)
    pipeline = Pipeline(config.site.id, repository, bus, live=live,
                        first_alert_number=repository.alert_count(config.site.id) + 1, ingest=config.ingest,
                        tracking=config.tracking, assessment=config.assessment)
    if sources.simulate:
        pipeline.add_source("simulator", Simulator(built_in(sources.simulate, sources.seed), speed=sources.speed,
                                                         repeat=True))
    if sources.replay:
        pipeline.add_source("replay", FileReplay(sources.replay, speed=sources.speed))
    for protocol in ("udp", "tcp"):
        address = getattr(sources, protocol)
        if address:
            pipeline.add_source(protocol, JsonLinesListener(protocol, *host_port(address)))
    for tak in (t for t in config.tak if not t.sites or config.site.id in t.sites):
        output = TakOutput(tak, simulated=bool(sources.simulate))
        pipeline.add_output(f"tak {output.name}", output)
    if sources.remoteid:
        lat, lon, alt = (float(v) for v in sources.remoteid_receiver.split(","))
        receiver = Sensor(id="rid-live", kind="remoteid", lat=lat, lon=lon, alt=alt)
        pipeline.add_source("remoteid", RemoteIdReceivers(sources.remoteid, receiver))
    sapient = config.sapient
    nodes = SapientNodes()
    if sapient.listen:
        pipeline.add_source("sapient", SapientListener(*host_port(sapient.listen), node_id=sapient.node_id,
                                                       nodes=nodes))
    if sapient.parent:
        pipeline.add_output("sapient-parent", SapientParent(*host_port(sapient.parent), node_id=sapient.node_id,
                                                            name=sapient.name,
                                                            nodes=nodes if sapient.listen else None))
    return pipeline


async def serve(config: Config, *, announce: Any = print) -> None:
    """Run the service until cancelled or a SIGINT/SIGTERM."""
    repository = Repository(await asyncio.to_thread(open_database, config.database_url))
    repository.ensure_site(config.site.id, config.site.name, time.time())
    created = first_admin(repository)
    bus = None
    if config.bus.url:
        bus = await NatsBus.connect(config.bus.url, stream=config.bus.stream,
                                    max_age_s=config.bus.max_age_hours * 3600.0, name=f"dronewatch {config.site.id}")
    pipeline = build_pipeline(config, repository, bus)
    app = create_app(config, repository, {config.site.id: pipeline})
    server = uvicorn.Server(uvicorn.Config(app, host=config.service.host, port=config.service.port,
                                           log_level="warning", lifespan="off"))

    async def purge() -> None:
        while True:
            await asyncio.sleep(config.retention.purge_every_minutes * 60.0)
            removed = await asyncio.to_thread(repository.purge, time.time(), config.retention)
            repository.audit("dronewatch", "retention.purge", f"site/{config.site.id}", at=time.time(),
                             detail=removed)

    await pipeline.restore(repository)  # the site as it was, guarded before the first new record
    tasks = [asyncio.create_task(pipeline.run()), asyncio.create_task(server.serve()), asyncio.create_task(purge())]
    while not server.started and not tasks[1].done():
        await asyncio.sleep(0.05)
    restored = pipeline.stage("assessment").counts
    if restored["restored_sensors"] or restored["restored_zones"] or restored["restored_alerts"]:
        announce(f"restored from storage: {restored['restored_sensors']} sensor(s), {restored['restored_zones']} "
                 f"zone(s) in force, {restored['restored_alerts']} open alert(s)")
    announce(f"dronewatch {config.site.id}: http://{config.service.host}:{config.service.port}/ "
             f"(API docs at /docs), database {repository.engine.url.render_as_string(hide_password=True)}"
             + (f", bus {config.bus.url} stream {config.bus.stream}" if config.bus.url else ""))
    if created:
        announce(f"first start: user {created[0]!r}, password {created[1]!r} (shown once; store it now)")
    try:
        # uvicorn handles SIGINT and SIGTERM: its server stops, then everything else
        await asyncio.wait([tasks[0], tasks[1]], return_when=asyncio.FIRST_COMPLETED)
    finally:
        server.should_exit = True
        pipeline.stop()
        ended = await asyncio.gather(tasks[0], tasks[1], return_exceptions=True)
        tasks[2].cancel()
        await pipeline.bus.close()
        announce("dronewatch stopped")
    failure = next((e for e in ended if isinstance(e, DronewatchError)), None)
    if failure is not None:  # the pipeline could not run (its bus): the service stops with the reason
        raise failure


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
