"""The alert lifecycle: one alert per (track, zone, kind), opened, escalated, acknowledged, resolved.

Rules report *conditions* at every assessment step; the book turns them into alert lines:

- a condition opens an alert after it has held for ``open_after`` consecutive steps (its
  rule's choice: a zone entry at once, a prediction after two);
- the level only rises while the alert lives (a rise is a new line, and re-opens an
  acknowledged alert: the new level needs a new look); it never steps down, so it cannot flap;
- the alert resolves when its condition has been absent for ``clear_s`` (hysteresis), or at
  once when its track has ended; a later condition opens a new alert with a new id;
- a prediction's breach time ``t + eta_s`` is kept to within ``ETA_MOVED_S`` (or a tenth of the time
  left, if more): when the estimate moves further, a line with the new ``t`` and ``eta_s`` and the
  same level and state (a countdown from the last line stays true; it does not re-open an
  acknowledged alert); the reasons, which name the time left, change with it;
- an operator may acknowledge an open alert; it stays acknowledged until it escalates, its
  track is lost while the alert is held (the assessment decides which are), or it resolves;
- alerts a restarted service finds open (:meth:`AlertBook.restore`) are live again: they can be
  acknowledged and resolved, and they clear ``clear_s`` after the first step unless a person
  has done so (their tracks are gone: the tracker starts afresh, with new track ids).

A line is written whenever an alert opens, escalates, its predicted breach time moves, it is
acknowledged or it resolves.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from dronewatch.errors import ConfigError
from dronewatch.model import LEVELS, Alert, Level

ETA_MOVED_S = 3.0
"""How far an alert's predicted breach time may move before it gets a new line (see the module docstring)."""

AlertKey = tuple[str, str | None, str]
"""(subject, zone, kind): the subject is a track id, or ``swarm:<zone>`` for a swarm."""


@dataclass(frozen=True, slots=True)
class Condition:
    """What a rule found at one step."""

    key: AlertKey
    track: str
    level: Level
    reasons: tuple[str, ...]
    eta_s: float | None = None
    evidence: dict[str, Any] = field(default_factory=dict)
    open_after: int = 1
    lost: bool = False
    """Held for a track that is lost: the first such step writes a line (and re-opens an acknowledged alert)."""


@dataclass(slots=True)
class _Live:
    alert: Alert
    last_seen_t: float | None
    """None for a restored alert until the first step (the steps' clock is the tracks' time)."""
    lost: bool = False


class AlertBook:
    def __init__(self, clear_s: float = 15.0, id_prefix: str = "A", first_number: int = 1) -> None:
        self.clear_s = clear_s
        self.id_prefix = id_prefix
        self._live: dict[AlertKey, _Live] = {}
        self._streak: dict[AlertKey, int] = {}
        self._next = first_number
        """Alert ids count on from here (a restarted service continues its stored numbering)."""

    def restore(self, alerts: Iterable[Alert]) -> None:
        """Alerts left open or acknowledged by the previous run of the service (see the module docstring)."""
        for alert in alerts:
            self._live[(f"restored:{alert.id}", alert.zone, alert.kind)] = _Live(alert, None)

    @property
    def next_number(self) -> int:
        """The number the next new alert gets."""
        return self._next

    @property
    def open_alerts(self) -> list[Alert]:
        return [live.alert for live in self._live.values()]

    def step(self, t: float, conditions: Iterable[Condition], live_tracks: set[str]) -> list[Alert]:
        """Apply one step's conditions; return the alert lines it produced."""
        lines: list[Alert] = []
        present: dict[AlertKey, Condition] = {}
        for condition in conditions:
            held = present.get(condition.key)
            if held is None or LEVELS.index(condition.level) > LEVELS.index(held.level):
                present[condition.key] = condition
        self._streak = {key: self._streak.get(key, 0) + 1 for key in present}
        for key, condition in present.items():
            live = self._live.get(key)
            if live is None:
                if self._streak[key] >= condition.open_after:
                    alert = Alert(t=t, id=f"{self.id_prefix}{self._next}", track=condition.track,
                                  level=condition.level, kind=key[2], state="open", reasons=condition.reasons,
                                  zone=key[1], eta_s=condition.eta_s, evidence=condition.evidence)
                    self._next += 1
                    self._live[key] = _Live(alert, t)
                    lines.append(alert)
                continue
            live.last_seen_t = t
            newly_lost, live.lost = condition.lost and not live.lost, condition.lost
            if LEVELS.index(condition.level) > LEVELS.index(live.alert.level) or newly_lost:
                level = max(condition.level, live.alert.level, key=LEVELS.index)
                live.alert = replace(live.alert, t=t, level=level, state="open", track=condition.track,
                                     reasons=condition.reasons, eta_s=condition.eta_s, evidence=condition.evidence)
                lines.append(live.alert)
            elif _breach_moved(live.alert, t, condition.eta_s):
                live.alert = replace(live.alert, t=t, reasons=condition.reasons, eta_s=condition.eta_s,
                                     evidence=condition.evidence, track=condition.track)
                lines.append(live.alert)
            else:  # the latest evidence for whoever reads the open alerts, without a line
                live.alert = replace(live.alert, evidence=condition.evidence, track=condition.track)
        for key, live in list(self._live.items()):
            if key in present:
                continue
            if live.last_seen_t is None:
                live.last_seen_t = t
            subject_ended = not key[0].startswith(("swarm:", "restored:")) and key[0] not in live_tracks
            if subject_ended or t - live.last_seen_t >= self.clear_s:
                why = ("track ended" if subject_ended else f"not seen again within {self.clear_s:g} s of a restart"
                       if key[0].startswith("restored:") else f"condition cleared for {self.clear_s:g} s")
                lines.append(_restated(live.alert, t, state="resolved", reasons=(*live.alert.reasons, why)))
                del self._live[key]
        return lines

    def resolve(self, alert_id: str, t: float, by: str) -> Alert:
        """Close a live alert by hand; the line to write. The same condition later opens a new alert."""
        key, live = self._find(alert_id)
        del self._live[key]
        return _restated(live.alert, t, state="resolved", reasons=(*live.alert.reasons, f"resolved by {by}"))

    def acknowledge(self, alert_id: str, t: float, by: str) -> Alert:
        """Mark a live alert acknowledged by ``by``; the line to write."""
        _, live = self._find(alert_id)
        if live.alert.state != "acknowledged":
            live.alert = _restated(live.alert, t, state="acknowledged",
                                   reasons=(*live.alert.reasons, f"acknowledged by {by}"))
        return live.alert

    def commented(self, alert_id: str, t: float) -> Alert:
        """The live alert ``alert_id`` as a line at ``t`` for an operator's comment, its state unchanged
        (:class:`ConfigError` if it is not live)."""
        return _restated(self._find(alert_id)[1].alert, t)

    def _find(self, alert_id: str) -> tuple[AlertKey, _Live]:
        for key, live in self._live.items():
            if live.alert.id == alert_id:
                return key, live
        raise ConfigError(f"alert {alert_id!r} is not open (resolved, or never existed)")


def _restated(alert: Alert, t: float, **changes: Any) -> Alert:
    """The alert as a line at ``t`` with ``changes``: its predicted breach time ``t + eta_s`` kept (a
    countdown from the new line stays true). Never before the alert's last line: an operator's change is
    stamped by the service's clock, and a simulation faster than real time runs ahead of it."""
    t = max(t, alert.t)
    eta_s = None if alert.eta_s is None else max(alert.t + alert.eta_s - t, 0.0)
    return replace(alert, t=t, eta_s=eta_s, **changes)


def _breach_moved(alert: Alert, t: float, eta_s: float | None) -> bool:
    """Whether the breach time predicted at ``t`` is further from the alert's last line's than the book keeps."""
    if alert.eta_s is None or eta_s is None:
        return alert.eta_s != eta_s
    was, now = alert.t + alert.eta_s, t + eta_s
    if max(was, now) <= t + ETA_MOVED_S:
        return False  # due or overdue by either estimate: nothing left to count down
    return abs(now - was) > max(ETA_MOVED_S, 0.1 * eta_s)
