"""Per-transmitter Remote ID reassembly into ``remoteid`` detections for the tracker.

A drone's messages arrive spread over frames (one message per Bluetooth 4 advertisement)
or together (packs). Per transmitter address the latest Basic ID, System, Operator ID and
Self-ID are kept; every new Location (exact repeats are dropped) becomes one detection
once the transmitter's UAS ID is known (a Location that came first is emitted when the
Basic ID follows within ``pending_s``). The detection's time is the Location's own timestamp (tenths of a second
after the UTC hour) placed in the hour of the receive time, when that lies within
``max_clock_skew_s`` of it; otherwise the receive time.

Authentication pages are collected per transmitter and authentication type; a complete set
becomes the record's :class:`Signature` (checking it needs the issuer's key, which is not
ours to have); a set still incomplete ``auth_timeout_s`` after its first page is dropped and
counted, as is one whose pages contradict each other.

Altitude: the geodetic (ellipsoid) altitude; else the barometric one; else, when the
receiver's ground altitude is given, the reported height added to it (many drones, the
Parrot Anafi among them, send only the height above take-off).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from dronewatch.errors import DecodeError
from dronewatch.formats.remoteid import Authentication, BasicId, Location, Message, OperatorId, SelfId, System
from dronewatch.formats.remoteid.authentication import Signature, join_pages
from dronewatch.formats.remoteid.enums import AuthType
from dronewatch.model import Detection

_HOUR_S = 3600.0


@dataclass(slots=True)
class RemoteIdRecord:
    """What one transmitter has told so far: the current record of one drone."""

    uas_id: str | None = None
    system: System | None = None
    operator_id: str | None = None
    self_id: str | None = None
    last: Location | None = None
    """The latest Location."""
    last_seen: float | None = None
    signature: Signature | None = None
    pending: tuple[float, Location] | None = None
    auth_pages: dict[AuthType | None, tuple[float, list[Authentication]]] = field(default_factory=dict)


@dataclass(slots=True)
class RemoteIdAssembler:
    """Feed decoded messages with :meth:`add`; it returns the detections they complete."""

    sensor_id: str = "rid-1"
    pending_s: float = 2.0
    max_clock_skew_s: float = 10.0
    ground_alt_m: float | None = None
    auth_timeout_s: float = 10.0
    skipped: Counter[str] = field(default_factory=Counter)
    records: dict[str, RemoteIdRecord] = field(default_factory=dict)
    """Per transmitter address."""

    def add(self, t_received: float, sender: str, messages: tuple[Message, ...] | list[Message]) -> list[Detection]:
        state = self.records.setdefault(sender, RemoteIdRecord())
        state.last_seen = t_received
        out: list[Detection] = []
        locations: list[Location] = []
        for message in messages:
            if isinstance(message, BasicId) and isinstance(message.uas_id, str) and message.uas_id:
                state.uas_id = message.uas_id
            elif isinstance(message, System):
                state.system = message
            elif isinstance(message, OperatorId):
                state.operator_id = message.operator_id or None
            elif isinstance(message, SelfId):
                state.self_id = message.description or None
            elif isinstance(message, Location):
                locations.append(message)
            elif isinstance(message, Authentication):
                self._add_page(t_received, message, state)
        if state.uas_id is not None and state.pending is not None:
            held_t, held = state.pending
            state.pending = None
            if t_received - held_t <= self.pending_s:
                out += self._detection(held_t, held, state)
        for location in locations:
            if state.uas_id is None:
                state.pending = (t_received, location)
                continue
            out += self._detection(t_received, location, state)
        return out

    def _add_page(self, t_received: float, page: Authentication, state: RemoteIdRecord) -> None:
        for kind, (started, _) in list(state.auth_pages.items()):
            if t_received - started > self.auth_timeout_s:
                del state.auth_pages[kind]
                self.skipped["authentication incomplete"] += 1
        _, pages = state.auth_pages.setdefault(page.auth_type, (t_received, []))
        pages.append(page)
        first = next((p for p in pages if p.page == 0), None)
        if first is None or first.last_page_index is None:
            return
        if len({p.page for p in pages}) < first.last_page_index + 1:
            return
        del state.auth_pages[page.auth_type]
        try:
            state.signature = join_pages(pages)
        except DecodeError:
            self.skipped["authentication inconsistent"] += 1

    def _detection(self, t_received: float, location: Location, state: RemoteIdRecord) -> list[Detection]:
        if location == state.last:
            # transmitters repeat an unchanged Location in every frame until it changes
            self.skipped["repeat"] += 1
            return []
        state.last = location
        if location.lat is None or location.lon is None:
            self.skipped["no position"] += 1
            return []
        altitude = location.geodetic_altitude_m
        if altitude is None:
            altitude = location.pressure_altitude_m
        if altitude is None and location.height_m is not None and self.ground_alt_m is not None:
            altitude = self.ground_alt_m + location.height_m
        if altitude is None:
            self.skipped["no altitude"] += 1
            return []
        system = state.system
        return [Detection(
            t=self._time(t_received, location.timestamp_s), sensor=self.sensor_id, lat=location.lat,
            lon=location.lon, alt=altitude, uas_id=state.uas_id, speed_mps=location.speed_mps,
            track_deg=location.direction_deg % 360.0 if location.direction_deg is not None else None,
            operator_lat=system.operator_lat if system else None, operator_lon=system.operator_lon if system else None,
        )]

    def _time(self, t_received: float, seconds_after_hour: float | None) -> float:
        if seconds_after_hour is None:
            return t_received
        hour = t_received - t_received % _HOUR_S
        # the timestamp wraps every hour: take the reading nearest the receive time
        best = min((hour + shift + seconds_after_hour for shift in (-_HOUR_S, 0.0, _HOUR_S)),
                   key=lambda t: abs(t - t_received))
        return best if abs(best - t_received) <= self.max_clock_skew_s else t_received
