"""Helpers the sub-commands share: reading scenario files with progress, opening outputs."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from tqdm import tqdm

from dronewatch.errors import FormatError
from dronewatch.formats.scenario import OnError, ReadStats, ScenarioReader
from dronewatch.model import Record

if TYPE_CHECKING:
    from dronewatch.assessment.config import AssessmentConfig
    from dronewatch.tracking.config import TrackerConfig

PROGRESS_AFTER_S = 1.0
"""A progress bar shows once work has taken this long: short runs finish without one flashing by."""


def progress_bar(items: Iterable[Any] | None = None, *, show: bool = True, **options: Any) -> tqdm[Any]:
    """A progress bar on stderr, when it is a terminal, from ``PROGRESS_AFTER_S`` into the work on."""
    return tqdm(items, disable=not (show and sys.stderr.isatty()), leave=False, file=sys.stderr,
                delay=PROGRESS_AFTER_S, **options)


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
        with open(path, encoding="utf-8") as handle, progress_bar(
            show=progress, total=size, unit="B", unit_scale=True, desc=Path(path).name,
        ) as bar:
            pending = 0
            for line in handle:
                pending += len(line)
                if pending > 1 << 16:
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


def read_all(path: str, *, progress: bool = True) -> tuple[list[Record], ReadStats]:
    """Every record of ``path`` (see :func:`read_scenario`), which must hold one (:func:`require_records`)."""
    reader = read_scenario(path, progress=progress)
    records = list(reader)
    require_records(reader)
    return records, reader.stats


def require_records(reader: ScenarioReader) -> None:
    """After a command has read an input it cannot do without: a :class:`FormatError` if it held no scenario
    line at all (an empty file, or bad lines only). Every batch command treats such input alike."""
    stats = reader.stats
    if not stats.records:
        why = f"its {stats.bad_lines} line(s) are all bad, the first: {stats.errors[0]}" if stats.errors else "empty"
        raise FormatError(f"no scenario lines ({why})", source=reader.source)


def format_bad_lines(stats: ReadStats, limit: int = 5) -> list[str]:
    """Lines for a summary: how many lines were rejected, and the first few reasons."""
    if not stats.bad_lines:
        return []
    out = [f"bad lines skipped: {stats.bad_lines}"]
    out += [f"  {error}" for error in stats.errors[:limit]]
    if stats.bad_lines > limit:
        out.append(f"  ... and {stats.bad_lines - limit} more")
    return out
