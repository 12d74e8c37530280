"""Make docs/examples/evidence-report.pdf and docs/img/evidence-report.png: the evidence report of the demo's
attack (``border-station``, seed 7, as ``dronewatch demo`` runs it) at its first critical alert.

The scenario runs through the live pipeline into a temporary SQLite database, an operator acknowledges the
alert (so the report shows who did what), and the alert's package is exported and verified. The PNG of the
report's first page needs ``pdftoppm`` (Debian's poppler-utils).

Run: ``.venv/bin/python docs/examples/make_evidence_example.py``
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from dronewatch.evidence import collect, export, site_key, verify_package
from dronewatch.ingest.sources import Simulator
from dronewatch.model import Alert
from dronewatch.service.pipeline import Pipeline
from dronewatch.sim.scenarios import built_in
from dronewatch.storage import Repository, open_database

DOCS = Path(__file__).resolve().parent.parent
START = 1_796_000_000.0  # 2026-11-30 (UTC): a fixed time, so that the example does not change between runs


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="dronewatch-example-") as folder:
        root = Path(folder)
        repository = Repository(open_database(f"sqlite:///{root / 'dronewatch.db'}"))
        repository.ensure_site("demo", "Border station (simulated)", START)

        async def run() -> None:
            pipeline = Pipeline("demo", repository, live=False)
            pipeline.add_source("simulator", Simulator(built_in("border-station", 7, 600.0), speed=0.0,
                                                       clock=lambda: START))
            task = asyncio.create_task(pipeline.run())
            while not pipeline.stage("simulator").counts["runs"]:
                await asyncio.sleep(0.1)
            await asyncio.sleep(0.2)
            await pipeline.drain(300.0)
            pipeline.stop()
            await task

        print("simulating border-station seed 7 through the pipeline ...", file=sys.stderr)
        asyncio.run(run())
        critical = next(a for a in repository.alert_rows("demo") if a["level"] == "critical")
        repository.save_alert("demo", Alert(t=critical["opened_at"] + 4.0, id=critical["id"],
                                            track=critical["track_id"], level="critical", kind=critical["kind"],
                                            state="acknowledged", reasons=tuple(critical["reasons"]),
                                            zone=critical["zone_id"]),
                              actor="officer.reyes", comment="drone seen from the gate, heading for the yard")
        package = root / "incident.zip"
        export(repository, collect(repository, "demo", alert_id=critical["id"]), site_key(root / "key.pem"), package,
               actor="analyst.kim", at=critical["updated_at"] + 600.0)
        verdict = verify_package(package)
        print(verdict.message, file=sys.stderr)
        if not verdict.ok:
            return 1
        pdf = DOCS / "examples" / "evidence-report.pdf"
        pdf.write_bytes(zipfile.ZipFile(package).read("report.pdf"))
        print(f"wrote {pdf}", file=sys.stderr)
        if shutil.which("pdftoppm"):
            subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", "-singlefile", str(pdf),
                            str(DOCS / "img" / "evidence-report")], check=True)
            print(f"wrote {DOCS / 'img' / 'evidence-report.png'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
