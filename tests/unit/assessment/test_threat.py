"""Threat rules on small hand-made tracks, hysteresis and the alert lifecycle."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import pytest

from dronewatch.assessment import AlertBook, AssessmentConfig, Assessor, Condition, SoftmaxModel
from dronewatch.assessment.airframes import AirframeLists, ListEntry
from dronewatch.assessment.classify import FEATURES, MODEL_CLASSES
from dronewatch.assessment.posture import POSTURE_LEVELS, Bulletin, Posture, at_posture
from dronewatch.errors import ConfigError
from dronewatch.model import Alert, TrackReport
from dronewatch.sim.scenarios import SITE, station_sensors, station_zones

T0 = 1_764_000_000.0


def always(cls: str) -> SoftmaxModel:
    """A model that calls every track ``cls`` (p ~ 0.99), to test the rules apart from the classifier."""
    bias = np.full(len(MODEL_CLASSES), -5.0)
    bias[MODEL_CLASSES.index(cls)] = 5.0  # type: ignore[arg-type]
    return SoftmaxModel(np.zeros(len(FEATURES)), np.ones(len(FEATURES)),
                        np.zeros((len(MODEL_CLASSES), len(FEATURES))), bias)


def report(track_id: str, t: float, east: float, north: float, up: float, velocity: Sequence[float],
           uas_id: str | None = None, sensors: tuple[str, ...] = ("radar-1",), **identity: str) -> TrackReport:
    lat, lon, alt = SITE.to_geodetic(np.array([east, north, up]))
    return TrackReport(t=T0 + t, id=track_id, lat=float(lat), lon=float(lon), alt=float(alt),
                       vel_enu=(float(velocity[0]), float(velocity[1]), float(velocity[2])), uas_id=uas_id,
                       sensors=sensors, **identity)  # type: ignore[arg-type]


Path = Callable[[float], tuple[float, float, float, tuple[float, float, float]]]


def straight(start: tuple[float, float, float], velocity: tuple[float, float, float]) -> Path:
    return lambda t: (start[0] + velocity[0] * t, start[1] + velocity[1] * t, start[2] + velocity[2] * t, velocity)


def fly(assessor: Assessor, seconds: float, tracks: dict[str, Path], **extra: dict[str, object]) -> list[Alert]:
    lines: list[Alert] = []
    for t in np.arange(0.0, seconds + 0.5, 1.0):
        reports = [report(track_id, float(t), *path(float(t)), **extra.get(track_id, {}))  # type: ignore[arg-type]
                   for track_id, path in tracks.items()]
        lines += assessor.update(T0 + float(t), reports)
    return lines


def assessor(cls: str = "drone", **config: float) -> Assessor:
    return Assessor(SITE, station_sensors(), station_zones(), AssessmentConfig(**config), always(cls))  # type: ignore[arg-type]


def first(lines: list[Alert], kind: str, zone: str | None = None, level: str | None = None) -> Alert:
    return next(a for a in lines if a.kind == kind and (zone is None or a.zone == zone)
                and (level is None or a.level == level))


def test_a_drone_heading_for_the_compound_warns_then_goes_critical_with_eta() -> None:
    lines = fly(assessor(), 100.0, {"T1": straight((0.0, 1800.0, 40.0), (0.0, -15.0, 0.0))})
    warning = first(lines, "zone_breach_predicted", "compound", "warning")
    critical = first(lines, "zone_breach_predicted", "compound", "critical")
    assert warning.id == critical.id and warning.state == critical.state == "open"
    assert critical.eta_s is not None and critical.eta_s <= 60.0
    # it reaches the zone edge at (1800 - 150) / 15 = 110 s: critical about a minute before
    assert 110.0 - (critical.t - T0) >= 55.0
    # the breach time stated is the path's own, not its uncertainty band's first touch (seconds earlier)
    assert critical.t + critical.eta_s == pytest.approx(T0 + 110.0, abs=1.0)
    assert any("drone without Remote ID" in r for r in critical.reasons)
    assert any("heading for zone compound, breach in" in r for r in critical.reasons)
    assert critical.evidence is not None and critical.evidence["class"] == "drone"
    assert critical.evidence["sensors"] == ["radar-1"]


def test_zone_entry_takes_the_zone_level_and_resolves_when_the_track_ends() -> None:
    book = assessor()
    lines = fly(book, 20.0, {"T2": straight((600.0, 0.0, 50.0), (0.5, 0.0, 0.0))}, T2={"uas_id": "1581F00TEST"})
    entry = first(lines, "zone_entry", "approach")
    assert entry.level == "warning" and entry.t == T0 + 3.0  # no track is judged before 3 s; Remote ID settles at once
    assert "drone broadcasting Remote ID 1581F00TEST" in entry.reasons
    (resolved,) = [a for a in book.update(T0 + 21.0, []) if a.id == entry.id]  # 600 m from the compound
    assert resolved.state == "resolved" and resolved.reasons[-1] == "track ended"


def test_the_approach_ring_hears_of_a_drone_without_remote_id_once_its_class_has_held_longer() -> None:
    ring = {"T5": straight((1000.0, 0.0, 40.0), (0.0, 5.0, 0.0))}  # inside the approach ring, not heading in
    lines = fly(assessor(), 40.0, ring)
    entry = first(lines, "zone_entry", "approach", "warning")
    # judged from 3 s, the class settled by 13 s, the ring told from 23 s: info until then
    assert entry.t - T0 == 3.0 + AssessmentConfig().outer_settle_s
    assert {a.level for a in lines if a.zone == "approach" and a.t < entry.t} == {"info"}
    early = first(fly(assessor(outer_settle_s=10.0), 40.0, ring), "zone_entry", "approach", "warning")
    assert early.t - T0 == 13.0


def test_birds_raise_no_zone_alerts_and_lasting_doubt_near_a_critical_zone_warns() -> None:
    inbound = {"T3": straight((0.0, 600.0, 40.0), (0.0, -12.0, 0.0))}  # the compound in 37 s
    assert fly(assessor("bird"), 60.0, inbound) == []  # settled (10 s at 0.9) before its doubt could warn
    unknown = assessor("drone", settled_confidence=1.1)  # never settled: a doubtful class
    lines = fly(unknown, 60.0, inbound)
    warning = first(lines, "zone_breach_predicted", "compound", "warning")
    assert warning.t - T0 == 3.0 + 10.0  # judged from 3 s, in doubt for longer than a class takes to settle
    assert "critical" not in {a.level for a in lines}
    ring = {"T4": straight((1000.0, 0.0, 40.0), (0.0, 12.0, 0.0))}  # in the approach ring, not for the compound
    assert {a.level for a in fly(unknown, 60.0, ring)} <= {"info"}


def test_a_drone_orbiting_outside_the_compound_is_not_critical_when_only_its_uncertainty_grazes_it() -> None:
    def orbit(t: float) -> tuple[float, float, float, tuple[float, float, float]]:
        w = 8.0 / 100.0  # 8 m/s on a 100 m radius, 230-430 m from the site: 80 m off the compound at closest
        return (330.0 + 100.0 * math.cos(w * t), 100.0 * math.sin(w * t), 60.0,
                (-8.0 * math.sin(w * t), 8.0 * math.cos(w * t), 0.0))

    lines = fly(assessor(), 120.0, {"T8": orbit})
    predicted = [a for a in lines if a.kind == "zone_breach_predicted" and a.zone == "compound"]
    levels = {a.level for a in predicted}
    assert "warning" in levels and "critical" not in levels
    straight_in = fly(assessor(), 30.0, {"T9": straight((0.0, 600.0, 40.0), (0.0, -12.0, 0.0))})
    assert first(straight_in, "zone_breach_predicted", "compound", "critical")


def test_a_drone_lost_close_to_the_compound_keeps_its_critical_alert_open() -> None:
    book = assessor(lost_hold_s=120.0)
    lines = fly(book, 30.0, {"T10": straight((0.0, 700.0, 40.0), (0.0, -12.0, 0.0))})  # lost 340 m out
    critical = first(lines, "zone_breach_predicted", "compound", "critical")
    book.book.acknowledge(critical.id, T0 + 30.5, "officer 12")
    held = [a for t in range(31, 300) for a in book.update(T0 + t, []) if a.id == critical.id]
    (reopened,) = held  # nobody has acknowledged it since the loss: held past lost_hold_s
    assert reopened.state == "open" and reopened.level == "critical" and reopened.t == T0 + 31.0
    assert reopened.reasons[-1].startswith("track lost 16 s before its predicted breach of zone compound, 1 s ago")
    assert reopened.evidence is not None and reopened.evidence["lost_t"] == T0 + 30.0
    book.book.acknowledge(critical.id, T0 + 300.5, "officer 12")
    (resolved,) = [a for a in book.update(T0 + 301.0, []) if a.id == critical.id]  # seen, and the hold is over
    assert resolved.state == "resolved" and resolved.reasons[-1] == "track ended"
    # acknowledged within the hold: held for lost_hold_s, then let go
    book = assessor(lost_hold_s=120.0)
    opened = first(fly(book, 30.0, {"T13": straight((0.0, 700.0, 40.0), (0.0, -12.0, 0.0))}),
                   "zone_breach_predicted", "compound", "critical")
    book.update(T0 + 31.0, [])
    book.book.acknowledge(opened.id, T0 + 40.0, "officer 12")
    (resolved,) = [a for t in range(41, 200) for a in book.update(T0 + t, []) if a.id == opened.id]
    assert resolved.state == "resolved" and resolved.t - T0 == pytest.approx(30.0 + 121.0)
    # a person may resolve it sooner
    book = assessor()
    opened = first(fly(book, 30.0, {"T11": straight((0.0, 700.0, 40.0), (0.0, -12.0, 0.0))}), "zone_breach_predicted",
                   "compound", "critical")
    book.update(T0 + 31.0, [])
    book.book.resolve(opened.id, T0 + 32.0, "officer 12")
    assert all(a.id != opened.id for t in range(33, 60) for a in book.update(T0 + t, []))


def test_a_warning_for_a_track_lost_far_from_its_zone_ends_with_it() -> None:
    book = assessor()
    lines = fly(book, 30.0, {"T12": straight((0.0, 1800.0, 40.0), (0.0, -12.0, 0.0))})  # lost 1.3 km out
    warning = first(lines, "zone_breach_predicted", "compound", "warning")
    (resolved,) = [a for a in book.update(T0 + 31.0, []) if a.id == warning.id]
    assert resolved.reasons[-1] == "track ended"


def test_loiter() -> None:
    def orbit(t: float) -> tuple[float, float, float, tuple[float, float, float]]:
        w = 6.0 / 60.0
        return (800.0 + 60.0 * math.cos(w * t), 60.0 * math.sin(w * t), 100.0,
                (-6.0 * math.sin(w * t), 6.0 * math.cos(w * t), 0.0))

    lines = fly(assessor(), 130.0, {"T4": orbit})
    loiter = first(lines, "loiter")
    assert loiter.level == "warning" and loiter.t - T0 == pytest.approx(120.0)
    assert not any(a.kind == "zone_breach_predicted" and a.zone == "compound" for a in lines)


def test_three_drones_converging_make_one_swarm_alert() -> None:
    tracks = {f"S{k}": straight((1000.0 * math.sin(a), 1000.0 * math.cos(a), 30.0),
                                (-15.0 * math.sin(a), -15.0 * math.cos(a), 0.0))
              for k, a in enumerate((0.0, 2.0, 4.0))}
    lines = fly(assessor(), 40.0, tracks)
    swarms = [a for a in lines if a.kind == "swarm" and a.zone == "compound"]
    assert len({a.id for a in swarms}) == 1 and swarms[-1].level == "critical" and swarms[-1].zone == "compound"
    assert swarms[-1].evidence is not None and sorted(swarms[-1].evidence["tracks"]) == ["S0", "S1", "S2"]
    assert "3 drones converging on zone compound" in swarms[-1].reasons[0]


def test_no_remote_id_is_information_after_ten_seconds() -> None:
    lines = fly(assessor(), 15.0, {"T5": straight((2500.0, 0.0, 80.0), (0.0, 8.0, 0.0))})
    alert = first(lines, "no_remote_id")
    assert alert.level == "info" and alert.t - T0 == pytest.approx(10.0)
    with_id = fly(assessor(), 15.0, {"T6": straight((2500.0, 0.0, 80.0), (0.0, 8.0, 0.0))},
                  T6={"uas_id": "1581F00TEST", "sensors": ("radar-1", "rid-1")})
    assert not any(a.kind == "no_remote_id" for a in with_id)


def test_remote_id_that_no_radar_confirms_where_it_should() -> None:
    lines = fly(assessor(), 40.0, {"R1": straight((800.0, 0.0, 60.0), (0.0, 5.0, 0.0))},
                R1={"uas_id": "1581F00SPOOF", "sensors": ("rid-1",)})
    spoof = first(lines, "remote_id_spoof")
    assert spoof.level == "warning" and spoof.t - T0 == pytest.approx(30.0)
    assert "no radar return for 30 s where it reports itself" in spoof.reasons[-1]
    # out beyond the radar's sure reach, silence proves nothing
    far = fly(assessor(), 40.0, {"R2": straight((2900.0, 0.0, 60.0), (0.0, 5.0, 0.0))},
              R2={"uas_id": "1581F00FAR", "sensors": ("rid-1",)})
    assert not any(a.kind == "remote_id_spoof" for a in far)


def test_remote_id_contradicted_by_a_sensor_track_alongside() -> None:
    lines = fly(assessor(), 20.0, {"R3": straight((1500.0, 0.0, 60.0), (0.0, 8.0, 0.0)),
                                   "T7": straight((1500.0, 250.0, 60.0), (0.0, 8.0, 0.0))},
                R3={"uas_id": "1581F00SPOOF", "sensors": ("rid-1", "radar-1")})
    spoof = first(lines, "remote_id_spoof")
    assert spoof.track == "R3" and spoof.evidence is not None and spoof.evidence["sensor_track"] == "T7"
    assert "sensor track T7 flies alongside 250 m from the reported position" in spoof.reasons[-1]


def condition(level: str = "warning") -> Condition:
    return Condition(("T1", "compound", "zone_entry"), "T1", level, ("inside",))  # type: ignore[arg-type]


def test_hysteresis_keeps_a_flickering_condition_one_alert() -> None:
    book = AlertBook(clear_s=15.0)
    lines: list[Alert] = []
    for t in range(30):
        lines += book.step(float(t), [condition()] if t % 3 else [], {"T1"})
    assert [a.state for a in lines] == ["open"]
    for t in range(30, 50):
        lines += book.step(float(t), [], {"T1"})
    assert [a.state for a in lines] == ["open", "resolved"] and lines[-1].t == 29.0 + 15.0
    assert lines[-1].reasons[-1] == "condition cleared for 15 s"


def test_lifecycle_open_acknowledged_escalated_resolved() -> None:
    book = AlertBook()
    (opened,) = book.step(0.0, [condition("warning")], {"T1"})
    acknowledged = book.acknowledge(opened.id, 1.0, "officer 12")
    assert acknowledged.state == "acknowledged" and acknowledged.reasons[-1] == "acknowledged by officer 12"
    assert book.step(2.0, [condition("warning")], {"T1"}) == []  # nothing new: no line
    (escalated,) = book.step(3.0, [condition("critical")], {"T1"})
    assert escalated.id == opened.id and escalated.state == "open" and escalated.level == "critical"
    assert book.step(4.0, [condition("warning")], {"T1"}) == []  # the level never steps down
    (resolved,) = book.step(5.0, [], set())
    assert resolved.state == "resolved" and resolved.level == "critical"
    with pytest.raises(ConfigError, match="alert 'A1' is not open"):
        book.acknowledge("A1", 6.0, "officer 12")
    (reopened,) = book.step(7.0, [condition("warning")], {"T1"})
    assert reopened.id == "A2"


def test_a_prediction_needs_two_steps_to_open() -> None:
    book = AlertBook()
    predicted = Condition(("T1", "compound", "zone_breach_predicted"), "T1", "warning", ("heading",), 30.0,
                          open_after=2)
    assert book.step(0.0, [predicted], {"T1"}) == []
    assert book.step(1.0, [], {"T1"}) == []
    assert book.step(2.0, [predicted], {"T1"}) == []
    (opened,) = book.step(3.0, [predicted], {"T1"})
    assert opened.eta_s == 30.0


def test_a_moved_breach_time_gets_a_line_and_a_steady_one_none() -> None:
    book = AlertBook()

    def heading(t: float, eta_s: float) -> list[Alert]:
        return book.step(t, [Condition(("T1", "compound", "zone_breach_predicted"), "T1", "critical",
                                       (f"breach in {eta_s:.0f} s",), eta_s)], {"T1"})

    (opened,) = heading(0.0, 60.0)
    commented = book.commented(opened.id, 5.0)  # an operator's comment: a line, the same breach time and state
    assert (commented.t, commented.eta_s, commented.state) == (5.0, 55.0, "open")
    acknowledged = book.acknowledge(opened.id, 10.0, "officer 12")
    assert (acknowledged.t, acknowledged.eta_s) == (10.0, 50.0)  # the line moves, the breach time does not
    assert [heading(float(t), 60.0 - t + 2.0 * (t % 2)) for t in range(1, 20)] == [[]] * 19  # within 3 s: none
    (slowed,) = heading(20.0, 50.0)  # breach at 70 s, not 60 s: the countdown would be 10 s early
    assert (slowed.id, slowed.t, slowed.eta_s, slowed.reasons) == (opened.id, 20.0, 50.0, ("breach in 50 s",))
    assert slowed.state == "acknowledged" and slowed.level == "critical"  # a new figure, not a new look
    assert heading(69.0, 0.0) == [] and heading(75.0, 0.0) == []  # due: nothing left to count down
    assert book.resolve(opened.id, 80.0, "officer 12").eta_s == 0.0  # overdue: no breach in the past


def test_an_operator_change_stamped_before_the_alert_s_last_line_comes_after_it() -> None:
    book = AlertBook()
    (opened,) = book.step(100.0, [Condition(("T1", "compound", "zone_breach_predicted"), "T1", "critical",
                                            ("breach in 60 s",), 60.0)], {"T1"})
    acknowledged = book.acknowledge(opened.id, 40.0, "officer 12")  # the service's clock behind the sensors'
    assert (acknowledged.t, acknowledged.eta_s) == (100.0, 60.0)


def test_an_aircraft_squawking_an_emergency_raises_an_info_alert_naming_it() -> None:
    def plane(t: float) -> tuple[float, float, float, tuple[float, float, float]]:
        return (-3000.0 + 60.0 * t, 2000.0, 600.0, (60.0, 0.0, 0.0))

    book = assessor("aircraft")
    quiet = fly(book, 10.0, {"A1": plane}, A1={"icao": "A1B2C3", "callsign": "CBP117", "squawk": "1200"})
    assert not [a for a in quiet if a.kind == "emergency_squawk"]
    lines = fly(assessor("aircraft"), 10.0, {"A1": plane},
                A1={"icao": "A1B2C3", "callsign": "CBP117", "squawk": "7700"})
    alert = first(lines, "emergency_squawk")
    assert alert.level == "info" and alert.zone is None and alert.t == T0 + 3.0
    assert alert.reasons == ("aircraft CBP117 A1B2C3 (ADS-B)", "squawks 7700: emergency")
    assert alert.evidence is not None and (alert.evidence["callsign"], alert.evidence["squawk"]) == ("CBP117", "7700")


# ------------------------------------------------------------------ allow- and watch-lists
DAY = 86400.0
INTO_COMPOUND = {"T1": straight((0.0, 400.0, 40.0), (0.0, -10.0, 0.0))}  # inside the compound from about 25 s


def listed(book: Assessor, *entries: ListEntry) -> Assessor:
    book.airframes = AirframeLists(entries, "station")
    return book


def entry(list_name: str, identity: str = "1581F00TEST", **fields: object) -> ListEntry:
    base: dict[str, object] = {"valid_from": T0 - DAY, "valid_to": T0 + DAY, "added_by": "ada",
                               "note": "the agency's own inspection drone"}
    return ListEntry(identity, list_name, **{**base, **fields})  # type: ignore[arg-type]


def levels(lines: list[Alert], kind: str) -> set[str]:
    return {a.level for a in lines if a.kind == kind}


def test_an_allow_listed_drone_in_the_compound_warns_instead_of_paging_and_says_who_allowed_it() -> None:
    rid = {"T1": {"uas_id": "1581F00TEST"}}
    plain = fly(assessor(), 40.0, INTO_COMPOUND, **rid)
    assert first(plain, "zone_entry", "compound").level == "critical"
    allowed = fly(listed(assessor(), entry("allow", "1581f00test")), 40.0, INTO_COMPOUND, **rid)
    entry_line = first(allowed, "zone_entry", "compound")
    assert entry_line.level == "warning" and "critical" not in {a.level for a in allowed}
    assert entry_line.reasons[-1].startswith("allow-listed 1581f00test by ada until ")  # as entered
    assert entry_line.reasons[-1].endswith(": the agency's own inspection drone")


def test_an_entry_out_of_its_validity_or_for_another_site_changes_nothing() -> None:
    rid = {"T1": {"uas_id": "1581F00TEST"}}
    for stale in (entry("allow", valid_to=T0 - 1.0), entry("allow", valid_from=T0 + 3600.0),
                  entry("allow", sites=("other-site",))):
        lines = fly(listed(assessor(), stale), 40.0, INTO_COMPOUND, **rid)
        assert first(lines, "zone_entry", "compound").level == "critical"


def test_a_watch_listed_drone_is_warned_of_wherever_it_flies_and_its_alerts_rise() -> None:
    far = {"W1": straight((2500.0, 0.0, 60.0), (0.0, 5.0, 0.0))}  # outside every zone, heading nowhere
    unlisted = fly(assessor(), 20.0, far, W1={"uas_id": "1581F00BAD"})
    assert not any(a.level in ("warning", "critical") for a in unlisted)
    watched = fly(listed(assessor(), entry("watch", "1581F00BAD", note="flew over the station last week")), 20.0,
                  far, W1={"uas_id": "1581F00BAD"})
    watch = first(watched, "watch_list")
    assert watch.level == "warning" and watch.reasons == (
        watch.reasons[0],) and "watch-listed 1581F00BAD" in watch.reasons[0]
    assert watch.evidence is not None and watch.evidence["track"]["lat"] > 0
    # inside the approach ring (a warning zone) a watch-listed drone pages: critical
    ring = {"W2": straight((1000.0, 0.0, 40.0), (0.0, 5.0, 0.0))}
    assert levels(fly(assessor(), 20.0, ring, W2={"uas_id": "1581F00BAD"}), "zone_entry") == {"warning"}
    raised = fly(listed(assessor(), entry("watch", "1581F00BAD")), 20.0, ring, W2={"uas_id": "1581F00BAD"})
    assert levels(raised, "zone_entry") == {"critical"}


def test_an_aircraft_is_listed_by_its_icao_address() -> None:
    far = {"A1": straight((2500.0, 0.0, 300.0), (0.0, 60.0, 0.0))}
    lines = fly(listed(assessor("aircraft"), entry("watch", "A1B2C3")), 10.0, far, A1={"icao": "a1b2c3"})
    assert "watch-listed A1B2C3" in first(lines, "watch_list").reasons[0]


def test_the_allow_list_never_lowers_a_spoofing_alert() -> None:
    spoofing = {"R1": straight((800.0, 0.0, 60.0), (0.0, 5.0, 0.0))}  # Remote ID that no radar confirms
    extra = {"R1": {"uas_id": "1581F00TEST", "sensors": ("rid-1",)}}
    plain = first(fly(assessor(), 40.0, spoofing, **extra), "remote_id_spoof")
    allowed = first(fly(listed(assessor(), entry("allow")), 40.0, spoofing, **extra), "remote_id_spoof")
    assert plain.level == allowed.level == "warning"
    assert not any("allow-listed" in r for r in allowed.reasons)


@pytest.mark.parametrize("first_list", ["allow", "watch"])
def test_a_watch_entry_wins_over_an_allow_entry_for_the_same_identity(first_list: str) -> None:
    both = [entry(first_list), entry("watch" if first_list == "allow" else "allow")]
    chosen = AirframeLists(both, "station").entry(["1581F00TEST"], T0)
    assert chosen is not None and chosen.list == "watch"


# ------------------------------------------------------------------ threat posture
def test_a_raised_posture_warns_earlier_of_the_same_drone() -> None:
    inbound = {"T1": straight((0.0, 5000.0, 50.0), (0.0, -15.0, 0.0))}  # the compound's edge at 323 s
    first_warning = {}
    for level in POSTURE_LEVELS:
        config = at_posture(AssessmentConfig(), level)
        book = Assessor(SITE, station_sensors(), station_zones(), config, always("drone"))
        lines = fly(book, 330.0, inbound)
        first_warning[level] = min(a.t for a in lines if a.level in ("warning", "critical") and a.zone == "compound")
    assert first_warning["high"] < first_warning["elevated"] < first_warning["normal"]
    assert first_warning["normal"] - first_warning["high"] >= 60.0  # twice the horizon: a minute earlier at least


def test_the_posture_is_the_highest_level_of_the_bulletins_in_force_for_the_site() -> None:
    def bulletin(level: str, start: float, end: float, *sites: str) -> Bulletin:
        return Bulletin("threat", level, T0 + start, T0 + end, "ann", sites=sites)  # type: ignore[arg-type]

    posture = Posture([bulletin("elevated", 0, 100), bulletin("high", 50, 60, "station"),
                       bulletin("high", 0, 100, "other")], "station")
    assert [posture.level_at(T0 + t) for t in (-1, 10, 55, 70, 101)] == ["normal", "elevated", "high", "elevated",
                                                                        "normal"]
    base = AssessmentConfig()
    high = at_posture(base, "high")
    assert at_posture(base, "normal") == base
    assert (high.warning_horizon_s, high.critical_horizon_s, high.zone_buffer_m, high.outer_settle_s) == (
        240.0, 120.0, 150.0, (base.settle_s + base.outer_settle_s) / 2)
    assert high.settled_confidence == base.settled_confidence  # the classifier's bar stays: birds stay out
    high.check()
