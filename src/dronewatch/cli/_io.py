"""Helpers the sub-commands share: reading scenario files with progress, opening outputs."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING

from tqdm import tqdm

from dronewatch.formats.scenario import OnError, ReadStats, ScenarioReader

if TYPE_CHECKING:
    from dronewatch.assessment.config import AssessmentConfig
    from dronewatch.tracking.config import TrackerConfig

# Files smaller than this finish before a progress bar is worth drawing.
_PROGRESS_MIN_BYTES = 2_000_000


def add_config_option(parser: argparse.ArgumentParser, sections: str) -> None:
    parser.add_argument("--config", metavar="SITE.toml",
                        help=f"tune the run by this site configuration's {sections} (with its DRONEWATCH_ "
                             "environment overrides, as dronewatch serve reads it); default: the built-in tuning")


def site_tuning(path: str | None) -> tuple[TrackerConfig | None, AssessmentConfig | None]:
    """The tracker's and the assessment's tuning from the site configuration at ``path`` (none: the
    built-in tuning, without reading the configuration at all)."""
    if not path:
        return None, None
    from dronewatch.config import load_config  # noqa: PLC0415 (only when asked: batch commands start fast)

    config = load_config(path)
    return config.tracking, config.assessment


def read_scenario(path: str, *, on_error: OnError = "skip", progress: bool = True) -> ScenarioReader:
    """A streaming reader over ``path`` (``-``: standard input), with a byte progress bar on stderr."""

    def lines() -> Iterator[str]:
        if path == "-":
            yield from sys.stdin
            return
        size = os.path.getsize(path)
        show = progress and size >= _PROGRESS_MIN_BYTES and sys.stderr.isatty()
        with open(path, encoding="utf-8") as handle, tqdm(
            total=size, unit="B", unit_scale=True, desc=Path(path).name, disable=not show, leave=False,
            file=sys.stderr,
        ) as bar:
            pending = 0
            for line in handle:
                pending += len(line)
                if pending > 1 << 20:
                    bar.update(pending)
                    pending = 0
                yield line

    return ScenarioReader(lines(), source=path, on_error=on_error)


@contextlib.contextmanager
def open_output(path: str) -> Iterator[IO[str]]:
    """``path`` opened for writing text, or standard output for ``-``."""
    if path == "-":
        yield sys.stdout
        sys.stdout.flush()
        return
    with open(path, "w", encoding="utf-8") as handle:
        yield handle


def format_bad_lines(stats: ReadStats, limit: int = 5) -> list[str]:
    """Lines for a summary: how many lines were rejected, and the first few reasons."""
    if not stats.bad_lines:
        return []
    out = [f"bad lines skipped: {stats.bad_lines}"]
    out += [f"  {error}" for error in stats.errors[:limit]]
    if stats.bad_lines > limit:
        out.append(f"  ... and {stats.bad_lines - limit} more")
    return out
