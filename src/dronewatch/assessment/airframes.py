"""The airframe lists: authorised drones (allow-list) and drones of concern (watch-list), by identity.

An entry names a broadcast identity (a Remote ID UAS ID or serial number, or an ICAO address),
the sites it applies to (none: every site), when it is valid, who authorised it and why. While
an entry is valid, every alert condition on a track carrying its identity is changed:

- **allow**: one level lower (critical to warning, warning to info), the reason saying who
  authorised it until when. A ``remote_id_spoof`` condition is left as it is: an authorised
  identity flying where a radar says it is not is exactly what a forger would look like.
- **watch**: one level higher (info to warning, warning to critical), and a ``watch_list``
  warning of its own for as long as the track is seen, wherever it flies.

Levels of open alerts only ever rise (``alerts.py``): an entry made while an alert is open
lowers what comes after it, not that alert.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Literal

from dronewatch.assessment.alerts import Condition
from dronewatch.model import LEVELS

ListName = Literal["allow", "watch"]
LIST_NAMES: tuple[ListName, ...] = ("allow", "watch")
NOT_LOWERED = frozenset({"remote_id_spoof"})


@dataclass(frozen=True, slots=True)
class ListEntry:
    identity: str
    list: ListName
    valid_from: float
    valid_to: float
    added_by: str
    note: str = ""
    sites: tuple[str, ...] = ()
    id: int = 0

    def applies(self, t: float, site_id: str) -> bool:
        return self.valid_from <= t <= self.valid_to and (not self.sites or site_id in self.sites)

    def reason(self) -> str:
        until = datetime.fromtimestamp(self.valid_to, UTC).strftime("%Y-%m-%d %H:%M UTC")
        what = "allow-listed" if self.list == "allow" else "watch-listed"
        return f"{what} {self.identity} by {self.added_by} until {until}" + (f": {self.note}" if self.note else "")

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> ListEntry:
        return cls(identity=row["identity"], list=row["list"], valid_from=row["valid_from"],
                   valid_to=row["valid_to"], added_by=row["added_by"], note=row["note"] or "",
                   sites=tuple(row["sites"] or ()), id=row["id"])


def normal_identity(identity: str) -> str:
    """Identities compare without case or surrounding blanks (an ICAO address is hex, in either case)."""
    return identity.strip().upper()


class AirframeLists:
    """The entries in force for one site."""

    def __init__(self, entries: Iterable[ListEntry] = (), site_id: str = "") -> None:
        self.site_id = site_id
        self._by_identity: dict[str, list[ListEntry]] = {}
        for entry in entries:
            self._by_identity.setdefault(normal_identity(entry.identity), []).append(entry)

    def __len__(self) -> int:
        return sum(map(len, self._by_identity.values()))

    def entry(self, identities: Sequence[str], t: float) -> ListEntry | None:
        """The entry valid at ``t`` for any of a track's identities; a watch entry before an allow entry."""
        found = [e for identity in identities for e in self._by_identity.get(normal_identity(identity), ())
                 if e.applies(t, self.site_id)]
        return min(found, key=lambda e: (e.list != "watch", e.valid_to), default=None)

    def apply(self, t: float, conditions: list[Condition], identities: Mapping[str, Sequence[str]],
              evidence_of: Callable[[str], dict[str, Any]]) -> list[Condition]:
        """``conditions`` with each listed track's levels changed and its reasons told; a ``watch_list``
        condition for each watch-listed track seen (``identities``: the tracks reported now, and theirs;
        ``evidence_of``: a track's evidence, for that condition)."""
        if not self._by_identity:
            return conditions
        entries = {track: e for track, ids in identities.items() if ids and (e := self.entry(ids, t)) is not None}
        if not entries:
            return conditions
        changed = []
        for condition in conditions:
            entry = entries.get(condition.track)
            if entry is None or (entry.list == "allow" and condition.key[2] in NOT_LOWERED):
                changed.append(condition)
                continue
            step = -1 if entry.list == "allow" else 1
            level = LEVELS[min(max(LEVELS.index(condition.level) + step, 0), len(LEVELS) - 1)]
            changed.append(replace(condition, level=level, reasons=(*condition.reasons, entry.reason())))
        for track, entry in entries.items():
            if entry.list == "watch":
                changed.append(Condition((track, None, "watch_list"), track, "warning", (entry.reason(),), None,
                                         {**evidence_of(track), "list_entry": entry.id}))
        return changed
