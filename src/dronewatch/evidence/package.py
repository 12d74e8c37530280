"""An incident evidence package: what dronewatch stored about an alert, or a site and time window, as
a zip anyone can check (``verify.py``).

The package holds a PDF report, the tracks (GeoJSON, KML, GPX, CSV), the raw detections as
scenario JSON Lines (sensor and zone lines first: the file replays through ``dronewatch track``),
the alerts with every change and who made it, the sensors with their health over the window, and
``manifest.json``: the SHA-256 of every file, the audit chain's head at export and the export's own
audit record (whose detail holds the same hashes), signed with the site's Ed25519 key in
``manifest.sig``. The audit record is written before the manifest is signed, so every package
that exists is in the audit log.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import time
import uuid
import zipfile
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any, TextIO

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dronewatch import __version__
from dronewatch.evidence.incident import (
    FORMAT,
    MANIFEST,
    PUBLIC_KEY,
    SIGNATURE,
    HealthCount,
    Incident,
    without_cyclic_gc,
)
from dronewatch.evidence.keys import fingerprint, public_pem
from dronewatch.evidence.report import write_report
from dronewatch.evidence.tracks import spell, track_summary, write_csv, write_geojson, write_gpx, write_kml
from dronewatch.formats.scenario import record_to_dict
from dronewatch.storage import Repository


def export(repository: Repository, incident: Incident, key: Ed25519PrivateKey, destination: str | Path, *,
           actor: str, source: str = "local", at: float,
           progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Write the package to ``destination`` (a new file: written beside it, then renamed); its manifest.

    The export is appended to the audit log (``evidence_export``) before the manifest is signed."""
    with without_cyclic_gc():
        return _export(repository, incident, key, Path(destination), actor, source, at, progress)


def _export(repository: Repository, incident: Incident, key: Ed25519PrivateKey, destination: Path, actor: str,
            source: str, at: float, progress: Callable[[str], None] | None) -> dict[str, Any]:
    partial = destination.with_name(f".{destination.name}.{os.getpid()}.partial")
    package_id = str(uuid.uuid4())
    files: list[dict[str, Any]] = []
    say = progress or (lambda _: None)
    try:
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
            def add(name: str, write: Callable[[TextIO], None]) -> None:
                say(f"writing {name}")
                with archive.open(_entry(name, at), "w") as raw:
                    hashed = _Hashing(raw)
                    with io.TextIOWrapper(io.BufferedWriter(hashed, 1 << 20), encoding="utf-8", newline="") as text:
                        write(text)
                files.append({"name": name, "sha256": hashed.sha256.hexdigest(), "bytes": hashed.size})

            operators = incident.operators or []
            summaries = {tid: track_summary(reports) for tid, reports in incident.tracks.items() if reports}
            say("spelling the track points")
            tracks = spell({tid: reports for tid, reports in incident.tracks.items() if reports})
            add("tracks.geojson", lambda out: write_geojson(tracks, summaries, operators, out))
            add("tracks.kml", lambda out: write_kml(tracks, summaries, operators, out, incident.name))
            add("tracks.gpx", lambda out: write_gpx(tracks, summaries, operators, out, incident.name))
            add("tracks.csv", lambda out: write_csv(tracks, out))
            add("detections.jsonl", lambda out: _write_detections(out, repository, incident))
            add("alerts.json", lambda out: json.dump(incident.alerts, out, indent=1, ensure_ascii=False))
            add("sensors.json", lambda out: json.dump(
                [{**record_to_dict(s), "health": incident.sensor_health.get(s.id)} for s in incident.sensors],
                out, indent=1))
            say("drawing report.pdf")
            report = write_report(incident, summaries, package_id=package_id, key_fingerprint=fingerprint(key),
                                  at=at, actor=actor)
            archive.writestr(_entry("report.pdf", at), report)
            files.append({"name": "report.pdf", "sha256": hashlib.sha256(report).hexdigest(), "bytes": len(report)})

            head = repository.audit_head()
            scope = {"alert": incident.alert_id, "from": incident.t_from, "to": incident.t_to}
            seq = repository.audit(actor, "evidence_export", f"site:{incident.site_id}", at=at, source=source,
                                   detail={"package": package_id, "scope": scope,
                                           "operators": incident.operators is not None,
                                           "files": {f["name"]: f["sha256"] for f in files}})
            record = repository.audit_record(seq)
            assert record is not None
            manifest = {"format": FORMAT, "package": package_id, "site": {"id": incident.site_id,
                                                                          "name": incident.site_name},
                        "scope": scope, "exported_at": at, "exported_by": actor, "dronewatch": __version__,
                        "operator_positions": "included" if incident.operators is not None
                        else "withheld: the one exporting may not see them",
                        "files": files,
                        "audit": {"head_at_export": head, "export_record": record},
                        "signature": {"algorithm": "Ed25519", "file": SIGNATURE,
                                      "public_key_sha256": fingerprint(key)}}
            body = json.dumps(manifest, indent=1, ensure_ascii=False).encode() + b"\n"
            archive.writestr(_entry(MANIFEST, at), body)
            archive.writestr(_entry(SIGNATURE, at), key.sign(body))
            archive.writestr(_entry(PUBLIC_KEY, at), public_pem(key))
        partial.replace(destination)
    finally:
        partial.unlink(missing_ok=True)
    say(f"wrote {destination}")
    return manifest


def _entry(name: str, at: float) -> zipfile.ZipInfo:
    """A zip entry dated at the export (UTC), compressed."""
    entry = zipfile.ZipInfo(name, time.gmtime(at)[:6])
    entry.compress_type = zipfile.ZIP_DEFLATED
    # level 1 packs text several times faster than the default 6; compress_level from Python 3.13
    entry._compresslevel = 1  # type: ignore[attr-defined]
    return entry


def _write_detections(out: TextIO, repository: Repository, incident: Incident) -> None:
    """The detections as a scenario: a header line, the sensors and zones, then every detection of the window;
    the sensors' health counted on the way (``incident.sensor_health``)."""
    header = [{"type": "scenario", "name": incident.name, "site": incident.site_id, "from": incident.t_from,
               "to": incident.t_to}, *map(record_to_dict, incident.sensors), *map(record_to_dict, incident.zones)]
    out.write("".join(json.dumps(line) + "\n" for line in header))
    health = HealthCount(incident.t_from, incident.t_to)
    for batch in repository.detection_lines(incident.site_id, incident.t_from, incident.t_to):
        sensors, times, lines = zip(*batch, strict=True)
        health.add(sensors, times)
        out.write("\n".join(lines) + "\n")
    incident.sensor_health = health.result()


class _Hashing(io.RawIOBase):
    """A write-only stream that keeps the SHA-256 and count of the bytes it passes on.

    Hashing, CRC and deflate release the GIL, so they run in a thread of their own while the next
    lines are formatted: an hour's package is 300 MB of text."""

    IN_FLIGHT = 4  # chunks queued at most: a few MiB of memory

    def __init__(self, target: IO[bytes]) -> None:
        self.target, self.sha256, self.size = target, hashlib.sha256(), 0
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="evidence-deflate")
        self._pending: deque[Future[None]] = deque()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)  # the buffered writer above reuses its buffer
        self.size += len(chunk)
        self._pending.append(self._worker.submit(self._pass_on, chunk))
        while len(self._pending) > self.IN_FLIGHT:
            self._pending.popleft().result()
        return len(chunk)

    def _pass_on(self, chunk: bytes) -> None:
        self.sha256.update(chunk)
        self.target.write(chunk)

    def close(self) -> None:
        try:
            while self._pending:
                self._pending.popleft().result()
        finally:
            self._worker.shutdown(cancel_futures=True)
            super().close()
