"""The dashboard in a real browser (Debian's Chromium through Playwright) against a running service.

The service runs ``border-station`` at 10x real time, with a tile archive of the site as the map's
background (coloured squares made by the test). Screenshots go to ``DRONEWATCH_ARTIFACTS``
(default: the test's temporary directory).
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from dronewatch.sim.scenarios import SITE
from dronewatch.storage import Repository, open_database

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update"]


ZOOM = 14
ATTRIBUTION = "Tiles made by the test <b>not bold</b>"


def tile_of(lat: float, lon: float, z: int) -> tuple[int, int]:
    """The XYZ (web Mercator) tile holding a point."""
    n = 2**z
    return int((lon + 180.0) / 360.0 * n), int((1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n)


def tile_corner(x: int, y: int, z: int) -> tuple[float, float]:
    """(lat, lon) of a tile's north-west corner."""
    n = 2**z
    return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * y / n)))), x / n * 360.0 - 180.0


def tile_colour(x: int, y: int) -> tuple[int, int, int]:
    """A dark tone of its own for each tile around the site: the page must show the tile it asked for."""
    return 30 + 4 * (x % 13), 38 + 4 * (y % 11), 52


def site_archive(path: Path, mbtiles: Callable[..., Path], png_tile: Callable[..., bytes]) -> Path:
    """Zoom-14 tiles 13 x 11 around the site; ``bounds`` a hair inside them, so the map asks for no others."""
    cx, cy = tile_of(SITE.lat0_deg, SITE.lon0_deg, ZOOM)
    xs, ys = range(cx - 6, cx + 7), range(cy - 5, cy + 6)
    north, west = tile_corner(xs[0], ys[0], ZOOM)
    south, east = tile_corner(xs[-1] + 1, ys[-1] + 1, ZOOM)
    return mbtiles(path, {(ZOOM, x, y): png_tile(tile_colour(x, y)) for x in xs for y in ys},
                   {"format": "png", "minzoom": str(ZOOM), "maxzoom": str(ZOOM), "attribution": ATTRIBUTION,
                    "bounds": f"{west + 1e-6},{south + 1e-6},{east - 1e-6},{north - 1e-6}"})


class Service:
    def __init__(self, root: Path, port: int, tile_archive: Path) -> None:
        self.port = port
        self.root = root
        self.config = root / "site.toml"
        self.config.write_text(f'[site]\nid = "station"\n[service]\nport = {self.port}\n'
                               f'data_dir = "{root / "data"}"\n[sources]\nsimulate = "border-station"\nspeed = 10.0\n'
                               f'[map]\ntile_archive = "{tile_archive}"\n')
        self.process: subprocess.Popen[str] | None = None
        self.password = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        first = not (self.root / "data").exists()  # the first start prints the admin password after the URL
        self.process = subprocess.Popen([sys.executable, "-m", "dronewatch.cli", "serve", "--config",
                                         str(self.config)], stderr=subprocess.PIPE, text=True)
        assert self.process.stderr is not None
        while not self.process.stderr.readline().startswith("dronewatch station: http"):
            assert self.process.poll() is None, "the service stopped before it was up"
        if first:
            line = self.process.stderr.readline()
            self.password = line.split("password '")[1].split("'")[0]

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:  # never leave a simulating service behind
                self.process.kill()
                self.process.wait(10)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, free_port: Callable[..., int], mbtiles: Callable[..., Path],
            png_tile: Callable[..., bytes]) -> Iterator[Service]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium")
    root = tmp_path_factory.mktemp("dashboard")
    running = Service(root, free_port(), site_archive(root / "site.mbtiles", mbtiles, png_tile))
    try:
        running.start()
        with httpx.Client(base_url=running.url) as client:  # the simulated traffic is under way: tracks exist
            client.post("/api/login", json={"name": "admin", "password": running.password})
            deadline = time.monotonic() + 60
            while not client.get("/api/sites/station/tracks").json() and time.monotonic() < deadline:
                time.sleep(0.2)
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    opened.on("pageerror", lambda error: errors.append(str(error)))
    yield opened
    artifacts = Path(os.environ.get("DRONEWATCH_ARTIFACTS", tmp_path))
    artifacts.mkdir(parents=True, exist_ok=True)
    opened.screenshot(path=str(artifacts / f"{request.node.name}.png"))
    context.close()
    # a 401 the page expects (not signed in yet, wrong password) is logged by Chromium as a failed load;
    # a test that stops the service allows the failed connections of the outage
    allowed = ["401 (Unauthorized)"]
    marker = request.node.get_closest_marker("allow_console")
    if marker is not None:
        allowed += list(marker.args)
    assert [e for e in errors if not any(a in e for a in allowed)] == []


def sign_in(page: Page, service: Service, name: str = "admin", password: str | None = None,
            reload: bool = True) -> None:
    if reload:
        page.goto(service.url)
    page.fill("#login-name", name)
    page.fill("#login-password", password or service.password)
    page.click("button[type=submit]")


# a track's label as the map's canvas last drew it (tracks are drawn on the canvas, not as elements)
DRAWN = "[...state.tracks.values()].some(t => /^T\\d+ \\w+ \\d+ m\\/s \\d+ m/.test(t.marker.drawnLabel || ''))"


def open_a_track_detail(page: Page) -> None:
    """Open the detail of a track with an alert from the alert list: of those on the map (an alert held for a
    lost track links to no track), the one with the longest history (its plot has something to draw)."""
    on_map = "[...document.querySelectorAll('#alerts li a[data-track]')].filter(a => state.tracks.has(a.dataset.track))"
    page.wait_for_function(f"() => {on_map}.length > 0", timeout=60000)
    page.evaluate(f"""() => {on_map}.reduce((a, b) => state.tracks.get(b.dataset.track).history.length
                                               > state.tracks.get(a.dataset.track).history.length ? b : a).click()""")
    page.wait_for_selector("#detail:not([hidden])")


def wait_for_tracks(page: Page, timeout: float = 5000) -> None:
    page.wait_for_function(DRAWN, timeout=timeout)


def test_wrong_password_is_refused_and_the_right_one_shows_tracks(page: Page, service: Service) -> None:
    sign_in(page, service, password="not the password")
    page.wait_for_selector("#login-error:has-text('Wrong name or password')")
    sign_in(page, service)
    page.wait_for_selector("#connection:has-text('live')", timeout=15000)
    wait_for_tracks(page)  # tracks within 5 s


def test_the_map_shows_the_tiles_of_the_archive(page: Page, service: Service) -> None:
    sign_in(page, service)
    page.wait_for_selector("img.leaflet-tile-loaded", timeout=10000)
    page.wait_for_load_state("networkidle")
    # the map may still be fetching tiles after a late pan (a loaded machine): wait for every one to arrive
    page.wait_for_function("() => [...document.querySelectorAll('img.leaflet-tile')]"
                           ".every(img => img.classList.contains('leaflet-tile-loaded'))", timeout=10000)
    # each loaded tile: where it came from, and the colour of its middle pixel as the browser decoded it
    shown = page.eval_on_selector_all("img.leaflet-tile", """tiles => tiles.map(img => {
        const c = document.createElement('canvas'); c.width = img.naturalWidth; c.height = img.naturalHeight;
        const g = c.getContext('2d'); g.drawImage(img, 0, 0);
        const box = img.getBoundingClientRect();
        return { src: new URL(img.src).pathname, loaded: img.classList.contains('leaflet-tile-loaded'),
                 size: img.naturalWidth, rgb: Array.from(g.getImageData(128, 128, 1, 1).data.slice(0, 3)),
                 visible: box.right > 0 && box.left < innerWidth && box.bottom > 0 && box.top < innerHeight }; })""")
    assert len(shown) >= 9 and all(t["loaded"] and t["size"] == 256 for t in shown), shown
    assert sum(t["visible"] for t in shown) >= 9
    for t in shown:
        z, x, y = (int(v) for v in t["src"].removeprefix("/api/tiles/").split("/"))
        assert (z, tuple(t["rgb"])) == (ZOOM, tile_colour(x, y)), t
    centre = tile_of(SITE.lat0_deg, SITE.lon0_deg, ZOOM)
    assert f"/api/tiles/{ZOOM}/{centre[0]}/{centre[1]}" in [t["src"] for t in shown]
    assert page.inner_text(".leaflet-control-attribution") == ATTRIBUTION  # as text, not markup


def test_a_critical_alert_is_acknowledged_and_stored(page: Page, service: Service) -> None:
    sign_in(page, service)
    alert = page.wait_for_selector("#alerts li.critical", timeout=90000)
    alert_id = alert.get_attribute("data-alert")
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    item = f"#alerts li[data-alert='{alert_id}']"
    page.click(f"{item} button[data-action=acknowledge]")
    page.fill(f"{item} form.comment input[name=comment]", "seen from the browser")  # inline: the page goes on
    page.click(f"{item} form.comment button[type=submit]")  # the list re-renders
    page.wait_for_selector(f"#alerts li[data-alert='{alert_id}'].acknowledged, #alerts li[data-alert='{alert_id}']"
                           ":not(.open)", timeout=15000)
    repo = Repository(open_database(f"sqlite:///{service.root / 'data' / 'dronewatch.db'}"))
    events = repo.alert_events("station", str(alert_id))
    assert any(e["state"] == "acknowledged" and e["comment"] == "seen from the browser" for e in events)
    # the event log says who did what, live and after the page is opened again (from storage)
    for _ in range(2):
        events = page.locator(f"#log li[data-alert='{alert_id}']")
        try:
            events.filter(has_text='acknowledged by admin "seen from the browser"').wait_for(timeout=15000)
        except PlaywrightTimeout:
            raise AssertionError(f"not in the event log: {events.all_inner_texts()}") from None
        assert events.filter(has_text=": opened").count() == 1
        page.reload()
        wait_for_tracks(page)
    # the acknowledged alert may resolve by now (10x speed): open the detail from whichever alert is there
    assert dialogs == []
    open_a_track_detail(page)
    # the plot draws the track's history as it comes: a track whose alert has just opened may have one point
    page.wait_for_function("""() => { const c = document.getElementById('detail-plot');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n++; return n > 100; }""", timeout=15000)


def make_user(service: Service, name: str, role: str, sites: list[str], levels: list[str]) -> str:
    password = f"{name} password 1"
    with httpx.Client(base_url=service.url) as client:
        csrf = client.post("/api/login", json={"name": "admin", "password": service.password}).json()["csrf_token"]
        made = client.post("/api/users", headers={"X-CSRF-Token": csrf},
                           json={"name": name, "role": role, "password": password, "sites": sites, "levels": levels})
        assert made.status_code in (200, 409)
    return password


def open_alerts(service: Service) -> list[dict[str, object]]:
    with httpx.Client(base_url=service.url) as client:
        client.post("/api/login", json={"name": "admin", "password": service.password})
        found: list[dict[str, object]] = client.get("/api/sites/station/alerts", params={"state": "open"}).json()
    return found


def test_a_partner_sees_only_its_site(page: Page, service: Service) -> None:
    # the same screen an admin used a moment ago: nothing of it may be left for the partner
    sign_in(page, service)
    page.wait_for_selector("#alerts li", timeout=60000)
    open_a_track_detail(page)
    page.click("#logout")
    page.wait_for_selector("#login:not([hidden])")
    password = make_user(service, "partner-agency", "partner", [], ["critical"])  # granted no site
    sign_in(page, service, "partner-agency", password, reload=False)
    page.wait_for_selector("#user:has-text('partner')")
    assert page.eval_on_selector_all("#site option", "options => options.map(o => o.value)") == []
    time.sleep(2)  # the admin's socket, had it stayed open, would have drawn more by now
    assert page.query_selector_all("#alerts li, .ring-label, .zone-label, .operator") == []  # pilots too
    drawn = page.evaluate("[state.tracks.size, ...Object.values(state.layers).map(l => l.getLayers().length)]")
    assert len(drawn) >= 5 and set(drawn) == {0}  # tracks; rings, zones, sensors, tracks (pattern) on the map
    assert page.is_hidden("#detail") and page.is_hidden("#replay-controls")
    assert page.is_hidden("#lists-panel") and page.is_hidden("#pattern-panel") and page.is_hidden("#posture")
    assert page.inner_text("#connection") == "no site granted"


GRANTED = ("warning", "critical")


def test_a_partner_granted_the_site_sees_it_its_tracks_and_only_its_levels(page: Page, service: Service) -> None:
    password = make_user(service, "partner-granted", "partner", ["station"], list(GRANTED))
    # every alert level the partner's list ever shows, from the start of the page
    page.add_init_script("""window.levelsShown = new Set();
        new MutationObserver(() => document.querySelectorAll('#alerts li').forEach(li =>
            ['critical', 'warning', 'info'].forEach(l => li.classList.contains(l) && window.levelsShown.add(l))))
          .observe(document, { subtree: true, childList: true, attributes: true });""")
    sign_in(page, service, "partner-granted", password)
    page.wait_for_selector("#connection:has-text('live')", timeout=10000)
    # the switcher: the granted site, chosen (a grant of a site the service does not know is refused: 422)
    assert page.eval_on_selector_all("#site option", "options => options.map(o => o.value)") == ["station"]
    assert page.input_value("#site") == "station"
    wait_for_tracks(page)
    page.wait_for_selector("#alerts li.warning, #alerts li.critical", timeout=90000)
    # an info alert open now is one the admin sees and the partner would, were the levels not filtered
    deadline = time.monotonic() + 90
    while not any(a["level"] == "info" for a in open_alerts(service)):
        assert time.monotonic() < deadline, "no info alert came to check the filter with"
        time.sleep(0.5)
    time.sleep(1.5)
    assert page.evaluate("[...window.levelsShown]") and set(page.evaluate("[...window.levelsShown]")) <= set(GRANTED)
    assert "0 info" in page.inner_text("#counts")
    assert page.query_selector_all("#alerts li button") == []  # a partner may not acknowledge or resolve
    assert page.is_hidden("#replay-controls")  # nor read the stored history a replay needs
    page.select_option("#site", "station")  # choosing the site again opens it afresh
    page.wait_for_selector("#connection:has-text('live')", timeout=15000)
    wait_for_tracks(page)


@pytest.mark.allow_console("ERR_CONNECTION_REFUSED", "WebSocket connection to")
def test_the_page_recovers_after_the_service_restarts(page: Page, service: Service) -> None:
    sign_in(page, service)
    page.wait_for_selector("#connection:has-text('live')", timeout=15000)
    service.stop()
    page.wait_for_selector("#connection:has-text('reconnecting')", timeout=10000)
    service.start()
    page.wait_for_selector("#connection:has-text('live')", timeout=20000)
    time.sleep(1)


def test_replay_of_the_last_minutes_plays(page: Page, service: Service) -> None:
    sign_in(page, service)
    wait_for_tracks(page, 10000)
    time.sleep(3)  # let some history be stored
    page.fill("#replay-minutes", "2")
    page.select_option("#replay-speed", "32")
    page.click("#replay-start")
    page.wait_for_selector("#replay-bar:not([hidden])")
    first = page.input_value("#replay-slider")
    page.wait_for_function(f"document.getElementById('replay-slider').value > {first}", timeout=10000)
    wait_for_tracks(page)
    assert "UTC" in page.inner_text("#replay-time")
    # a mode of its own: marked with its time; live alerts counted in the banner, not listed, not acknowledged
    banner = page.inner_text("#replay-banner")
    assert "REPLAY" in banner and "UTC" in banner and "Live now" in banner
    assert page.query_selector_all("#alerts li[data-alert], #alerts button, #threats li[data-track]") == []
    live = page.evaluate("""() => [...state.alerts.values()].filter(a => a.state === 'open'
                            && a.level !== 'info').length""")
    assert ("no open warning or critical alert" in banner) == (live == 0)
    assert page.evaluate("[...state.tracks.values()].every(s => s.last.t <= state.replay.t)")  # the past only
    page.screenshot(path=str(service.root / "replay.png"))
    page.click("#replay-live")
    page.wait_for_selector("#replay-bar", state="hidden")
    assert page.is_hidden("#replay-banner")
    page.wait_for_selector("#alerts li[data-alert]", timeout=60000)


def test_operator_positions_only_for_roles_allowed_to_see_them(page: Page, browser: Browser,
                                                               service: Service) -> None:
    sign_in(page, service)
    page.wait_for_selector(".operator", timeout=30000)  # the hobby drone's pilot, from its Remote ID
    with httpx.Client(base_url=service.url) as client:
        csrf = client.post("/api/login", json={"name": "admin", "password": service.password}).json()["csrf_token"]
        made = client.post("/api/users", headers={"X-CSRF-Token": csrf},
                           json={"name": "analyst-1", "role": "analyst", "password": "analyst password 1"})
        assert made.status_code in (200, 409)
    other = browser.new_context().new_page()
    sign_in(other, service, "analyst-1", "analyst password 1")
    wait_for_tracks(other, 10000)
    time.sleep(2)
    assert other.query_selector(".operator") is None
    other.context.close()


THREAT_ROWS = """() => [...document.querySelectorAll('#threats li[data-track]')].map(row => {
    const when = row.querySelector('.countdown');
    const seconds = when.dataset.seconds == null ? null : Number(when.dataset.seconds);
    return [row.dataset.track, when.dataset.breachAt ?? null, seconds, row.classList.contains('critical')];
})"""


def test_the_threat_board_counts_down_to_the_predicted_breach_soonest_first(page: Page, service: Service) -> None:
    sign_in(page, service)
    page.wait_for_selector("#threats li[data-track] .countdown[data-breach-at]", timeout=90000)
    compared, before = 0, page.evaluate(THREAT_ROWS)
    for _ in range(80):  # the board is drawn once a second; at 10x a breach comes or goes within seconds
        page.wait_for_timeout(1100)
        after = page.evaluate(THREAT_ROWS)
        critical = [is_critical for *_, is_critical in after]
        assert critical == sorted(critical, reverse=True)  # critical threats on top
        for level in (True, False):  # then each level's soonest breach first
            counting = [seconds for _, _, seconds, is_critical in after if seconds is not None and is_critical == level]
            assert counting == sorted(counting)
        later = {track: (at, seconds) for track, at, seconds, _ in after}
        for track, at, seconds, _ in before:
            if at is not None and later.get(track, (None, None))[0] == at and seconds > 0:
                assert later[track][1] < seconds, (track, before, after)  # the same breach time: fewer seconds left
                compared += 1
        before = after
        if compared >= 3:
            break
    assert compared >= 3
    page.screenshot(path=str(service.root / "threat-board.png"))


def test_on_a_laptop_screen_the_track_detail_opens_over_the_map(browser: Browser, service: Service) -> None:
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    page = context.new_page()
    try:
        sign_in(page, service)
        wait_for_tracks(page)
        open_a_track_detail(page)
        box = page.locator("#detail").bounding_box()
        assert box is not None and box["y"] + box["height"] <= 768 and box["x"] + box["width"] <= 1366
        assert page.locator("#detail-plot").is_visible()
        page.screenshot(path=str(service.root / "detail-1366.png"))
    finally:
        context.close()


def test_the_alarm_sounds_again_until_the_critical_alert_is_acknowledged(page: Page, service: Service) -> None:
    sign_in(page, service)
    page.wait_for_selector("#alerts li.critical.open", timeout=90000)
    first = page.evaluate("state.alarms || 0")
    page.wait_for_function(f"() => state.alarms >= {first} + 2", timeout=15000)  # every 5 s while unacknowledged
    for alert in page.query_selector_all("#alerts li.critical.open"):
        alert_id = alert.get_attribute("data-alert")
        item = f"#alerts li[data-alert='{alert_id}']"
        page.click(f"{item} button[data-action=acknowledge]")
        page.click(f"{item} form.comment button[type=submit]")
    page.wait_for_function("() => !alarmDue()", timeout=15000)
    sounded, quiet = page.evaluate("state.alarms"), True
    for _ in range(12):  # 6 s: more than an alarm period
        page.wait_for_timeout(500)
        quiet = quiet and not page.evaluate("alarmDue()")  # at 10x a new critical alert may open meanwhile
    if quiet:
        assert page.evaluate("state.alarms") == sounded


def test_a_threat_whose_track_is_lost_at_the_compound_stays_on_the_board(page: Page, service: Service) -> None:
    sign_in(page, service)
    row = page.wait_for_selector("#threats li.lost[data-track]", timeout=120000)  # the attack drone's strike
    track = row.get_attribute("data-track")
    lost = f"#threats li.lost[data-track='{track}']"
    assert "lost" in page.inner_text(f"{lost} .countdown")  # "IMPACT · lost inside compound" or "lost near ..."
    page.wait_for_timeout(5000)  # 50 s at 10x: a track that ended is long gone, its threat is not
    assert page.query_selector(lost) is not None
    page.screenshot(path=str(service.root / "threat-lost.png"))
    # once the track has left the map, its alert's link still opens a detail: its last state, from the evidence
    page.wait_for_function(f"() => !state.tracks.has('{track}')", timeout=15000)
    page.click(f"#alerts li a[data-track='{track}']")
    page.wait_for_selector("#detail:not([hidden])")
    assert "lost, last seen" in page.inner_text("#detail-title")
    assert page.inner_text("#detail-facts").count("m above the site") == 1
    held = page.evaluate(f"""() => [...state.alerts.values()].filter(a => a.track === '{track}' && a.evidence
                             && a.evidence.lost_t != null && a.state !== 'resolved').map(a => [a.id, a.state])""")
    for alert_id, alert_state in held:  # an earlier test may have acknowledged it already (all critical ones)
        if alert_state == "open":
            item = f"#alerts li[data-alert='{alert_id}']"
            page.click(f"{item} button[data-action=acknowledge]")
            page.click(f"{item} form.comment button[type=submit]")
    page.wait_for_function(f"""() => [...state.alerts.values()].every(a => a.track !== '{track}'
                               || a.state !== 'open')""", timeout=15000)
    page.wait_for_function(f"""() => {{ const row = document.querySelector("{lost}");
                               return !row || !row.classList.contains('unseen'); }}""", timeout=15000)


def test_the_map_marks_the_threats_and_birds_can_be_hidden(page: Page, service: Service) -> None:
    sign_in(page, service)
    wait_for_tracks(page)
    # legend, scale bar, north arrow; zone names on the map
    assert all(page.is_visible(part) for part in (".map-legend", ".leaflet-control-scale", ".map-north"))
    assert "compound" in page.inner_text(".leaflet-rings-pane")
    # a track with a live warning or critical alert: its hostile frame in the level's colour, a path to the zone
    page.wait_for_function("""() => [...state.tracks.values()].some(s => s.marker.threat
                              && s.path.getLatLngs().length === 2)""", timeout=90000)
    threats = page.evaluate("""() => [...state.tracks.values()].filter(s => s.marker.threat)
                               .map(s => [s.last.id, s.marker.threat])""")
    live = page.evaluate("""() => [...state.alerts.values()].filter(a => a.state !== 'resolved' && a.level !== 'info')
                            .map(a => a.track)""")
    assert threats and all(track in live for track, _ in threats)
    # birds: small and unlabelled, then off the map with the toggle, and back
    page.wait_for_function("() => [...state.tracks.values()].some(s => s.last.class === 'bird' && !s.marker.threat)",
                           timeout=60000)
    birds = """() => [...state.tracks.values()].filter(s => s.last.class === 'bird' && !s.marker.threat
                                                       && state.detail !== s.last.id)"""
    assert page.evaluate(f"({birds})().every(s => s.marker.options.radius === 3 && !s.drawnLabel)") is True
    page.uncheck("#show-birds")
    page.wait_for_timeout(1500)  # a second of updates: birds that came meanwhile stay off too
    assert page.evaluate(f"({birds})().every(s => !state.layers.tracks.hasLayer(s.marker))") is True
    page.check("#show-birds")
    assert page.evaluate(f"({birds})().every(s => state.layers.tracks.hasLayer(s.marker))") is True
    page.screenshot(path=str(service.root / "map-threats.png"))


def test_an_officer_may_mute_their_alarm_for_minutes_and_it_is_audited(page: Page, service: Service) -> None:
    sign_in(page, service)
    page.wait_for_selector("#alerts li.critical.open", timeout=90000)
    page.click("#mute")
    page.wait_for_selector("#mute.muted")
    assert page.inner_text("#mute").startswith("Alarm muted until")
    sounded = page.evaluate("state.alarms || 0")
    page.wait_for_timeout(6000)  # more than an alarm period; at 10x new critical alerts come meanwhile too
    assert page.evaluate("state.alarms || 0") == sounded
    page.reload()  # the mute is the user's, kept by the service, not the page's
    page.wait_for_selector("#mute.muted")
    page.click("#mute")
    page.wait_for_selector("#mute:not(.muted)")
    repo = Repository(open_database(f"sqlite:///{service.root / 'data' / 'dronewatch.db'}"))
    actions = [(r["actor"], r["action"]) for r in repo.audit_records() if r["action"].startswith("alarm.")]
    assert actions[-2:] == [("admin", "alarm.mute"), ("admin", "alarm.unmute")]


def test_the_attack_s_evidence_package_downloads_and_verifies_until_a_byte_changes(
        page: Page, service: Service, tmp_path: Path) -> None:
    sign_in(page, service)
    alert = page.wait_for_selector("#alerts li.critical", timeout=90000)
    alert_id = alert.get_attribute("data-alert")
    with page.expect_download(timeout=30000) as download:
        page.click(f"#alerts li[data-alert='{alert_id}'] button.evidence")
    package = tmp_path / download.value.suggested_filename
    download.value.save_as(package)
    assert package.name.startswith(f"station-alert-{alert_id}-")
    with httpx.Client(base_url=service.url) as client:
        client.post("/api/login", json={"name": "admin", "password": service.password})
        (tmp_path / "site.pem").write_text(client.get("/api/evidence/public-key").text)
    verify = [sys.executable, "-m", "dronewatch.cli", "evidence", "verify", "--public-key", str(tmp_path / "site.pem")]
    checked = subprocess.run([*verify, str(package)], check=False, capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stderr
    with zipfile.ZipFile(package) as archive:
        assert json.loads(archive.read("manifest.json"))["scope"]["alert"] == alert_id
        members = {name: archive.read(name) for name in archive.namelist()}
        alerts = json.loads(members["alerts.json"])
    assert any(a["id"] == alert_id and a["level"] == "critical" for a in alerts)
    repo = Repository(open_database(f"sqlite:///{service.root / 'data' / 'dronewatch.db'}"))
    assert any(r["action"] == "evidence_export" and r["actor"] == "admin" and r["detail"]["scope"]["alert"] == alert_id
               for r in repo.audit_records())
    for name in ("report.pdf", "detections.jsonl", "manifest.sig"):
        changed = tmp_path / f"changed-{name}.zip"
        with zipfile.ZipFile(changed, "w") as copy:
            for member, data in members.items():
                at = len(data) // 2
                copy.writestr(member, data[:at] + bytes([data[at] ^ 0x20]) + data[at + 1:] if member == name else data)
        refused = subprocess.run([*verify, str(changed)], check=False, capture_output=True, text=True, timeout=60)
        assert refused.returncode == 1 and f"FAILED: {name}:" in refused.stderr, refused.stderr


def test_a_bulletin_shows_the_site_s_posture_in_the_header(page: Page, service: Service) -> None:
    sign_in(page, service)
    wait_for_tracks(page)
    assert page.is_hidden("#posture")
    with httpx.Client(base_url=service.url) as client:
        csrf = client.post("/api/login", json={"name": "admin", "password": service.password}).json()["csrf_token"]
        made = client.post("/api/bulletins", headers={"X-CSRF-Token": csrf}, json={
            "text": "Leaked operation: the station is named", "source": "partner agency", "level": "high",
            "valid_from": time.time() - 60, "valid_to": time.time() + 3600})
        assert made.status_code == 201, made.text
        try:
            page.reload()
            page.wait_for_selector("#posture.high:has-text('Posture HIGH')", timeout=10000)
            assert "Leaked operation: the station is named (partner agency)" in str(
                page.get_attribute("#posture", "title"))
        finally:
            client.delete(f"/api/bulletins/{made.json()['id']}", headers={"X-CSRF-Token": csrf})


def test_an_admin_keeps_the_airframe_lists_and_sees_the_pattern_of_life(page: Page, service: Service) -> None:
    sign_in(page, service)
    wait_for_tracks(page)
    page.click("#lists-panel summary")
    page.fill("#list-form input[name=identity]", "1581F00BROWSER")
    page.select_option("#list-form select[name=list]", "watch")
    page.fill("#list-form input[name=note]", "seen over the station twice")
    page.click("#list-form button[type=submit]")
    row = page.wait_for_selector("#lists tr.watch:has-text('1581F00BROWSER')", timeout=10000)
    assert "seen over the station twice (admin)" in row.inner_text()
    page.click("#lists tr:has-text('1581F00BROWSER') button")
    page.wait_for_selector("#lists tr:has-text('1581F00BROWSER')", state="detached", timeout=10000)
    repo = Repository(open_database(f"sqlite:///{service.root / 'data' / 'dronewatch.db'}"))
    actions = [r["action"] for r in repo.audit_records() if r["action"].startswith("airframes.")]
    assert actions[-2:] == ["airframes.watch", "airframes.remove"]
    # the simulated station has had drones: the week's grid has a lit cell, the map their arrival cells
    page.click("#pattern-panel summary")
    page.wait_for_function("() => state.pattern && state.pattern.drones > 0", timeout=30000)
    page.check("#pattern-on-map")
    assert page.evaluate("state.layers.pattern.getLayers().length") >= 1
