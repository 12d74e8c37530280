"""Threat posture: intelligence (a threat on social media, a leaked operation) changes how a site is guarded.

An analyst records a **bulletin**: its text and source, the sites it concerns (none: every
site), when it is valid, and a level. A site's posture at a time is the highest level of the
bulletins valid for it then (``normal`` without any). Each level changes the assessment's
tuning (:data:`POSTURE_CHANGES`, documented in docs/assessment.md):

=====================  =========  ===========  ==========
                       normal     elevated     high
=====================  =========  ===========  ==========
warning horizon        as set     x 1.5        x 2
critical horizon       as set     x 1.5        x 2
zone buffer            as set     + 100 m      + 150 m
outer ring waits       as set     halfway to settle_s
loiter time            as set     x 0.75       x 0.5
=====================  =========  ===========  ==========

Warnings so come earlier and from further out, an approach ring hears of a drone sooner, and
a drone holding near the site is called loitering sooner: more alerts, on purpose, for as
long as the bulletin says. The classifier's bar (``settled_confidence``) is not lowered: on
the simulator that let birds through and tripled the false warnings of ``high`` for four
seconds more warning (benchmarks/bench_posture.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from dronewatch.assessment.config import AssessmentConfig

PostureLevel = Literal["normal", "elevated", "high"]
POSTURE_LEVELS: tuple[PostureLevel, ...] = ("normal", "elevated", "high")


@dataclass(frozen=True, slots=True)
class Bulletin:
    text: str
    level: PostureLevel
    valid_from: float
    valid_to: float
    recorded_by: str
    source: str = ""
    sites: tuple[str, ...] = ()
    id: int = 0

    def applies(self, t: float, site_id: str) -> bool:
        return self.valid_from <= t <= self.valid_to and (not self.sites or site_id in self.sites)

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> Bulletin:
        return cls(text=row["text"], level=row["level"], valid_from=row["valid_from"], valid_to=row["valid_to"],
                   recorded_by=row["recorded_by"], source=row["source"] or "", sites=tuple(row["sites"] or ()),
                   id=row["id"])


def at_posture(config: AssessmentConfig, level: PostureLevel) -> AssessmentConfig:
    """``config`` as the posture ``level`` changes it (the table in the module docstring)."""
    if level == "normal":
        return config
    factor, buffer_m, loiter = (1.5, 100.0, 0.75) if level == "elevated" else (2.0, 150.0, 0.5)
    return replace(config, warning_horizon_s=config.warning_horizon_s * factor,
                   critical_horizon_s=config.critical_horizon_s * factor, zone_buffer_m=config.zone_buffer_m + buffer_m,
                   outer_settle_s=(config.settle_s + config.outer_settle_s) / 2, loiter_s=config.loiter_s * loiter)


class Posture:
    """The level bulletins set at one site at a time (those of other sites do not apply there)."""

    def __init__(self, bulletins: Iterable[Bulletin] = (), site_id: str = "") -> None:
        self.site_id = site_id
        self.bulletins = list(bulletins)

    def in_force(self, t: float) -> list[Bulletin]:
        return [b for b in self.bulletins if b.applies(t, self.site_id)]

    def level_at(self, t: float) -> PostureLevel:
        return max((b.level for b in self.in_force(t)), key=POSTURE_LEVELS.index, default="normal")


def posture_line(site_id: str, level: PostureLevel, t: float, bulletins: Sequence[Bulletin]) -> dict[str, Any]:
    """The ``posture`` message a site's assessment publishes when its level changes (docs/scale-out.md)."""
    return {"type": "posture", "site": site_id, "level": level, "t": t,
            "bulletins": [{"id": b.id, "level": b.level, "text": b.text, "source": b.source,
                           "valid_to": b.valid_to, "recorded_by": b.recorded_by} for b in bulletins]}
