// dronewatch operator dashboard: login, live map, alerts, track detail. No build step, no CDN.
"use strict";

const CLASS_COLOURS = { drone: "#ff3b3b", bird: "#40c057", aircraft: "#4dabf7", unknown: "#adb5bd" };
const LEVEL_COLOURS = { critical: "#e03131", warning: "#f08c00", info: "#1c7ed6" };
const LEVEL_ORDER = { critical: 0, warning: 1, info: 2 };
const TRAIL_POINTS = 60;
const LEADER_S = 30;
// Above this many tracks a trail is redrawn every third update only (its 60 points are projected
// anew each time: most of the page's work at 1,000 tracks); the leader bridges the few seconds.
const BUSY_TRACKS = 200;
const LABEL_FONT = "11px system-ui, sans-serif";
const LABEL_STEP = 17;  // px: a label's height and a little

// A track's dot with its label, both drawn on the map's canvas in the same pass as the trails. (As
// HTML elements, 1,000 labels that move and change text every second cost the page hundreds of
// milliseconds of style, layout and paint a second; a permanent tooltip even measured itself at
// every move.) The label is part of the dot's bounds, so a partial redraw repaints it whole.
const TrackMarker = L.CircleMarker.extend({
  moveTo(latlng, label) {  // one redraw for both
    if (label !== this._label) { this._label = label; this._labelWidth = null; }
    return this.setLatLng(latlng);
  },
  _updateBounds() {
    L.CircleMarker.prototype._updateBounds.call(this);
    if (this.threat) {  // the halo, and a label moved up or down out of another's way (below): all of them
      const r = this._radius + 13, reach = r + 2 * LABEL_STEP;
      this._pxBounds.extend(this._point.subtract([r, reach])).extend(this._point.add([r, reach]));
    }
    if (this._label) {
      const width = this._labelWidth || this._label.length * 7;  // measured at the first drawing
      this._pxBounds.extend(this._point.add([12 + width, 9]));
    }
  },
  setThreat(level) {  // a track with a live alert: a halo and the hostile frame (a diamond) in the level's colour
    if (level !== this.threat) { this.threat = level; this.redraw(); }
  },
  _updatePath() {
    const renderer = this._renderer;
    if (renderer._drawing && !this._empty() && this.threat) {
      const g = renderer._ctx, p = this._point, r = this._radius + 7;
      g.globalAlpha = 1;
      g.beginPath(); g.arc(p.x, p.y, r + 5, 0, 2 * Math.PI);
      g.fillStyle = LEVEL_COLOURS[this.threat]; g.globalAlpha = 0.25; g.fill(); g.globalAlpha = 1;
      g.beginPath(); g.moveTo(p.x, p.y - r); g.lineTo(p.x + r, p.y); g.lineTo(p.x, p.y + r); g.lineTo(p.x - r, p.y);
      g.closePath(); g.lineWidth = 2.5; g.strokeStyle = LEVEL_COLOURS[this.threat]; g.stroke();
    }
    L.CircleMarker.prototype._updatePath.call(this);
    this.drawnLabel = null;
    if (!renderer._drawing || this._empty() || !this._label) return;
    const g = renderer._ctx;
    g.font = LABEL_FONT;
    if (this._labelWidth == null) this._labelWidth = g.measureText(this._label).width + 8;
    const x = this._point.x + 10;
    // decluttered: a label that would cover one drawn before it in this pass is left out; a threat's is moved
    // up or down a line or two out of the way instead (or, if there is no room, drawn where it is)
    const taken = renderer._labelBoxes || (renderer._labelBoxes = []);
    const free = (y) => !taken.some((b) => x < b[2] && b[0] < x + this._labelWidth && y - 8 < b[3] && b[1] < y + 8);
    const shifts = this.threat ? [0, LABEL_STEP, -LABEL_STEP, 2 * LABEL_STEP, -2 * LABEL_STEP] : [0];
    const shift = shifts.find((dy) => free(this._point.y + dy));
    if (shift === undefined && !this.threat) return;
    const y = this._point.y + (shift || 0);
    taken.push([x, y - 8, x + this._labelWidth, y + 8]);
    g.globalAlpha = 1;
    g.fillStyle = "rgba(0, 0, 0, 0.6)";
    g.fillRect(x, y - 8, this._labelWidth, 16);
    g.fillStyle = "#eeeeee";
    g.textBaseline = "middle";
    g.fillText(this._label, x + 4, y + 0.5);
    this.drawnLabel = this._label;  // what the map shows now (the browser tests read it)
  },
});

// each redraw of the map's canvas starts with no label placed (the labels' decluttering, above)
const CanvasWithLabels = L.Canvas.extend({
  _draw() { this._labelBoxes = []; L.Canvas.prototype._draw.call(this); },
});

const STAFF = ["admin", "operator", "analyst"];  // may read stored history (a replay)
const OPERATORS = ["admin", "operator"];  // may acknowledge and resolve alerts

const state = {
  csrf: sessionStorage.getItem("dw-csrf") || "", role: null, mayExport: false,
  site: null, map: null, layers: null, tracks: new Map(), alerts: new Map(),
  socket: null, retry: 0, detail: null, replay: null,
  clock: null, centre: null, groundAlt: 0, firstSeen: new Map(), events: new Map(), showBirds: true,
};

async function apiResponse(path, options = {}) {
  const headers = Object.assign({ "Content-Type": "application/json" }, options.headers || {});
  if (options.method && options.method !== "GET") headers["X-CSRF-Token"] = state.csrf;
  const response = await fetch(path, Object.assign({}, options, { headers, credentials: "same-origin" }));
  if (response.status === 401) { showLogin(); throw new Error("signed out"); }
  if (!response.ok) throw new Error(`${response.status} ${await response.text()}`);
  return response;
}

async function api(path, options = {}) {
  return (await apiResponse(path, options)).json();
}

async function apiAllPages(path) {
  // history reads come a page at a time: the next page's cursor is in X-Next-Cursor, absent on the last
  const rows = [];
  let cursor = null;
  do {
    const response = await apiResponse(cursor ? `${path}&cursor=${encodeURIComponent(cursor)}` : path);
    rows.push(...await response.json());
    cursor = response.headers.get("X-Next-Cursor");
  } while (cursor);
  return rows;
}

function showLogin(message = "") {
  document.getElementById("app").hidden = true;
  document.getElementById("login").hidden = false;
  document.getElementById("login-error").textContent = message;
  closeSite();  // the next person at this screen may be someone else: nothing of this one's view stays
  document.getElementById("site").innerHTML = "";
  document.getElementById("user").textContent = "";
  state.role = null;
}

function closeSite() {
  // the live stream, a replay, and everything drawn of the site: gone
  if (state.socket) { state.socket.onclose = null; state.socket.close(); state.socket = null; }
  clearTimeout(state.reconnect);
  if (state.replay) stopReplay(false);
  if (state.layers) for (const layer of Object.values(state.layers)) layer.clearLayers();
  pending.clear();
  state.tracks.clear(); state.alerts.clear(); state.firstSeen.clear(); state.events.clear(); state.clock = null;
  if (state.operators) state.operators.clear();
  state.site = null; state.detail = null; state.pattern = null;
  for (const panel of ["pattern-panel", "lists-panel", "posture"]) document.getElementById(panel).hidden = true;
  document.querySelector("#lists tbody").replaceChildren();
  renderDetail(); renderAlerts();
}

async function login(event) {
  event.preventDefault();
  const body = { name: document.getElementById("login-name").value,
                 password: document.getElementById("login-password").value };
  const response = await fetch("/api/login", { method: "POST", body: JSON.stringify(body),
                                               headers: { "Content-Type": "application/json" } });
  if (!response.ok) {
    showLogin(response.status === 429 ? "Too many attempts: wait a minute." : "Wrong name or password.");
    return;
  }
  state.csrf = (await response.json()).csrf_token;
  sessionStorage.setItem("dw-csrf", state.csrf);
  await start();
}

async function logout() {
  try { await api("/api/logout", { method: "POST" }); } catch (error) { /* signed out anyway */ }
  sessionStorage.removeItem("dw-csrf");
  showLogin();
}

async function start() {
  let me;
  try { me = await api("/api/me"); } catch (error) { return; }
  document.getElementById("login").hidden = true;
  document.getElementById("app").hidden = false;
  document.getElementById("user").textContent = `${me.name} (${me.role})`;
  state.role = me.role;
  state.mayExport = me.may_export_evidence;
  showMute(me.alarm_muted_until);
  document.getElementById("replay-controls").hidden = !STAFF.includes(me.role);
  const sites = await api("/api/sites");
  const select = document.getElementById("site");
  select.innerHTML = "";
  for (const site of sites) select.add(new Option(site.id, site.id));
  select.onchange = () => openSite(select.value);
  if (sites.length) {
    await openSite(sites[0].id);
  } else {
    closeSite();
    const status = document.getElementById("connection");
    status.textContent = "no site granted"; status.className = "down";
  }
}

async function setupMap() {
  if (state.map) return;
  const background = await api("/api/map");  // map.tile_url or map.tile_archive; empty: the grid alone
  if (state.map) return;  // a second openSite got here first
  state.map = L.map("map", { zoomControl: true, attributionControl: false, preferCanvas: true,
                            renderer: new CanvasWithLabels() });
  state.map.createPane("rings").style.zIndex = 350;  // range-ring and zone labels under the tracks, never over them
  L.control.scale({ metric: true, imperial: false, position: "bottomleft" }).addTo(state.map);
  mapControl("topright", "north", '<span aria-label="north">N</span><b>&#8593;</b>');
  mapControl("bottomright", "legend", legendHtml());
  document.getElementById("show-birds").addEventListener("change", (event) => {
    state.showBirds = event.target.checked;
    for (const shown of state.tracks.values()) showOrHide(shown);
  });
  if (background.tiles) {
    const options = { maxZoom: 19 };
    if (background.min_native_zoom != null) options.minNativeZoom = background.min_native_zoom;
    if (background.max_native_zoom != null) options.maxNativeZoom = background.max_native_zoom;
    if (background.bounds) options.bounds = background.bounds;  // no requests for tiles the archive lacks
    L.tileLayer(background.tiles, options).addTo(state.map);
  }
  if (background.attribution) {  // text, not HTML: an archive's metadata is not trusted markup
    L.control.attribution({ prefix: false }).addAttribution(escapeHtml(background.attribution)).addTo(state.map);
  }
  state.layers = { grid: L.layerGroup().addTo(state.map), zones: L.layerGroup().addTo(state.map),
                   sensors: L.layerGroup().addTo(state.map), tracks: L.layerGroup().addTo(state.map) };
}

function mapControl(position, className, html) {
  const Control = L.Control.extend({ onAdd() {
    const box = L.DomUtil.create("div", `map-${className} leaflet-bar`);
    box.innerHTML = html;
    L.DomEvent.disableClickPropagation(box);
    return box;
  } });
  return new Control({ position }).addTo(state.map);
}

function legendHtml() {
  const dot = (colour) => `<i class="dot" style="background:${colour}"></i>`;
  return `${Object.entries(CLASS_COLOURS).map(([name, colour]) => `${dot(colour)}${name}`).join("<br>")}` +
    `<br><i class="hostile critical"></i>critical alert<br><i class="hostile warning"></i>warning alert` +
    '<br><i class="path"></i>predicted path to the zone' +
    '<br><label><input id="show-birds" type="checkbox" checked> birds</label>';
}

function escapeHtml(text) {
  return text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

async function openSite(site) {
  const detail = site === state.site ? state.detail : null;  // a track of another site is no detail here
  closeSite();
  state.site = site;
  state.detail = detail;
  await setupMap();
  const [sensors, zones, tracks, alerts] = await Promise.all([
    api(`/api/sites/${site}/sensors`), api(`/api/sites/${site}/zones`),
    api(`/api/sites/${site}/tracks`), api(`/api/sites/${site}/alerts`)]);
  drawSite(sensors, zones);
  for (const track of tracks) { tick(track.t); updateTrack(track); }
  // the event log of the last hours from storage first: the log keeps events of one time in arrival order
  const now = pictureNow();
  for (const event of await apiAllPages(`/api/sites/${site}/events?from=${now - LOG_HOURS * 3600}&to=${now + 3600}`)) {
    noteEvent(event);
  }
  for (const alert of alerts) noteAlert(alert);
  renderAlerts();
  renderLog();
  connect();
  showPosture();
  if (STAFF.includes(state.role)) { showPattern(); showLists(); }
}

// ------------------------------------------------------------------ pattern of life
const PATTERN_DAYS = 28;

async function showPattern() {
  const site = state.site;
  const now = Date.now() / 1000;
  let pattern;
  try { pattern = await api(`/api/sites/${site}/pattern?from=${now - PATTERN_DAYS * 86400}&to=${now}`); }
  catch (error) { return; }
  if (site !== state.site) return;
  state.pattern = pattern;
  document.getElementById("pattern-panel").hidden = false;
  document.getElementById("pattern-summary").textContent =
    `${pattern.drones} drone(s) in ${PATTERN_DAYS} days; rows Monday to Sunday, columns hours 00-23 UTC.`;
  const canvas = document.getElementById("pattern-weekly");
  const g = canvas.getContext("2d");
  g.clearRect(0, 0, canvas.width, canvas.height);
  const highest = Math.max(1, ...pattern.weekly.flat());
  const w = canvas.width / 24, h = canvas.height / 7;
  pattern.weekly.forEach((row, day) => row.forEach((count, hour) => {
    g.fillStyle = count ? `rgba(224, 49, 49, ${0.2 + 0.8 * count / highest})` : "#333";
    g.fillRect(hour * w, day * h, w - 1, h - 1);
  }));
  drawPatternLayer();
}

function drawPatternLayer() {
  if (!state.layers) return;
  if (!state.layers.pattern) state.layers.pattern = L.layerGroup().addTo(state.map);
  state.layers.pattern.clearLayers();
  if (!state.pattern || !document.getElementById("pattern-on-map").checked) return;
  for (const [cells, colour, what] of [[state.pattern.arrivals, "#e03131", "drone(s) first seen here"],
                                       [state.pattern.operators || [], "#b197fc", "operator report place(s)"]]) {
    const highest = Math.max(1, ...cells.map((c) => c[2]));
    for (const [lat, lon, count] of cells) {
      L.circle([lat, lon], { radius: state.pattern.cell_m / 2, stroke: false, fillColor: colour,
                             fillOpacity: 0.25 + 0.6 * count / highest, interactive: true })
        .bindTooltip(`${count} ${what}`).addTo(state.layers.pattern);
    }
  }
}
document.getElementById("pattern-on-map").onchange = drawPatternLayer;

// ------------------------------------------------------------------ airframe lists
async function showLists() {
  let entries;
  try { entries = await api("/api/airframe-lists"); } catch (error) { return; }
  document.getElementById("lists-panel").hidden = false;
  document.getElementById("list-form").hidden = state.role !== "admin";
  const rows = entries.map((entry) => {
    const row = document.createElement("tr");
    row.className = entry.list;
    for (const text of [entry.identity, entry.list, new Date(entry.valid_to * 1000).toISOString().slice(0, 16),
                        `${entry.note || ""} (${entry.added_by})`]) {
      row.append(Object.assign(document.createElement("td"), { textContent: text }));
    }
    const cell = document.createElement("td");
    if (state.role === "admin") {
      const remove = Object.assign(document.createElement("button"), { textContent: "Remove" });
      remove.onclick = () => changeLists(`/api/airframe-lists/${entry.id}`, { method: "DELETE" });
      cell.append(remove);
    }
    row.append(cell);
    return row;
  });
  document.querySelector("#lists tbody").replaceChildren(...rows);
}

async function changeLists(path, options) {
  const error = document.getElementById("list-error");
  error.textContent = "";
  try { await api(path, options); } catch (failure) { error.textContent = failure.message; }
  showLists();
}

document.getElementById("list-form").onsubmit = (event) => {
  event.preventDefault();
  const form = event.target;
  const now = Date.now() / 1000;
  changeLists("/api/airframe-lists", { method: "POST", body: JSON.stringify({
    identity: form.identity.value.trim(), list: form.list.value, valid_from: now,
    valid_to: now + Number(form.days.value) * 86400, note: form.note.value }) });
  form.reset();
};

async function showPosture() {
  // the bulletins' posture, asked again each minute: a bulletin may take effect at a set time
  const site = state.site;
  let posture;
  try { posture = await api(`/api/sites/${site}/posture`); } catch (error) { return; }
  if (site !== state.site) return;
  const badge = document.getElementById("posture");
  badge.hidden = posture.level === "normal";
  badge.className = posture.level;
  badge.textContent = `Posture ${posture.level.toUpperCase()}`;
  badge.title = posture.bulletins.map((b) => b.text ? `${b.level}: ${b.text}${b.source ? ` (${b.source})` : ""}`
                                                    : b.level).join("\n");
}
setInterval(() => { if (state.site) showPosture(); }, 60000);

function height(point) {  // above the site, as the alerts' reasons give it
  return point.alt - state.groundAlt;
}

function drawSite(sensors, zones) {
  const centre = sensors.length ? [sensors[0].lat, sensors[0].lon] : [0, 0];
  // the assessment's frame: heights and ranges are from the first sensor's site, as the alerts' reasons say
  state.centre = L.latLng(centre);
  state.groundAlt = sensors.length ? sensors[0].alt : 0;
  state.map.setView(centre, 14);
  for (let r = 500; r <= 3000; r += 500) {  // the offline background: range rings and a cross
    L.circle(centre, { radius: r, color: "#3b4a63", weight: 1, fill: false, interactive: false })
      .addTo(state.layers.grid);
    L.marker(L.latLng(centre[0] + r / 111320, centre[1]), {
      icon: L.divIcon({ className: "ring-label", html: `${r / 1000} km`, iconSize: null }), interactive: false,
      pane: "rings",
    }).addTo(state.layers.grid);
  }
  for (const zone of zones) {
    L.polygon(zone.polygon.map(([lon, lat]) => [lat, lon]), {
      color: LEVEL_COLOURS[zone.level], weight: 2, fillOpacity: 0.08,
    }).addTo(state.layers.zones);
    // its name at its northernmost corner: nested zones' names do not sit on each other at a shared centre
    const north = zone.polygon.reduce((a, b) => (b[1] > a[1] ? b : a));
    L.tooltip({ permanent: true, direction: "top", className: `zone-label ${zone.level}`, interactive: false,
                pane: "rings" })
      .setLatLng([north[1], north[0]]).setContent(escapeHtml(zone.id)).addTo(state.layers.zones);
  }
  for (const sensor of sensors) {
    L.circleMarker([sensor.lat, sensor.lon], { radius: 5, color: "#fff", weight: 1, fillOpacity: 1 })
      .bindTooltip(`${sensor.id} (${sensor.kind})`).addTo(state.layers.sensors);
    if (sensor.max_range_m && sensor.kind !== "adsb") {
      L.circle([sensor.lat, sensor.lon], { radius: sensor.max_range_m, color: "#8899aa", weight: 1,
                                           dashArray: "4 6", fill: false, interactive: false })
        .addTo(state.layers.sensors);
    }
  }
}

function updateTrack(track, fromReplay = false) {
  if (state.replay && !fromReplay) return;  // the live picture waits while a replay plays
  drawTrack(recordTrack(track));
}

function recordTrack(track) {
  // the track's state and history; nothing drawn yet
  let shown = state.tracks.get(track.id);
  if (!shown) {
    // trail and leader are not hit-tested: the canvas renderer then checks 1 path a track, not 3, on every mouse move
    shown = { history: [], trail: [], colour: null, updates: 0, trailEnd: null,
              marker: new TrackMarker([track.lat, track.lon], { radius: 6, weight: 2, fillOpacity: 0.9 }),
              trailLine: L.polyline([], { weight: 1.5, opacity: 0.7, interactive: false }),
              leader: L.polyline([], { weight: 1, interactive: false }),
              path: L.polyline([], { weight: 2, dashArray: "6 5", interactive: false }) };
    shown.marker.on("click", () => showDetail(track.id));
    for (const part of trackParts(shown)) part.addTo(state.layers.tracks);
    state.tracks.set(track.id, shown);
  }
  shown.last = track; shown.seen = Date.now();
  shown.history.push(track);
  if (shown.history.length > 600) shown.history.shift();
  shown.trail.push(L.latLng(track.lat, track.lon));  // kept as LatLngs: no new array of them each update
  if (shown.trail.length > TRAIL_POINTS) shown.trail.shift();
  return shown;
}

function drawTrack(shown) {
  const track = shown.last;
  const colour = CLASS_COLOURS[track.class || "unknown"] || CLASS_COLOURS.unknown;
  const here = shown.trail[shown.trail.length - 1];
  const [ve, vn] = track.vel_enu;
  const speed = Math.hypot(ve, vn);
  const ahead = L.latLng(track.lat + (vn * LEADER_S) / 111320,
                         track.lon + (ve * LEADER_S) / (111320 * Math.cos(track.lat * Math.PI / 180)));
  if (colour !== shown.colour) {  // a style change redraws: only when the class changes
    shown.colour = colour;
    shown.marker.setStyle({ color: colour, fillColor: colour });
    shown.trailLine.setStyle({ color: colour });
    shown.leader.setStyle({ color: colour });
  }
  const identity = track.uas_id ? ` RID ${track.uas_id}` : track.callsign ? ` ${track.callsign}` :
    track.icao ? ` ICAO ${track.icao}` : "";
  const threat = threatOf(track.id);
  // birds small and unlabelled unless selected or threatening: a flock is not a blob of labels
  const quiet = track.class === "bird" && !threat && state.detail !== track.id;
  if (shown.marker.options.radius !== (quiet ? 3 : 6)) shown.marker.setRadius(quiet ? 3 : 6);
  shown.marker.setThreat(threat ? threat.level : null);
  shown.marker.moveTo(here, quiet ? "" :
    `${track.id} ${track.class || "unknown"} ${speed.toFixed(0)} m/s ${height(track).toFixed(0)} m up${identity}`);
  // the predicted path to the zone the threat heads for: straight on at its speed until the breach
  const eta = threat && threat.eta_s != null ? Math.max(0, threat.t + threat.eta_s - track.t) : 0;
  shown.path.setStyle({ color: threat ? LEVEL_COLOURS[threat.level] : colour });
  shown.path.setLatLngs(eta > 0 ? [here, L.latLng(track.lat + (vn * eta) / 111320,
    track.lon + (ve * eta) / (111320 * Math.cos(track.lat * Math.PI / 180)))] : []);
  showOrHide(shown);
  if (state.tracks.size <= BUSY_TRACKS || shown.updates++ % 3 === 0 || !shown.trailEnd) {
    shown.trailLine.setLatLngs(shown.trail);
    shown.trailEnd = here;
  }
  shown.leader.setLatLngs(shown.trailEnd === here ? [here, ahead] : [shown.trailEnd, here, ahead]);
  if (state.detail === track.id) renderDetail();
}

function indexThreats() {
  // each track's most severe live warning or critical alert, the one with the soonest breach first: once
  // per batch of alerts, not once per track drawn
  state.threats = new Map();
  for (const alert of state.alerts.values()) {
    if (alert.state === "resolved" || alert.level === "info") continue;
    const worst = state.threats.get(alert.track);
    if (!worst || LEVEL_ORDER[alert.level] < LEVEL_ORDER[worst.level]
        || (alert.level === worst.level && alert.eta_s != null && (worst.eta_s == null
            || alert.t + alert.eta_s < worst.t + worst.eta_s))) state.threats.set(alert.track, alert);
  }
}

function threatOf(trackId) {
  // live alerts mark live tracks only, never a replayed one
  return state.replay || !state.threats ? null : state.threats.get(trackId) || null;
}

function showOrHide(shown) {
  // the birds toggle: a bird leaves the map unless it threatens or is selected
  const hidden = !state.showBirds && shown.last.class === "bird" && !threatOf(shown.last.id)
    && state.detail !== shown.last.id;
  if (hidden === !!shown.hidden) return;
  shown.hidden = hidden;
  for (const part of trackParts(shown)) {
    if (hidden) state.layers.tracks.removeLayer(part); else part.addTo(state.layers.tracks);
  }
}

// Live track updates are drawn in slices of at most SLICE_MS, each its own task: a message of 1,000
// tracks would otherwise hold the page for one long task every second (no input, no frame). The
// slices follow each other at once, so the map's canvas mostly redraws once for all of them.
// Updates of one track that wait together are recorded in order and drawn once.
const SLICE_MS = 20;
const pending = new Map();  // track id -> its updates not drawn yet, oldest first
const slicer = new MessageChannel();  // a message to oneself: a new task at once (timers are clamped)
let sliceQueued = false;

function queueTrack(track) {
  const waiting = pending.get(track.id);
  if (waiting) waiting.push(track); else pending.set(track.id, [track]);
  if (!sliceQueued) { sliceQueued = true; slicer.port2.postMessage(null); }
}

slicer.port1.onmessage = () => {
  sliceQueued = false;
  const start = performance.now();
  for (const [id, updates] of pending) {
    pending.delete(id);
    if (state.replay) continue;
    let shown;
    for (const track of updates) shown = recordTrack(track);
    drawTrack(shown);
    if (performance.now() - start > SLICE_MS) break;
  }
  if (pending.size && !sliceQueued) { sliceQueued = true; slicer.port2.postMessage(null); }
};

function trackParts(shown) { return [shown.trailLine, shown.leader, shown.path, shown.marker]; }

function updateOperator(position) {
  // where a Remote ID drone's pilot stands (sent only to roles allowed to see it), linked to the drone
  if (state.replay) return;  // a live pilot has no place on a replayed map
  state.operators = state.operators || new Map();
  let shown = state.operators.get(position.uas_id);
  const here = L.latLng(position.lat, position.lon);
  if (!shown) {
    shown = { marker: L.marker(here, { icon: L.divIcon({ className: "operator", html: "&#9632;", iconSize: [12, 12] }) })
                .bindTooltip(`operator of ${position.uas_id}`),
              link: L.polyline([], { color: "#ffffff", weight: 1, dashArray: "3 5" }) };
    shown.marker.addTo(state.layers.tracks); shown.link.addTo(state.layers.tracks);
    state.operators.set(position.uas_id, shown);
  }
  shown.marker.setLatLng(here);
  const drone = [...state.tracks.values()].find((t) => t.last.uas_id === position.uas_id);
  shown.link.setLatLngs(drone ? [here, L.latLng(drone.last.lat, drone.last.lon)] : []);
}

function dropStaleTracks() {
  if (state.replay) return;
  const now = Date.now();
  for (const [id, shown] of state.tracks) {
    if (now - shown.seen > 10000) {
      for (const part of trackParts(shown)) state.layers.tracks.removeLayer(part);
      state.tracks.delete(id);
    }
  }
}

function renderAlerts() {
  // keyed: an unchanged alert keeps its element (stable under the operator's pointer)
  const list = document.getElementById("alerts");
  indexThreats();
  renderReplayBanner();
  if (state.replay) {  // live alerts wait in the banner: none mixed into the past, none acknowledged from it
    list.replaceChildren(Object.assign(document.createElement("li"), {
      className: "none", textContent: "Replaying: live alerts wait in the banner above the map. Back to live to act on them." }));
    renderThreats();
    return;
  }
  const live = [...state.alerts.values()].filter((a) => a.state !== "resolved")
    .sort((a, b) => LEVEL_ORDER[a.level] - LEVEL_ORDER[b.level] || b.t - a.t);
  const existing = new Map([...list.children].map((item) => [item.dataset.alert, item]));
  live.forEach((alert, index) => {
    const signature = JSON.stringify([alert.level, alert.state, alert.reasons, alert.eta_s == null ? null
                                      : Math.round(alert.eta_s), alert.track]);
    let item = existing.get(alert.id);
    const typing = item && item.querySelector("form.comment");  // not swept away while an officer types
    if (!item || (item.dataset.signature !== signature && !typing)) {
      const fresh = alertItem(alert);
      fresh.dataset.signature = signature;
      if (item) item.replaceWith(fresh);
      item = fresh;
    }
    existing.delete(alert.id);
    if (list.children[index] !== item) list.insertBefore(item, list.children[index] || null);
  });
  for (const gone of existing.values()) gone.remove();
  if (!state.replay) {  // the tracks an alert is about: their halo and predicted path now, not at their next update
    for (const id of new Set([...state.alerts.values()].map((a) => a.track))) {
      const shown = state.tracks.get(id);
      if (shown) drawTrack(shown);
    }
  }
  renderThreats();
  const counts = { critical: 0, warning: 0, info: 0 };
  for (const alert of live) counts[alert.level] += 1;
  document.getElementById("counts").innerHTML = Object.entries(counts)
    .map(([level, n]) => `<span class="level-${level}">${n} ${level}</span>`).join(" ");
}

// ------------------------------------------------------------------ threat board
// The picture's clock is the tracks' own time (the sensors'), carried on by the wall clock between
// updates: a countdown to a predicted breach is the breach time (an alert line's t + eta_s) less it.
function tick(t) {
  if (!state.clock || t > state.clock.t) state.clock = { t, at: performance.now() };
}

function pictureNow() {
  return state.clock ? state.clock.t + (performance.now() - state.clock.at) / 1000 : Date.now() / 1000;
}

function noteAlert(alert) {
  state.alerts.set(alert.id, alert);
  noteEvent({ t: alert.t, alert: alert.id, track: alert.track, zone: alert.zone ?? null, kind: alert.kind,
              state: alert.state, level: alert.level, by: alert.by || "assessment", comment: alert.comment ?? null,
              why: alert.state === "resolved" ? alert.reasons[alert.reasons.length - 1] : null });
  if (!state.firstSeen.has(alert.id) || alert.t < state.firstSeen.get(alert.id)) state.firstSeen.set(alert.id, alert.t);
}

// ------------------------------------------------------------------ event log
// Every change of every alert, resolved or not, with who made it: from storage when the site opens, then
// from the stream. Newest first; the last LOG_KEPT kept in the page.
const LOG_HOURS = 12, LOG_KEPT = 300;

function noteEvent(event) {
  // the first copy of a line is kept: an alert's latest state (GET .../alerts) does not say who made it
  const key = `${event.alert}|${event.t}|${event.state}|${event.level}`;
  if (!state.events.has(key)) state.events.set(key, event);
  if (state.events.size > LOG_KEPT * 2) {
    for (const key of [...state.events.keys()].slice(0, state.events.size - LOG_KEPT)) state.events.delete(key);
  }
}

function eventText(event, before) {
  const what = `${event.alert} ${event.level} ${event.kind.replaceAll("_", " ")}${event.zone ? ` · ${event.zone}` : ""}` +
    ` · ${event.track}`;
  const who = event.by !== "assessment" ? ` by ${event.by}` : "";
  const done = !before ? "opened" : event.state !== before.state ? event.state
    : event.level !== before.level ? `raised to ${event.level}` : "comment";
  return `${what}: ${done}${who}${event.comment ? ` "${event.comment}"` : ""}${event.why ? ` (${event.why})` : ""}`;
}

function renderLog() {
  const events = [...state.events.values()].sort((a, b) => a.t - b.t);
  const last = new Map();  // each alert's event before
  const items = [];
  for (const event of events) {
    const before = last.get(event.alert);
    last.set(event.alert, event);
    // a moved breach time alone is the countdown's business, not an event for the log
    if (before && event.state === before.state && event.level === before.level && event.by === "assessment") continue;
    const item = document.createElement("li");
    item.className = `${event.level} ${event.state}`;
    item.dataset.alert = event.alert;
    const time = document.createElement("time");
    time.textContent = utcTime(event.t);
    item.append(time, " ", eventText(event, before));
    if (state.mayExport && event.state === "resolved") item.append(" ", evidenceButton(event.alert));
    items.push(item);
  }
  document.getElementById("log").replaceChildren(...items.reverse().slice(0, LOG_KEPT));
}

const THREAT_WORDS = { zone_breach_predicted: "heading in", loiter: "loitering", remote_id_spoof: "Remote ID doubtful",
                       swarm: "swarm" };

function utcTime(t) {  // the page's times are UTC, as the replay's and the stored records' are
  return new Date(t * 1000).toISOString().slice(11, 19);
}

function duration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s`;
}

function threats(now) {
  // one row per track with a live warning or critical alert: critical ones first, each level soonest breach first
  const byTrack = new Map();
  for (const alert of state.alerts.values()) {
    if (alert.state === "resolved" || alert.level === "info") continue;
    const row = byTrack.get(alert.track) || [];
    row.push(alert);
    byTrack.set(alert.track, row);
  }
  return [...byTrack.entries()].map(([track, alerts]) => {
    const top = alerts.reduce((a, b) => (LEVEL_ORDER[b.level] < LEVEL_ORDER[a.level] ? b : a));
    // impact: inside a zone at its own (critical) level, or the soonest predicted breach
    const struck = alerts.find((a) => a.kind === "zone_entry" && a.level === "critical");
    // its track lost close to the zone (held open by the assessment): an impact nobody may miss
    const held = alerts.filter((a) => a.evidence && a.evidence.lost_t != null);
    const lost = held.find((a) => a.kind === "zone_entry") || held[0];
    const inside = alerts.filter((a) => a.kind === "zone_entry").map((a) => a.zone);
    // the countdown is to the breach the row's level is about (a critical row's: the critical zone's, not the
    // warning ring's it reaches first), the soonest of those; a zone it is inside already is no countdown
    const counting = alerts.filter((a) => a.eta_s != null && !inside.includes(a.zone));
    const worst = Math.min(...counting.map((a) => LEVEL_ORDER[a.level]));
    const next = counting.filter((a) => LEVEL_ORDER[a.level] === worst)
      .sort((a, b) => (a.t + a.eta_s) - (b.t + b.eta_s))[0];
    const breachAt = struck || lost ? null : next ? next.t + next.eta_s : null;
    const seconds = struck || lost ? 0 : breachAt != null ? breachAt - now : Infinity;
    const since = Math.min(...alerts.map((a) => state.firstSeen.get(a.id) ?? a.t));
    const unseen = alerts.some((a) => a.state === "open");
    return { track, alerts, top, struck, lost, next, inside, breachAt, seconds, since, unseen };
  }).sort((a, b) => LEVEL_ORDER[a.top.level] - LEVEL_ORDER[b.top.level] || a.seconds - b.seconds);
}

function renderThreats() {
  const board = document.getElementById("threats");
  if (state.replay) { board.innerHTML = ""; return; }
  const now = pictureNow();
  const rows = threats(now);
  if (!rows.length) { board.innerHTML = '<li class="none">No threats</li>'; return; }
  board.innerHTML = "";
  for (const row of rows) {
    const item = document.createElement("li");
    item.className = `${row.top.level}${row.lost ? " lost" : ""}${row.unseen ? " unseen" : ""}`;
    item.dataset.track = row.track;
    const when = document.createElement("span");
    when.className = "countdown";
    if (row.lost) {
      when.textContent = row.lost.kind === "zone_entry" ? `IMPACT · lost inside ${row.lost.zone}`
        : `lost near ${row.lost.zone}`;
    } else if (row.struck) when.textContent = `inside ${row.struck.zone}`;
    else if (row.breachAt != null) {
      when.textContent = `${row.next.zone} ${row.seconds > 0 ? `in ${duration(row.seconds)}` : "due"}`;
      when.dataset.breachAt = String(row.breachAt);
      when.dataset.seconds = String(Math.max(0, Math.round(row.seconds)));
    } else when.textContent = row.inside.length ? `inside ${row.inside.join(", ")}`
      : THREAT_WORDS[row.top.kind] || row.top.kind.replaceAll("_", " ");
    const title = document.createElement("div");
    title.innerHTML = `<b class="level-${row.top.level}">${row.top.level}</b> `;
    title.append(when);
    const shown = state.tracks.get(row.track);
    const track = shown && shown.last;
    const facts = [row.track];
    if (track) {
      facts.push(`${track.class || "unknown"}${track.confidence != null ? ` ${(track.confidence * 100).toFixed(0)}%` : ""}`,
                 track.uas_id ? `Remote ID ${track.uas_id}` : "no Remote ID");
      if (state.centre) {
        const here = L.latLng(track.lat, track.lon);
        const east = state.centre.distanceTo(L.latLng(state.centre.lat, track.lon)) * Math.sign(track.lon - state.centre.lng);
        const north = state.centre.distanceTo(L.latLng(track.lat, state.centre.lng)) * Math.sign(track.lat - state.centre.lat);
        const bearing = (Math.atan2(east, north) * 180 / Math.PI + 360) % 360;
        facts.push(`${(state.centre.distanceTo(here) / 1000).toFixed(1)} km at ${bearing.toFixed(0).padStart(3, "0")}°`,
                   `${height(track).toFixed(0)} m up`);
      }
    }
    if (row.lost) facts.push(`track lost ${duration(now - row.lost.evidence.lost_t)} ago`);
    else if (!track) facts.push("track lost");
    if (!row.struck && row.breachAt != null && row.inside.length) facts.push(`inside ${row.inside.join(", ")}`);
    facts.push(`for ${duration(now - row.since)}`, row.unseen ? "NOT ACKNOWLEDGED" : "acknowledged");
    const factLine = document.createElement("div");
    factLine.className = "facts";
    factLine.textContent = facts.join(" · ");
    const reasons = document.createElement("div");
    reasons.className = "reasons";
    reasons.textContent = row.top.reasons.slice(0, 2).join("; ");
    item.append(title, factLine, reasons);
    board.append(item);
  }
}

document.getElementById("threats").addEventListener("click", (event) => {
  const row = event.target.closest("li[data-track]");
  if (row) showDetail(row.dataset.track);
});
setInterval(renderThreats, 1000);

function alertItem(alert) {
  const item = document.createElement("li");
  item.className = `${alert.level} ${alert.state}`;
  item.dataset.alert = alert.id;
  const title = document.createElement("div");
  title.innerHTML = `<b class="level-${alert.level}">${alert.level}</b> ${alert.kind.replaceAll("_", " ")}` +
    `${alert.zone ? " · " + alert.zone : ""}${alert.eta_s != null ? ` · ${alert.eta_s.toFixed(0)} s` : ""}` +
    ` · <a href="#" data-track="${alert.track}">${alert.track}</a> · ${alert.state}`;
  const reasons = document.createElement("div");
  reasons.className = "reasons";
  reasons.textContent = alert.reasons.join("; ");
  item.append(title, reasons);
  for (const action of OPERATORS.includes(state.role) ? ["acknowledge", "resolve"] : []) {
    if (action === "acknowledge" && alert.state === "acknowledged") continue;
    const button = document.createElement("button");
    button.textContent = action === "acknowledge" ? "Acknowledge" : "Resolve";
    button.dataset.action = action;
    button.onclick = () => askComment(item, alert.id, action);
    item.append(button);
  }
  if (state.mayExport) item.append(evidenceButton(alert.id));
  title.querySelector("a").onclick = (event) => { event.preventDefault(); showDetail(alert.track); };
  return item;
}

function evidenceButton(id) {
  const button = document.createElement("button");
  button.className = "evidence";
  button.textContent = "Evidence";
  button.title = `Export the signed evidence package of ${id} (audited)`;
  button.onclick = () => exportEvidence(id, button);
  return button;
}

async function exportEvidence(id, button) {
  // the package comes as a download: the signed zip as the server wrote it, not re-encoded by the page
  button.disabled = true;
  button.textContent = "Exporting…";
  try {
    const response = await apiResponse(`/api/sites/${state.site}/evidence`,
                                       { method: "POST", body: JSON.stringify({ alert: id }) });
    const blob = await response.blob();
    const named = /filename="?([^";]+)"?/.exec(response.headers.get("content-disposition") || "");
    const link = Object.assign(document.createElement("a"),
                               { href: URL.createObjectURL(blob), download: named ? named[1] : `${id}-evidence.zip` });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 60000);
    button.textContent = "Evidence saved";
  } catch (error) {
    button.textContent = "Evidence failed";
    button.title = error.message;
  } finally {
    button.disabled = false;
  }
}

function askComment(item, id, action) {
  // an inline form, not window.prompt: the page (map, alarms, other alerts) goes on while the officer types
  item.querySelector("form.comment")?.remove();
  const form = document.createElement("form");
  form.className = "comment";
  form.innerHTML = `<input name="comment" placeholder="comment (optional)" aria-label="comment">` +
    `<button type="submit">${action === "acknowledge" ? "Acknowledge" : "Resolve"}</button>` +
    `<button type="button" data-cancel>Cancel</button>`;
  form.onsubmit = (event) => { event.preventDefault(); changeAlert(id, action, form.comment.value); };
  form.querySelector("[data-cancel]").onclick = () => form.remove();
  item.append(form);
  form.comment.focus();
}

async function changeAlert(id, action, comment = "") {
  if (state.replay) return;  // never from a replay: the officer must see the live picture to act
  document.querySelector(`#alerts li[data-alert="${id}"] form.comment`)?.remove();  // sent: the list may re-render
  try {
    const line = await api(`/api/sites/${state.site}/alerts/${id}/${action}`,
                           { method: "POST", body: JSON.stringify({ comment }) });
    noteAlert(line);
  } catch (error) {  // 404: it resolved meanwhile, drop it; anything else: say so, keep it
    const alert = state.alerts.get(id);
    if (alert && error.message.startsWith("404")) state.alerts.set(id, Object.assign({}, alert, { state: "resolved" }));
    document.getElementById("connection").title = `${id}: ${error.message}`;
  }
  renderAlerts();
  renderLog();
}

function cue(alert) {
  const item = document.querySelector(`#alerts li[data-alert="${alert.id}"]`);
  if (item) item.classList.add("flash");
  if (!muted()) sound();
}

// The alarm goes on sounding, every ALARM_EVERY_MS, while a critical alert is open and nobody has
// acknowledged it: one beep is missed by an officer who looked away.
const ALARM_EVERY_MS = 5000;

function alarmDue() {  // a replay does not silence it: the alerts are live ones
  return [...state.alerts.values()].some((a) => a.level === "critical" && a.state === "open");
}

// An officer may silence their own alarm for a few minutes (the service audits it and ends it by itself);
// alerts still flash, count and stay on the board.
const MUTE_MINUTES = 5;

function muted() { return state.mutedUntil != null && Date.now() / 1000 < state.mutedUntil; }

function showMute(until) {
  state.mutedUntil = until;
  const button = document.getElementById("mute");
  button.textContent = muted()
    ? `Alarm muted until ${utcTime(until)} UTC · unmute`
    : `Mute alarm ${MUTE_MINUTES} min`;
  button.classList.toggle("muted", muted());
}

async function toggleMute() {
  const answer = muted() ? await api("/api/me/alarm-mute", { method: "DELETE" })
    : await api("/api/me/alarm-mute", { method: "PUT", body: JSON.stringify({ minutes: MUTE_MINUTES }) });
  showMute(answer.muted_until);
}
document.getElementById("mute").addEventListener("click", toggleMute);
setInterval(() => { if (state.mutedUntil != null && !muted()) showMute(null); }, 1000);  // it ran out

function sound() {
  state.alarms = (state.alarms || 0) + 1;  // how often it sounded (the browser tests read it)
  try {
    const audio = new AudioContext();
    for (const [start, pitch] of [[0, 880], [0.25, 660]]) {  // two tones: not a notification chime
      const tone = audio.createOscillator();
      tone.frequency.value = pitch;
      tone.connect(audio.destination);
      tone.start(audio.currentTime + start); tone.stop(audio.currentTime + start + 0.2);
    }
    setTimeout(() => audio.close(), 1000);
  } catch (error) { /* no audio device: the flash and the red count stay */ }
}

setInterval(() => { if (alarmDue() && !muted()) sound(); }, ALARM_EVERY_MS);

function connect() {
  if (state.socket) { state.socket.onclose = null; state.socket.close(); }
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}/api/sites/${state.site}/stream`);
  state.socket = socket;
  const status = document.getElementById("connection");
  socket.onopen = () => { state.retry = 0; status.textContent = "live"; status.className = "up"; };
  socket.onmessage = (event) => {
    const cues = [];
    let alerts = false;
    for (const item of JSON.parse(event.data)) {
      if (item.type === "track") { tick(item.t); queueTrack(item); }
      else if (item.type === "operator") updateOperator(item);
      else if (item.type === "alert") {
        const previous = state.alerts.get(item.id);
        noteAlert(item);
        alerts = true;
        if (item.level === "critical" && item.state === "open" && (!previous || previous.level !== "critical")) {
          cues.push(item);
        }
      }
    }
    if (alerts) { renderAlerts(); renderLog(); }  // once a message: a batch of many alerts is one list update
    for (const item of cues) cue(item);
  };
  socket.onclose = (event) => {
    // the service says why it closed: 4401 signed out (logout elsewhere, expired, disabled),
    // 4403 not allowed, 4404 no such site or not granted; retrying would not change these
    if (event.code === 4401) { showLogin("Signed out: sign in again."); return; }
    if (event.code === 4403 || event.code === 4404) {
      status.textContent = `refused: ${event.reason || event.code}`; status.className = "down";
      return;
    }
    status.textContent = "reconnecting"; status.className = "down";
    state.retry = Math.min(state.retry + 1, 5);
    state.reconnect = setTimeout(async () => {
      try { await api("/api/me"); await openSite(state.site); } catch (error) { if (state.site) connect(); }
    }, 500 * state.retry);
  };
}

function showDetail(id) { state.detail = id; renderDetail(); }

function lostTrack(id) {
  // a track gone from the map that an open alert still holds: its last state, as the alert's evidence gives it
  const held = [...state.alerts.values()]
    .filter((a) => a.track === id && a.state !== "resolved" && a.evidence && a.evidence.track)
    .sort((a, b) => (b.evidence.track.t ?? b.t) - (a.evidence.track.t ?? a.t))[0];
  if (!held) return null;
  const evidence = held.evidence;
  const last = { t: held.t, ...evidence.track, id, class: evidence.class, confidence: evidence.confidence,
                 uas_id: evidence.uas_id, icao: evidence.icao, sensors: evidence.sensors };
  return { last, history: [last], lost: true };
}

function renderDetail() {
  const shown = state.tracks.get(state.detail) || lostTrack(state.detail);
  const panel = document.getElementById("detail");
  if (!shown) { panel.hidden = true; return; }
  panel.hidden = false;
  const track = shown.last;
  document.getElementById("detail-title").textContent =
    `Track ${track.id}${shown.lost ? ` · lost, last seen ${utcTime(track.t)} UTC` : ""}`;
  const facts = { class: `${track.class || "unknown"}${track.confidence != null ? ` (${(track.confidence * 100).toFixed(0)}%)` : ""}`,
                  "Remote ID": track.uas_id || "none", ICAO: track.icao || "none", Callsign: track.callsign || "none",
                  sensors: (track.sensors || []).join(", "),
                  height: `${height(track).toFixed(0)} m above the site (${track.alt.toFixed(0)} m above the ellipsoid)`,
                  speed: `${Math.hypot(track.vel_enu[0], track.vel_enu[1]).toFixed(1)} m/s` };
  const list = document.getElementById("detail-facts");
  list.innerHTML = "";
  for (const [name, value] of Object.entries(facts)) {
    const term = document.createElement("dt"); term.textContent = name;
    const text = document.createElement("dd"); text.textContent = value;
    list.append(term, text);
  }
  plot(document.getElementById("detail-plot"), shown.history);
}

function plot(canvas, history) {
  const g = canvas.getContext("2d");
  g.clearRect(0, 0, canvas.width, canvas.height);
  if (history.length < 2) return;
  const t0 = history[0].t, t1 = history[history.length - 1].t;
  const series = [["height above the site (m)", height, "#74c0fc"],
                  ["speed (m/s)", (p) => Math.hypot(p.vel_enu[0], p.vel_enu[1]), "#ffa94d"]];
  series.forEach(([name, value, colour], k) => {
    const values = history.map(value);
    const lo = Math.min(...values), hi = Math.max(...values) || 1;
    const top = k * canvas.height / 2, height = canvas.height / 2 - 14;
    g.strokeStyle = colour; g.fillStyle = colour; g.beginPath();
    history.forEach((p, i) => {
      const x = ((p.t - t0) / Math.max(t1 - t0, 1)) * (canvas.width - 4) + 2;
      const y = top + 12 + height - ((values[i] - lo) / Math.max(hi - lo, 1e-6)) * height;
      if (i) g.lineTo(x, y); else g.moveTo(x, y);
    });
    g.stroke();
    g.fillText(`${name} ${lo.toFixed(0)}–${hi.toFixed(0)}`, 4, top + 10);
  });
}

// ------------------------------------------------------------------ replay
async function startReplay() {
  const minutes = Number(document.getElementById("replay-minutes").value) || 5;
  const to = pictureNow(), from = to - minutes * 60;  // the picture's minutes (a simulation may run ahead)
  const [points, alerts] = await Promise.all([
    apiAllPages(`/api/sites/${state.site}/tracks/history?from=${from}&to=${to}`),
    api(`/api/sites/${state.site}/alerts`)]);
  stopReplay(false);
  if (!points.length) { document.getElementById("replay-time").textContent = "nothing stored in that window"; }
  const t0 = points.length ? points[0].t : from, t1 = points.length ? points[points.length - 1].t : to;
  state.replay = { points, index: 0, t: t0, t0, t1, playing: true, timer: null,
                   speed: Number(document.getElementById("replay-speed").value) };
  clearTracks();
  document.body.classList.add("replaying");
  document.getElementById("replay-bar").hidden = false;
  const marks = document.getElementById("replay-marks");
  marks.innerHTML = "";
  for (const alert of alerts) {
    if (alert.t < t0 || alert.t > t1) continue;
    const mark = document.createElement("span");
    mark.style.left = `${((alert.t - t0) / Math.max(t1 - t0, 1)) * 100}%`;
    mark.style.background = LEVEL_COLOURS[alert.level];
    mark.title = `${alert.id} ${alert.level} ${alert.kind}`;
    marks.append(mark);
  }
  state.replay.timer = setInterval(stepReplay, 100);
  renderAlerts();
}

function renderReplayBanner() {
  // a replay is its own mode: marked with its time, the live alerts counted where they cannot be missed
  const banner = document.getElementById("replay-banner");
  const replay = state.replay;
  if (banner.hidden !== !replay) {
    banner.hidden = !replay;
    if (state.map) state.map.invalidateSize();  // the banner and the replay bar take the map's height
  }
  if (!replay) return;
  const live = { critical: 0, warning: 0 };
  for (const alert of state.alerts.values()) {
    if (alert.state === "open" && alert.level in live) live[alert.level] += 1;
  }
  const waiting = live.critical + live.warning;
  banner.className = live.critical ? "critical" : live.warning ? "warning" : "";
  banner.querySelector(".when").textContent = `REPLAY · ${utcTime(replay.t)} UTC` +
    ` · x${replay.speed} · not the live picture`;
  banner.querySelector(".live").textContent = waiting
    ? `Live now: ${live.critical} critical, ${live.warning} warning alert(s) open and not acknowledged`
    : "Live now: no open warning or critical alert";
}

function clearTracks() {
  state.layers.tracks.clearLayers();
  state.tracks.clear();
  if (state.operators) state.operators.clear();
}

function seekReplay(t) {
  const replay = state.replay;
  clearTracks();
  replay.index = 0; replay.t = replay.t0;
  advanceTo(t);
}

function advanceTo(t) {
  const replay = state.replay;
  while (replay.index < replay.points.length && replay.points[replay.index].t <= t) {
    updateTrack(replay.points[replay.index], true);
    replay.index += 1;
  }
  replay.t = t;
  for (const [id, shown] of state.tracks) {  // tracks that ended in the replayed time go
    if (t - shown.last.t > 10) {
      for (const part of trackParts(shown)) state.layers.tracks.removeLayer(part);
      state.tracks.delete(id);
    }
  }
  document.getElementById("replay-slider").value =
    String(Math.round(((t - replay.t0) / Math.max(replay.t1 - replay.t0, 1)) * 1000));
  document.getElementById("replay-time").textContent =
    `${utcTime(t)} UTC · x${replay.speed}`;
  renderReplayBanner();
}

function stepReplay() {
  const replay = state.replay;
  if (!replay || !replay.playing) return;
  const next = Math.min(replay.t + 0.1 * replay.speed, replay.t1);
  advanceTo(next);
  if (next >= replay.t1) { replay.playing = false; document.getElementById("replay-pause").textContent = "Play"; }
}

function stopReplay(reopen = true) {
  if (state.replay) clearInterval(state.replay.timer);
  state.replay = null;
  document.body.classList.remove("replaying");
  document.getElementById("replay-bar").hidden = true;
  if (reopen) openSite(state.site);
}

document.getElementById("replay-start").addEventListener("click", startReplay);
document.getElementById("replay-exit").addEventListener("click", () => stopReplay());
document.getElementById("replay-live").addEventListener("click", () => stopReplay());
document.getElementById("replay-pause").addEventListener("click", (event) => {
  if (!state.replay) return;
  state.replay.playing = !state.replay.playing;
  event.target.textContent = state.replay.playing ? "Pause" : "Play";
});
document.getElementById("replay-slider").addEventListener("input", (event) => {
  const replay = state.replay;
  if (replay) seekReplay(replay.t0 + (Number(event.target.value) / 1000) * (replay.t1 - replay.t0));
});

document.getElementById("login-form").addEventListener("submit", login);
document.getElementById("logout").addEventListener("click", logout);
document.getElementById("detail-close").addEventListener("click", () => { state.detail = null; renderDetail(); });
setInterval(dropStaleTracks, 2000);
start();
