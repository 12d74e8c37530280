"""RegionalFusion: which sites' tracks are one object, and how a regional track keeps its id."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from dronewatch.geo import LocalFrame
from dronewatch.model import Sensor, TrackReport
from dronewatch.tracking.regional import RegionalFusion

FRAME = LocalFrame(31.70, -106.40, 1150.0)
T0 = 1_764_000_000.0


def report(track_id: str, t: float, east: float, north: float, *, up: float = 60.0, vel: tuple[float, float, float] = (
        15.0, 0.0, 0.0), sigma: float | None = 10.0, uas_id: str | None = None, sensors: tuple[str, ...] = ("radar-1",)
           ) -> TrackReport:
    lat, lon, alt = FRAME.to_geodetic(np.array([east, north, up]))
    return TrackReport(t=t, id=track_id, lat=float(lat), lon=float(lon), alt=float(alt), vel_enu=vel,
                       sigma_m=sigma, uas_id=uas_id, sensors=sensors, cls="drone", confidence=0.9)


def fusion() -> RegionalFusion:
    region = RegionalFusion("border", ["west", "east"])
    region.place(Sensor(id="radar-1", kind="radar", lat=FRAME.lat0_deg, lon=FRAME.lon0_deg, alt=FRAME.alt0_m))
    return region


def where(track: TrackReport) -> np.ndarray:
    return FRAME.positions_of([track])[0]


def test_two_sites_tracks_of_one_object_are_one_regional_track_weighted_by_their_uncertainty() -> None:
    region = fusion()
    region.set_picture("west", [report("T1", T0, 1000.0, 0.0, sigma=5.0)])
    region.set_picture("east", [report("T9", T0, 1030.0, 0.0, sigma=20.0, sensors=("radar-1", "rf-1"))])
    [merged] = region.step(T0)
    assert merged.members == ("east/T9", "west/T1")
    assert merged.sensors == ("west/radar-1", "east/radar-1", "east/rf-1")
    # inverse-variance weights: 16:1 for the sharper west track
    assert abs(where(merged)[0] - (1000.0 * 16 + 1030.0) / 17) < 0.5
    assert merged.sigma_m is not None and merged.sigma_m < 5.0


def test_objects_apart_stay_apart_and_a_site_never_merges_two_of_its_own_tracks() -> None:
    region = fusion()
    region.set_picture("west", [report("T1", T0, 1000.0, 0.0), report("T2", T0, 1010.0, 0.0)])
    region.set_picture("east", [report("T9", T0, 1400.0, 0.0)])
    tracks = region.step(T0)
    assert sorted(t.members for t in tracks) == [("east/T9",), ("west/T1",), ("west/T2",)]  # type: ignore[type-var]


def test_crossing_objects_of_different_velocity_are_not_merged() -> None:
    region = fusion()
    for k in range(10):  # both settled, then they pass within 20 m of each other, at right angles
        t = T0 + k
        region.set_picture("west", [report("T1", t, 850.0 + 15.0 * k, 0.0)])
        region.set_picture("east", [report("T9", t, 1000.0, -150.0 + 15.0 * k, vel=(0.0, 15.0, 0.0))])
        assert len(region.step(t)) == 2


def test_a_regional_track_keeps_its_id_through_a_hand_over_and_a_site_that_lost_and_found_the_object() -> None:
    region = fusion()
    ids = set()
    for k in range(60):
        t, east = T0 + k, 15.0 * k
        west = [report("T1", t, east, 0.0)] if k < 30 else []
        east_tracks = [report("T9", t, east + 8.0, 3.0)] if 20 <= k < 40 else []
        if k >= 42:  # east lost it for two seconds and found it again as a new track
            east_tracks = [report("T12", t, east + 8.0, 3.0, vel=(10.0, 8.0, 0.0))]
        region.set_picture("west", west)
        region.set_picture("east", east_tracks)
        tracks = region.step(t)
        assert len(tracks) == (0 if 40 <= k < 42 else 1), k
        ids |= {track.id for track in tracks}
        if 20 <= k < 30:
            assert tracks[0].members == ("east/T9", "west/T1")
    assert ids == {"border-1"}


def test_a_shared_remote_id_is_one_object_whatever_the_distance_and_a_stale_site_leaves() -> None:
    region = fusion()
    region.set_picture("west", [report("T1", T0, 1000.0, 0.0, uas_id="1581F5FKD229400C37EF")])
    region.set_picture("east", [report("T9", T0, 1250.0, 0.0, uas_id="1581F5FKD229400C37EF")])
    [merged] = region.step(T0)
    assert merged.uas_id == "1581F5FKD229400C37EF" and len(merged.members or ()) == 2
    # the west tracker stops: its picture ages out, the east one goes on
    region.set_picture("east", [report("T9", T0 + 10, 1400.0, 0.0, uas_id="1581F5FKD229400C37EF")])
    [alone] = region.step(T0 + 10)
    assert alone.members == ("east/T9",) and alone.id == merged.id


def test_restored_members_keep_their_regional_ids_and_numbering_goes_on() -> None:
    region = fusion()
    region.set_picture("west", [report("T1", T0, 0.0, 0.0), report("T2", T0, 900.0, 0.0)])
    first = {t.members: t.id for t in region.step(T0)}
    again = fusion()
    again.restore(TrackReport(t=T0, id=i, lat=0, lon=0, alt=0, vel_enu=(0, 0, 0), members=m) for m, i in first.items())
    again.next_number = region.next_number
    again.set_picture("west", [report("T1", T0 + 1, 15.0, 0.0), report("T2", T0 + 1, 915.0, 0.0),
                               report("T3", T0 + 1, -900.0, 0.0)])
    after = {t.members: t.id for t in again.step(T0 + 1)}
    assert after[("west/T1",)] == first[("west/T1",)] and after[("west/T2",)] == first[("west/T2",)]
    assert after[("west/T3",)] == "border-3"


def test_a_held_pair_stays_one_track_while_the_two_trackers_velocities_disagree_in_a_manoeuvre() -> None:
    region = fusion()
    for k in range(16):
        t, east = T0 + k, 2000.0 + 20.0 * k
        bent = (20.0, 16.0, 0.0) if k in (10, 11) else (20.0, 0.0, 0.0)  # a loop: one tracker turns first
        region.set_picture("west", [report("T1", t, east, 0.0, vel=bent)])
        region.set_picture("east", [report("T9", t, east + 3.0, 0.0, vel=(20.0, 0.0, 0.0))])
        [one] = region.step(t)
        assert one.id == "border-1" and len(one.members or ()) == 2, k


def test_when_a_pair_parts_the_surer_track_keeps_the_id() -> None:
    region = fusion()
    for k in range(12):
        t, east = T0 + k, 2000.0 + 20.0 * k
        # west's track leaves its cover at k = 6 and coasts off course, ever less sure; east's goes on
        west_east, west_sigma = (east, 10.0) if k < 6 else (east + 60.0 * (k - 5), 10.0 + 15.0 * (k - 5))
        region.set_picture("west", [report("T1", t, west_east, 0.0, sigma=west_sigma)])
        region.set_picture("east", [report("T9", t, east + 3.0, 0.0, sigma=10.0)])
        tracks = {tuple(r.members or ()): r.id for r in region.step(t)}
        if k < 6:
            assert tracks == {("east/T9", "west/T1"): "border-1"}
    assert tracks[("east/T9",)] == "border-1" and tracks[("west/T1",)] != "border-1"


track_strategy = st.builds(
    lambda east, north, up, speed, sigma, uas: (east, north, up, speed, sigma, uas),
    st.floats(-3000, 3000), st.floats(-3000, 3000), st.floats(0, 500), st.floats(-40, 40),
    st.one_of(st.none(), st.floats(0, 1e6), st.just(float("nan"))), st.sampled_from([None, "U1", "U2"]))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.dictionaries(st.sampled_from(["west", "east", "south"]), st.lists(track_strategy, max_size=6)),
                min_size=1, max_size=5))
def test_every_site_track_is_in_one_regional_track_and_no_site_twice_in_one(
        steps: list[dict[str, list[tuple[float, float, float, float, float | None, str | None]]]]) -> None:
    region = fusion()
    for k, pictures in enumerate(steps):
        t = T0 + k
        for site, tracks in pictures.items():
            region.set_picture(site, [
                report(f"T{n}", t, east, north, up=up, vel=(speed, 0.0, 0.0), sigma=sigma, uas_id=uas)
                for n, (east, north, up, speed, sigma, uas) in enumerate(tracks)])
        out = region.step(t)
        members = [m for r in out for m in r.members or ()]
        fresh = {f"{site}/T{n}" for site, tracks in pictures.items() for n in range(len(tracks))}
        assert fresh <= set(members) and len(members) == len(set(members))
        assert all(len({m.split("/")[0] for m in r.members or ()}) == len(r.members or ()) for r in out)
        assert len({r.id for r in out}) == len(out)
        assert all(np.isfinite([r.lat, r.lon, r.alt, *r.vel_enu]).all() for r in out)
