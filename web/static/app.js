/* SkyGuard web map: loads the station's state from REST, then applies the numbered live updates (Socket.IO
   "batch" events) with no gap and no duplicate; draws it on a Leaflet map that needs no tile server; sends
   operator actions through the REST API (the server checks roles and CSRF) and shows each outcome. */
"use strict";

(function () {
  const TRAIL_S = 300;           // a drone's trail: the last 5 minutes
  const CROWD_KEEP_S = 30;       // crowds seen recently
  const S = {                    // what the page knows; `seq` is the number of the last feed item applied
    seq: -1, loading: false, user: null, role: null, csrf: null,
    vehicles: {}, zones: {}, cells: [], crowds: [], responses: {}, runs: {}, missions: [], alerts: {}, acks: {},
    readings: [], broadcasts: {}, trails: {}, schedules: [], activity: [], applied: 0, reloads: 0, gaps: 0,
    video: [], watching: null, zoneFile: null, drawing: null,
    snapshots: {},                                                          // alert id -> its evidence snapshot (people blurred)
    risk: {}, riskAt: null, riskSpan: {first: null, last: null}, venues: {},   // risk map: live levels; riskAt: a past map
  };
  window.skyguard = S;           // for the browser tests and the curious
  let lang = localStorage.getItem("skyguard.lang") || ((navigator.language || "en").startsWith("zh") ? "zh" : "en");
  let map, layers, socket, layout, audio;

  // --- labels -----------------------------------------------------------------------------------------------
  function t(key, vars) {
    const labels = window.SKYGUARD_LABELS[lang] || window.SKYGUARD_LABELS.en;
    let text = labels[key] || window.SKYGUARD_LABELS.en[key] || key;
    for (const [k, v] of Object.entries(vars || {})) text = text.replace(`{${k}}`, v);
    return text;
  }
  function applyLabels() {
    document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
    document.querySelectorAll("[data-i18n]").forEach(el => { el.textContent = t(el.dataset.i18n); });
    if (S.user) { setLink(document.body.dataset.live === "1"); render(); }
  }
  document.querySelectorAll("button.lang").forEach(b => b.addEventListener("click", () => {
    lang = b.dataset.lang; localStorage.setItem("skyguard.lang", lang); applyLabels();
  }));

  // --- small helpers ----------------------------------------------------------------------------------------
  const $ = id => document.getElementById(id);
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") e.className = v; else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else if (v !== undefined && v !== null) e.setAttribute(k, v);
    }
    for (const c of children.flat()) if (c !== null && c !== undefined) e.append(c.nodeType ? c : String(c));
    return e;
  }
  const fmt = (x, digits = 0) => (x === null || x === undefined) ? "–" : Number(x).toFixed(digits);
  const time = s => s ? new Date(s * 1000).toLocaleTimeString() : "–";
  function toast(text, kind) {
    const box = el("div", {class: `toast ${kind || ""}`}, text);
    $("toasts").append(box);
    setTimeout(() => box.remove(), 8000);
  }

  async function api(method, path, body) {
    const headers = {};
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (method !== "GET" && S.csrf) headers["X-CSRFToken"] = S.csrf;
    let r;
    try {
      r = await fetch(path, {method, headers, body: body === undefined ? undefined : JSON.stringify(body),
                             credentials: "same-origin"});
    } catch (e) {                              // the server is away (restarting): the live connection says so
      return {status: 0, ok: false, data: {error: "unreachable", message: String(e)}};
    }
    let data = null;
    try { data = await r.json(); } catch (e) { data = null; }
    if (r.status === 401 && path !== "/api/session") { showLogin(); }
    return {status: r.status, ok: r.ok, data};
  }

  // --- login ------------------------------------------------------------------------------------------------
  function showLogin(message) {
    S.user = null;
    if (socket) { socket.disconnect(); socket = null; }
    $("app").hidden = true; $("login").hidden = false;
    $("login-error").textContent = message || "";
  }
  $("login-form").addEventListener("submit", async ev => {
    ev.preventDefault();
    const r = await api("POST", "/api/session", {name: $("login-name").value, password: $("login-password").value});
    $("login-password").value = "";
    if (!r.ok) { $("login-error").textContent = r.status === 429 ? t("too_many") : t("wrong_login"); return; }
    unlockAudio();
    started(r.data);
  });
  $("logout").addEventListener("click", async () => { await api("DELETE", "/api/session"); showLogin(); });

  async function boot() {
    applyLabels();
    const r = await api("GET", "/api/session");
    if (r.ok) started(r.data); else showLogin();
  }

  async function started(me) {
    S.user = me.user; S.role = me.role; S.csrf = me.csrf_token;
    document.body.dataset.role = me.role;
    $("whoami").textContent = `${me.user} (${me.role})`;
    $("login").hidden = true; $("app").hidden = false;
    $("schedule-form").hidden = me.role !== "admin";
    $("zone-form").hidden = $("zone-import").hidden = me.role !== "admin";
    $("officer-form").hidden = $("grid-import").hidden = true;   // shown by refreshGrid when the grid is editable
    $("broadcast-panel").hidden = !canOperate();
    if (!map) initMap();
    await reloadLayout();
    connect();
    refreshSchedules();
    refreshVideo();
    refreshZoneFile();
    refreshRiskSpan();
    refreshGrid();
    const now = Date.now() / 1000;
    if (!$("replay-from").value) { $("replay-from").value = localInput(now - 3600); $("replay-to").value = localInput(now); }
  }
  async function reloadLayout() {
    const l = await api("GET", "/api/layout");
    if (l.ok) drawLayout(l.data);
  }

  // --- live updates -----------------------------------------------------------------------------------------
  function connect() {
    if (socket) socket.disconnect();
    socket = io({transports: ["websocket"], reconnection: true, reconnectionDelay: 500, reconnectionDelayMax: 3000});
    socket.on("connect", () => { setLink(true); loadState(); });
    socket.on("disconnect", () => setLink(false));
    socket.on("connect_error", async () => {
      setLink(false);
      const r = await api("GET", "/api/session");   // 401 shows the login form
      if (r.ok) S.csrf = r.data.csrf_token;
    });
    socket.on("batch", onBatch);
    socket.on("reload", () => { S.reloads++; loadState(); });
    socket.on("ack", ack => { S.acks[ack.alert_id] = ack; renderAlerts(); });
  }
  function setLink(up) {
    const b = $("link-status");
    b.dataset.state = up ? "up" : "down";
    b.textContent = up ? t("live") : t("offline");
    document.body.dataset.live = up ? "1" : "0";
  }

  async function loadState() {
    S.loading = true;
    const r = await api("GET", "/api/state");
    if (!r.ok) { S.loading = false; return; }
    const st = r.data;
    S.vehicles = st.vehicles; S.cells = st.cells; S.crowds = st.crowds.map(c => ({...c, seen_s: st.at_s}));
    S.zones = {}; for (const z of st.zones) S.zones[z.zone_id] = z;
    S.responses = {}; for (const x of st.responses) S.responses[x.response_id] = x;
    S.runs = {}; for (const x of st.patrol_runs) S.runs[x.run_id] = x;
    S.missions = st.missions;
    S.alerts = {}; for (const a of st.alerts) S.alerts[a.alert_id] = a;
    S.acks = st.acks; S.readings = st.thermal_readings;
    S.broadcasts = {}; for (const b of st.broadcasts) S.broadcasts[b.broadcast_id] = b;
    S.risk = {}; for (const a of (st.risk ? st.risk.areas : [])) S.risk[a.area_id] = a;
    S.venues = {}; for (const v of st.venues || []) S.venues[v.venue_id] = v;
    S.snapshots = {}; for (const x of st.snapshots || []) S.snapshots[x.alert_id] = x;
    for (const [id, v] of Object.entries(S.vehicles)) addTrail(id, v, st.at_s);
    S.seq = st.seq;
    S.loading = false;
    socket.emit("join", {seq: st.seq});
    render();
  }

  function onBatch(batch) {
    if (S.loading) return;                     // the state being loaded, then the join, cover it
    if (batch.acks) Object.assign(S.acks, batch.acks);
    if (batch.to <= S.seq) { if (batch.acks) renderAlerts(); return; }   // all seen already
    if (batch.from > S.seq + 1) { S.gaps++; loadState(); return; }       // a gap: start again from the state
    for (const item of batch.items) if (item.seq > S.seq) apply(item);
    S.seq = batch.to;
    document.body.dataset.seq = String(S.seq);
    scheduleRender();
  }

  let renderQueued = false;
  function scheduleRender() {
    if (renderQueued) return;
    renderQueued = true;
    requestAnimationFrame(() => { renderQueued = false; render(); });
  }

  function apply(item) {
    S.applied++;
    const d = item.data;
    switch (item.kind) {
      case "vehicle": S.vehicles[d.vehicle_id] = d; addTrail(d.vehicle_id, d, item.at_s); break;
      case "zone_count": {
        const z = S.zones[d.zone_id] || (S.zones[d.zone_id] = {zone_id: d.zone_id, name: d.zone_id});
        z.count = d.count; z.capacity_persons = d.capacity_persons; break;
      }
      case "gathering": {
        const z = S.zones[d.zone_id] || (S.zones[d.zone_id] = {zone_id: d.zone_id, name: d.zone_id});
        z.gathering_id = d.status === "gathering" ? d.gathering_id : null; z.count = d.count; break;
      }
      case "response": S.responses[d.response_id] = {...(S.responses[d.response_id] || {}), ...d}; break;
      case "response_step": {
        const r = S.responses[d.response_id] || (S.responses[d.response_id] = {response_id: d.response_id});
        r.state = d.state; r.steps = [...(r.steps || []), d.state];
        break;
      }
      case "alert": if (!S.alerts[d.alert_id]) { S.alerts[d.alert_id] = d; announce(d); } break;
      case "snapshot": S.snapshots[d.alert_id] = d; break;
      case "thermal_reading": S.readings.push(d); if (S.readings.length > 1000) S.readings.shift(); break;
      case "broadcast": {                      // an update may leave the text out: keep what was said
        const old = S.broadcasts[d.broadcast_id] || {};
        S.broadcasts[d.broadcast_id] = {...old, ...d, text: d.text || old.text || ""};
        break;
      }
      case "patrol_run":
        if (["completed", "aborted", "missed"].includes(d.status)) delete S.runs[d.run_id];
        else S.runs[d.run_id] = {...(S.runs[d.run_id] || {}), ...d};
        refreshMissions(); break;
      case "crowd_observation": S.crowds.push({...d, seen_s: item.at_s}); break;
      case "risk_level":
        S.risk[d.area_id] = {...(S.risk[d.area_id] || {area_id: d.area_id, name: d.area_id}), level: d.level,
                             since_s: d.at_s, reasons: d.reasons, values: d.values};
        S.riskSpan.last = d.at_s; if (S.riskSpan.first === null) S.riskSpan.first = d.at_s;
        break;
      case "venue_count": {
        const v = S.venues[d.venue_id] || (S.venues[d.venue_id] = {venue_id: d.venue_id, name: d.venue_id});
        Object.assign(v, {occupancy: d.occupancy, entered: d.entered, exited: d.exited, limit_persons: d.limit_persons,
                          over_limit: d.over_limit});
        break;
      }
      case "event": addActivity(item.at_s, d.vehicle_id, d.text, d.severity); break;
      case "command": addActivity(item.at_s, d.vehicle_id, `${d.action} (${d.requested_by}): ${d.decision} – ${d.reason}`,
                                  d.decision === "refused" ? "warning" : "info"); break;
      default: break;
    }
  }

  function addTrail(id, v, at_s) {
    if (v.lat_deg === null || v.lat_deg === undefined || (v.lat_deg === 0 && v.lon_deg === 0)) return;
    const trail = S.trails[id] || (S.trails[id] = []);
    trail.push([v.lat_deg, v.lon_deg, at_s]);
    while (trail.length && trail[0][2] < at_s - TRAIL_S) trail.shift();
  }
  function addActivity(at_s, who, text, severity) {
    S.activity.unshift({at_s, who, text, severity});
    if (S.activity.length > 100) S.activity.pop();
  }

  // --- alerts: sound and notification -----------------------------------------------------------------------
  function unlockAudio() {
    try { audio = audio || new (window.AudioContext || window.webkitAudioContext)(); } catch (e) { audio = null; }
  }
  function beep() {
    if (!audio) return;
    const o = audio.createOscillator(), g = audio.createGain();
    o.frequency.value = 880; g.gain.value = 0.15; o.connect(g); g.connect(audio.destination);
    o.start(); o.stop(audio.currentTime + 0.35);
  }
  function announce(alert) {
    S.lastAnnounced = alert.alert_id;
    beep();
    if (window.Notification && Notification.permission === "granted") {
      try { new Notification(`SkyGuard: ${alert.kind}`, {body: alert.text, tag: alert.alert_id}); } catch (e) { /* ignore */ }
    }
  }
  $("notify-enable").addEventListener("click", async () => {
    unlockAudio();
    if (window.Notification) await Notification.requestPermission();
    $("notify-enable").hidden = !window.Notification || Notification.permission === "granted";
  });

  function alertState(a) {
    const response = a.response_id ? S.responses[a.response_id] : null;
    if (response && response.state === "ended") return "resolved";
    if (a.response_id && !response && a.kind !== "fever_hint") return "resolved";
    if (S.acks[a.alert_id]) return "acknowledged";
    if (a.kind === "escalation") return "escalated";
    return "new";
  }

  // --- actions ----------------------------------------------------------------------------------------------
  async function act(path, body, label, method = "POST") {
    const r = await api(method, path, body);
    if (r.ok && r.data.outcome) {
      const o = r.data.outcome;
      const kind = o.status === "accepted" ? "accepted" : "refused";
      toast(`${label}: ${t(o.status.startsWith("refused") ? "refused" : o.status)} – ${o.reason}`, kind);
    } else if (r.ok) {
      if (!(r.data && r.data.message)) toast(`${label}: ${t("accepted")}`, "accepted");
    } else {
      toast(`${label}: ${t("refused")} (${r.status}) – ${r.data ? r.data.message : ""}`, "refused");
    }
    return r;
  }
  const canOperate = () => S.role === "operator" || S.role === "admin";

  // --- map --------------------------------------------------------------------------------------------------
  function initMap() {
    map = L.map("map", {zoomControl: true, attributionControl: true, preferCanvas: false}).setView([23.0469, 112.4651], 16);
    L.control.scale({metric: true, imperial: false}).addTo(map);
    layers = {
      fence: L.layerGroup().addTo(map), grid: L.layerGroup().addTo(map), zones: L.layerGroup().addTo(map),
      cells: L.layerGroup().addTo(map), missions: L.layerGroup().addTo(map), trails: L.layerGroup().addTo(map),
      crowds: L.layerGroup().addTo(map), readings: L.layerGroup().addTo(map), responses: L.layerGroup().addTo(map),
      drones: L.layerGroup().addTo(map), risk: L.layerGroup().addTo(map), venues: L.layerGroup().addTo(map),
      replay: L.layerGroup(),
    };
    S.droneMarkers = {};
    setInterval(refreshCells, 5000);
    setInterval(refreshSchedules, 30000);
    setInterval(refreshVideo, 15000);
    setInterval(refreshRiskSpan, 60000);
  }

  function drawLayout(lay) {
    layout = lay;
    for (const k of ["fence", "grid", "zones", "risk"]) layers[k].clearLayers();
    if (S.tileLayer) { S.tileLayer.remove(); S.tileLayer = null; }
    if (lay.tiles && lay.tiles.kind !== "none") {
      const options = {maxZoom: lay.tiles.kind === "mbtiles" ? 20 : lay.tiles.max_zoom, attribution: lay.tiles.attribution};
      if (lay.tiles.max_native_zoom) options.maxNativeZoom = lay.tiles.max_native_zoom;   // upscaled beyond the file's zooms
      if (lay.tiles.min_zoom) options.minNativeZoom = lay.tiles.min_zoom;
      if (lay.tiles.bounds) options.bounds = L.latLngBounds(lay.tiles.bounds);
      S.tileLayer = L.tileLayer(lay.tiles.url, options).addTo(map).bringToBack();
    }
    const f = lay.geofence;
    if (f && f.inclusion) {
      L.polygon(f.inclusion, {color: "#1f5fbf", weight: 2, fill: false, dashArray: "6 4"}).addTo(layers.fence);
      for (const ex of f.exclusions || []) L.polygon(ex, {color: "#b3261e", weight: 1, fillOpacity: 0.12}).addTo(layers.fence);
    }
    if (lay.grid && lay.grid.lines) {
      for (const line of lay.grid.lines) L.polyline(line, {color: "#7d8a99", weight: 0.6, opacity: 0.6, interactive: false}).addTo(layers.grid);
    }
    S.zoneLayers = {};
    L.geoJSON(lay.zones, {
      style: () => ({color: "#2e7d32", weight: 2, fillOpacity: 0.25}),
      onEachFeature: (feature, layer) => {
        S.zoneLayers[feature.properties.zone_id] = layer;
        layer.bindTooltip(feature.properties.name, {permanent: true, className: "zone-label", direction: "center"});
        layer.addTo(layers.zones);
      },
    });
    // the risk map's areas: the grid file's cells (filled) and communities (outlined); without a grid, the zones
    S.riskLayers = {};
    const areas = lay.risk_areas && lay.risk_areas.features.length ? lay.risk_areas
      : {type: "FeatureCollection", features: lay.zones.features.map(fz => ({...fz, id: fz.properties.zone_id,
          properties: {area_id: fz.properties.zone_id, kind: "zone", name: fz.properties.name}}))};
    L.geoJSON(areas, {
      style: f => f.properties.kind === "community" ? {weight: 3, fill: false, dashArray: "8 4", interactive: false}
                                                    : {weight: 1, fillOpacity: 0.28, dashArray: f.properties.kind === "zone" ? "2 4" : null},
      onEachFeature: (feature, layer) => {
        S.riskLayers[feature.properties.area_id] = layer;
        layer.feature = feature;
        if (feature.properties.kind !== "community") layer.bindTooltip("");
        layer.addTo(layers.risk);
      },
    });
    layers.risk.eachLayer(l => l.bringToBack && l.bringToBack());
    const zoneSelect = $("schedule-zone");
    zoneSelect.replaceChildren(el("option", {value: ""}, "–"),
      ...lay.zones.features.map(fz => el("option", {value: fz.properties.zone_id}, fz.properties.name)));
    $("broadcast-zone").replaceChildren(
      ...lay.zones.features.map(fz => el("option", {value: fz.properties.zone_id}, t("zone_message", {zone: fz.properties.name}))),
      el("option", {value: ""}, t("own_text")));
    const bounds = L.latLngBounds([]);
    if (f && f.inclusion) f.inclusion.forEach(p => bounds.extend(p));
    lay.zones.features.forEach(fz => bounds.extend(L.geoJSON(fz).getBounds()));
    if (lay.risk_areas) lay.risk_areas.features.forEach(fz => bounds.extend(L.geoJSON(fz).getBounds()));
    if (bounds.isValid()) map.fitBounds(bounds, {padding: [20, 20]});
    else if (lay.centre) map.setView(lay.centre, 16);
  }

  function ratioColour(count, capacity) {
    if (!capacity) return count > 0 ? "#f9a825" : "#2e7d32";
    const r = count / capacity;
    return r > 1 ? "#b3261e" : r > 0.8 ? "#ef6c00" : r > 0.5 ? "#f9a825" : "#2e7d32";
  }

  function droneIcon(v) {
    const colour = !v.link_up ? "#888" : v.armed ? "#1f5fbf" : "#0b2a55";
    const heading = v.heading_deg || 0;
    return L.divIcon({className: "drone-icon", iconSize: [24, 24], iconAnchor: [12, 12], html:
      `<svg width="24" height="24" viewBox="-12 -12 24 24" style="transform: rotate(${heading}deg)">` +
      `<polygon points="0,-11 8,9 0,4 -8,9" fill="${colour}" stroke="#fff" stroke-width="1.5"/></svg>` +
      `<span class="drone-label">${escapeHtml(v.vehicle_id)}</span>`});
  }
  function escapeHtml(s) { return String(s).replace(/[&<>"']/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c])); }

  function droneText(v) {
    return `${v.vehicle_id}: ${v.link_up ? t("link_up") : t("link_down")}, ${v.armed ? t("armed") : t("disarmed")}, ` +
      `${t("mode")} ${v.mode || "–"}, ${t("alt")} ${fmt(v.alt_rel_m, 1)} m, ${t("speed")} ${fmt(v.groundspeed_m_s, 1)} m/s, ` +
      `${t("battery")} ${fmt(v.battery_pct)} %, ${t("mission")} ${v.mission_seq ?? "–"}/${v.mission_count ?? "–"}`;
  }

  function renderMap() {
    if (S.replay) return;                      // the map shows the replayed period (renderReplay)
    const now = Date.now() / 1000;
    for (const [id, v] of Object.entries(S.vehicles)) {
      if (v.lat_deg === null || v.lat_deg === undefined || (v.lat_deg === 0 && v.lon_deg === 0)) continue;
      let m = S.droneMarkers[id];
      if (!m) { m = S.droneMarkers[id] = L.marker([v.lat_deg, v.lon_deg], {icon: droneIcon(v)}).addTo(layers.drones); m.bindTooltip(""); }
      m.setLatLng([v.lat_deg, v.lon_deg]); m.setIcon(droneIcon(v)); m.setTooltipContent(droneText(v));
      m.getElement() && (m.getElement().dataset.vehicle = id);
    }
    layers.trails.clearLayers();
    for (const trail of Object.values(S.trails)) if (trail.length > 1) L.polyline(trail.map(p => [p[0], p[1]]), {color: "#1f5fbf", weight: 2, opacity: 0.6, interactive: false}).addTo(layers.trails);
    layers.missions.clearLayers();
    for (const m of S.missions) if (m.path.length > 1) L.polyline(m.path, {color: "#6a1b9a", weight: 2, dashArray: "4 6", opacity: 0.8}).bindTooltip(`${m.vehicle_id}: ${m.schedule_id} (${m.status})`).addTo(layers.missions);
    for (const z of Object.values(S.zones)) {
      const layer = S.zoneLayers && S.zoneLayers[z.zone_id];
      if (!layer) continue;
      const colour = ratioColour(z.count || 0, z.capacity_persons);
      layer.setStyle({color: z.gathering_id ? "#b3261e" : colour, fillColor: colour, weight: z.gathering_id ? 4 : 2});
      layer.setTooltipContent(`${z.name}: ${t("people")} ${z.count || 0} / ${t("capacity")} ${z.capacity_persons}`);
    }
    layers.cells.clearLayers();
    const cellCap = layout && layout.grid ? layout.grid.cell_capacity_persons : null;
    for (const c of S.cells) if (c.bounds) L.rectangle(c.bounds, {color: ratioColour(c.count, cellCap), weight: 1, fillOpacity: 0.35}).bindTooltip(`${t("people")} ${c.count}`).addTo(layers.cells);
    layers.crowds.clearLayers();
    S.crowds = S.crowds.filter(c => c.seen_s > now - CROWD_KEEP_S);
    const latest = {};
    for (const c of S.crowds) latest[`${c.stream_id}`] = c;   // the last crowd each camera reported
    for (const c of Object.values(latest)) L.circle([c.lat_deg, c.lon_deg], {radius: Math.max(c.radius_m || 0, 5), color: "#ef6c00", weight: 2, fillOpacity: 0.2})
      .bindTooltip(`${t("crowd")}: ${c.count} ${t("people")}, ${t("radius")} ${fmt(c.radius_m, 1)} m, ${t("confidence")} ${fmt(c.confidence, 2)}`).addTo(layers.crowds);
    layers.readings.clearLayers();
    const active = new Set(Object.values(S.responses).filter(r => r.state !== "ended").map(r => r.response_id));
    for (const x of S.readings) {
      if (!active.has(x.response_id)) continue;
      const colour = x.status !== "measured" ? "#888" : x.fever ? "#b3261e" : "#1f5fbf";
      const text = x.status === "measured" ? t("reading", {temp: fmt(x.temp_c, 1), unc: fmt(x.uncertainty_c, 1)}) : `${t("unmeasured")}: ${x.reason}`;
      L.circleMarker([x.lat_deg, x.lon_deg], {radius: 4, color: colour, weight: 1, fillOpacity: 0.8}).bindTooltip(text).addTo(layers.readings);
    }
    layers.responses.clearLayers();
    for (const r of Object.values(S.responses)) if (r.state !== "ended" && r.lat_deg) L.circleMarker([r.lat_deg, r.lon_deg], {radius: 12, color: "#b3261e", weight: 3, fill: false})
      .bindTooltip(`${r.zone_name || r.zone_id}: ${r.state}`, {permanent: true, direction: "top"}).addTo(layers.responses);
  }

  // --- the risk map and venues -------------------------------------------------------------------------------
  const LEVEL_COLOURS = {green: "#2e7d32", blue: "#1565c0", yellow: "#f9a825", orange: "#ef6c00", red: "#b3261e"};
  const LEVEL_ORDER = ["red", "orange", "yellow", "blue", "green"];
  const levelName = level => t(level ? `level_${level}` : "level_unknown");
  function riskShown() { return S.riskAt ? S.riskAt.areas : S.risk; }
  function riskText(name, a) {
    if (!a || !a.level) return `${name}: ${levelName(null)}`;
    const why = (a.reasons || []).length ? ` – ${a.reasons.join("; ")}` : "";
    return `${name}: ${levelName(a.level)} (${t("since")} ${time(a.since_s || a.at_s)})${why}`;
  }
  function renderRisk() {
    if (!S.riskLayers) return;
    const shown = riskShown();
    const visible = $("risk-show").checked;
    if (visible && !map.hasLayer(layers.risk)) layers.risk.addTo(map);
    if (!visible && map.hasLayer(layers.risk)) layers.risk.remove();
    for (const [id, layer] of Object.entries(S.riskLayers)) {
      const a = shown[id], colour = a && a.level ? LEVEL_COLOURS[a.level] : "#9e9e9e";
      layer.setStyle({color: colour, fillColor: colour});
      if (layer.getTooltip()) layer.setTooltipContent(riskText(layer.feature.properties.name, a));
      const e = layer.getElement && layer.getElement();
      if (e) { e.dataset.area = id; e.dataset.level = a && a.level ? a.level : ""; }
    }
    const names = {};
    for (const [id, layer] of Object.entries(S.riskLayers)) names[id] = layer.feature.properties.name;
    const listed = Object.values(shown).filter(a => a.level && a.level !== "green")
      .sort((x, y) => LEVEL_ORDER.indexOf(x.level) - LEVEL_ORDER.indexOf(y.level));
    $("risk-list").replaceChildren(...(listed.length ? listed.map(a => el("li", {"data-area": a.area_id, "data-level": a.level},
      el("span", {class: "badge level", style: `background:${LEVEL_COLOURS[a.level]}`}, levelName(a.level)), " ",
      el("strong", null, a.name || names[a.area_id] || a.area_id), " ", el("span", {class: "meta"}, `${t("since")} ${time(a.since_s || a.at_s)}`),
      el("div", {class: "why"}, (a.reasons || []).join("; ")))) : [el("li", {class: "meta"}, t("risk_none"))]));
    $("risk-when").textContent = S.riskAt ? t("risk_then", {time: new Date(S.riskAt.at_s * 1000).toLocaleString()}) : t("risk_live");
    document.body.dataset.risk = S.riskAt ? String(S.riskAt.at_s) : "live";
  }
  async function refreshRiskSpan() {
    if (!S.user) return;
    const r = await api("GET", "/api/risk");
    if (r.ok) S.riskSpan = {first: r.data.first_change_s, last: r.data.last_change_s};
  }
  let riskTimer = null;
  function riskSlider() {           // 0..1000 over the recorded history up to now; 1000: live
    clearTimeout(riskTimer);
    riskTimer = setTimeout(async () => {
      const v = Number($("risk-time").value), now = Date.now() / 1000;
      if (v >= 1000 || S.riskSpan.first === null) { S.riskAt = null; renderRisk(); return; }
      const at = S.riskSpan.first + (now - S.riskSpan.first) * v / 1000;
      const r = await api("GET", `/api/risk?at=${at.toFixed(3)}`);
      if (!r.ok) { toast(`${t("risk_history")}: ${r.data ? r.data.message : r.status}`, "refused"); return; }
      const areas = {}; for (const a of r.data.areas) areas[a.area_id] = a;
      S.riskAt = {at_s: r.data.at_s, areas};
      renderRisk();
    }, 150);
  }
  $("risk-time").addEventListener("input", riskSlider);
  $("risk-live").addEventListener("click", () => { $("risk-time").value = "1000"; S.riskAt = null; renderRisk(); });
  $("risk-show").addEventListener("change", renderRisk);

  function renderVenues() {
    layers.venues.clearLayers();
    const list = Object.values(S.venues).sort((a, b) => String(a.name).localeCompare(String(b.name)));
    for (const v of list) {
      if (v.lat_deg === undefined || v.lat_deg === null) continue;
      const colour = v.over_limit ? "#b3261e" : ratioColour(v.occupancy || 0, v.limit_persons);
      const m = L.circleMarker([v.lat_deg, v.lon_deg], {radius: 10, color: colour, weight: 3, fillOpacity: 0.5})
        .bindTooltip(`${v.name}: ${t("occupancy")} ${v.occupancy || 0} / ${t("limit")} ${v.limit_persons}`, {permanent: true, direction: "right"})
        .addTo(layers.venues);
      const e = m.getElement && m.getElement();
      if (e) e.dataset.venue = v.venue_id;
    }
    $("venue-list").replaceChildren(...(list.length ? list.map(v => el("li", {"data-venue": v.venue_id, "data-over": v.over_limit ? "1" : "0"},
      el("strong", null, v.name), " ", `${t("occupancy")} ${v.occupancy || 0} / ${t("limit")} ${v.limit_persons}`,
      v.over_limit ? el("span", {class: "badge warn"}, t("over_limit")) : null)) : [el("li", {class: "meta"}, t("no_venues"))]));
  }

  // --- the grid and its officers --------------------------------------------------------------------------------
  async function refreshGrid() {
    const r = await api("GET", "/api/grid");
    if (!r.ok) return;
    const doc = r.data, admin = S.role === "admin";
    S.grid = doc;
    $("grid-note").textContent = doc.editable ? "" : (doc.why || "");
    $("officer-form").hidden = $("grid-import").hidden = !(admin && doc.editable);
    const id = f => String(f.id !== undefined ? f.id : (f.properties || {}).id);
    $("grid-list").replaceChildren(...doc.features.map(f => {
      const p = f.properties || {};
      const contacts = ["email", "sms", "webhook"].map(k => p[k]).filter(Boolean).join(", ");
      return el("li", {"data-unit": id(f), "data-level": p.level},
        el("span", {class: "badge"}, t(`level_${p.level}`)), " ", el("strong", null, p.name || id(f)), " – ", p.officer || "–",
        contacts ? el("span", {class: "meta"}, ` (${contacts})`) : null);
    }));
    const select = $("officer-unit"), chosen = select.value;
    select.replaceChildren(...doc.features.map(f => el("option", {value: id(f)}, `${(f.properties || {}).name || id(f)} (${t(`level_${(f.properties || {}).level}`)})`)));
    if (chosen) select.value = chosen;
    fillOfficer();
  }
  function fillOfficer() {
    const f = S.grid && S.grid.features.find(x => String(x.id !== undefined ? x.id : x.properties.id) === $("officer-unit").value);
    const p = f ? f.properties : {};
    $("officer-name").value = p.officer || ""; $("officer-email").value = p.email || "";
    $("officer-sms").value = p.sms || ""; $("officer-webhook").value = p.webhook || "";
  }
  $("officer-unit").addEventListener("change", fillOfficer);
  $("officer-form").addEventListener("submit", async ev => {
    ev.preventDefault();
    const body = {officer: $("officer-name").value};
    for (const [k, input] of [["email", "officer-email"], ["sms", "officer-sms"], ["webhook", "officer-webhook"]]) if ($(input).value) body[k] = $(input).value;
    const r = await act(`/api/grid/units/${encodeURIComponent($("officer-unit").value)}/officer`, body, t("edit_officer"), "PUT");
    if (r.ok) { if (r.data.message) toast(r.data.message, "accepted"); await refreshGrid(); }
  });
  $("grid-import").addEventListener("submit", async ev => {
    ev.preventDefault();
    const file = $("grid-file").files[0];
    if (!file) return;
    const r = await act("/api/grid", {filename: file.name, text: await file.text()}, t("replace_grid"), "PUT");
    if (r.ok) { if (r.data.message) toast(r.data.message, "accepted"); await refreshGrid(); await reloadLayout(); }
  });

  // --- replay of a recorded period ----------------------------------------------------------------------------
  const LIVE_LAYERS = ["drones", "trails", "crowds", "readings", "responses", "missions", "cells"];
  const localInput = s => { const d = new Date(s * 1000); d.setMinutes(d.getMinutes() - d.getTimezoneOffset()); return d.toISOString().slice(0, 19); };
  function lastAtOrBefore(rows, t) {          // rows oldest first
    let found = null;
    for (const r of rows) { if (r.at_s > t) break; found = r; }
    return found;
  }
  function renderReplay() {
    const R = S.replay;
    if (!R) return;
    const at = R.t;
    layers.replay.clearLayers();
    for (const [vid, points] of Object.entries(R.tracks)) {
      const flown = points.filter(p => p[0] <= at);
      if (!flown.length) continue;
      const p = flown[flown.length - 1];
      if (flown.length > 1) L.polyline(flown.map(q => [q[1], q[2]]), {color: "#6a1b9a", weight: 2, opacity: 0.8, interactive: false}).addTo(layers.replay);
      const m = L.marker([p[1], p[2]], {icon: droneIcon({vehicle_id: vid, link_up: true, armed: true, heading_deg: p[4] || 0})})
        .bindTooltip(`${vid}: ${t("alt")} ${fmt(p[3], 1)} m · ${time(p[0])}`).addTo(layers.replay);
      const e = m.getElement && m.getElement();
      if (e) { e.dataset.replayVehicle = vid; e.dataset.lat = String(p[1]); e.dataset.lon = String(p[2]); }
    }
    const counts = {};
    for (const c of R.zone_counts) { if (c.at_s > at) break; counts[c.zone_id] = c; }
    for (const [zid, layer] of Object.entries(S.zoneLayers || {})) {
      const c = counts[zid];
      const colour = c ? ratioColour(c.count, c.capacity_persons) : "#9e9e9e";
      layer.setStyle({color: colour, fillColor: colour, weight: 2});
      const name = layer.feature ? layer.feature.properties.name : zid;
      layer.setTooltipContent(c ? `${name}: ${t("people")} ${c.count} / ${t("capacity")} ${c.capacity_persons}` : name);
      const e = layer.getElement && layer.getElement();
      if (e) e.dataset.replayCount = c ? String(c.count) : "";
    }
    for (const c of R.crowds) if (c.at_s <= at && c.at_s > at - CROWD_KEEP_S)
      L.circle([c.lat_deg, c.lon_deg], {radius: Math.max(c.radius_m || 0, 5), color: "#ef6c00", weight: 2, fillOpacity: 0.2})
        .bindTooltip(`${t("crowd")}: ${c.count} ${t("people")}`).addTo(layers.replay);
    for (const r of R.responses) {
      if (r.started_at_s > at || (r.ended_at_s && r.ended_at_s < at) || !r.lat_deg) continue;
      const step = lastAtOrBefore(R.response_steps.filter(s => s.response_id === r.response_id), at);
      L.circleMarker([r.lat_deg, r.lon_deg], {radius: 12, color: "#b3261e", weight: 3, fill: false})
        .bindTooltip(`${r.zone_id}: ${step ? step.state : r.state}`, {permanent: true, direction: "top", className: "replay-response"}).addTo(layers.replay);
    }
    const events = [...R.alerts.filter(a => a.at_s <= at).map(a => ({at_s: a.at_s, key: a.alert_id, kind: "alert", text: `${a.kind}: ${a.text}`})),
                    ...R.response_steps.filter(s => s.at_s <= at).map(s => ({at_s: s.at_s, key: `${s.response_id}:${s.id}`, kind: "step", text: `${s.response_id} → ${s.state}: ${s.cause}`}))]
      .sort((a, b) => b.at_s - a.at_s).slice(0, 40);
    $("replay-events").replaceChildren(...events.map(ev => el("li", {"data-kind": ev.kind, "data-key": ev.key}, `${time(ev.at_s)} ${ev.text}`)));
    $("replay-when").textContent = t("replay_at", {time: new Date(at * 1000).toLocaleString()});
    $("replay-time").value = String(Math.round(1000 * (at - R.from_s) / Math.max(R.to_s - R.from_s, 1e-9)));
    document.body.dataset.replayT = String(at);
  }
  function stopPlaying() {
    if (S.replay && S.replay.timer) { clearInterval(S.replay.timer); S.replay.timer = null; }
    $("replay-play").textContent = t("replay_play");
  }
  function exitReplay() {
    stopPlaying();
    S.replay = null;
    layers.replay.remove();
    for (const k of LIVE_LAYERS) layers[k].addTo(map);
    $("replay-controls").hidden = true;
    document.body.dataset.replay = "0";
    render();
  }
  $("replay-form").addEventListener("submit", async ev => {
    ev.preventDefault();
    const from = new Date($("replay-from").value).getTime() / 1000, to = new Date($("replay-to").value).getTime() / 1000;
    const r = await api("GET", `/api/replay?from=${from}&to=${to}`);
    if (!r.ok) { toast(`${t("replay")}: ${t("refused")} – ${r.data ? r.data.message : r.status}`, "refused"); return; }
    stopPlaying();
    S.replay = {...r.data, t: r.data.from_s, timer: null};
    for (const k of LIVE_LAYERS) layers[k].remove();
    layers.replay.addTo(map);
    $("replay-controls").hidden = false;
    document.body.dataset.replay = "1";
    const nTracks = Object.keys(r.data.tracks).length;
    $("replay-note").textContent = (nTracks + r.data.alerts.length + r.data.responses.length + r.data.zone_counts.length === 0)
      ? t("replay_empty") : t("replay_summary", {tracks: nTracks, alerts: r.data.alerts.length, responses: r.data.responses.length})
        + (r.data.tracks_note ? ` (${r.data.tracks_note})` : "");
    renderReplay();
  });
  $("replay-time").addEventListener("input", () => {
    if (!S.replay) return;
    const R = S.replay;
    R.t = R.from_s + (R.to_s - R.from_s) * Number($("replay-time").value) / 1000;
    renderReplay();
  });
  $("replay-play").addEventListener("click", () => {
    const R = S.replay;
    if (!R) return;
    if (R.timer) { stopPlaying(); return; }
    if (R.t >= R.to_s) R.t = R.from_s;
    const tickMs = 200;
    R.timer = setInterval(() => {
      R.t = Math.min(R.to_s, R.t + Number($("replay-speed").value) * tickMs / 1000);
      renderReplay();
      if (R.t >= R.to_s) stopPlaying();
    }, tickMs);
    $("replay-play").textContent = t("replay_pause");
  });
  $("replay-exit").addEventListener("click", exitReplay);

  // --- panels -----------------------------------------------------------------------------------------------
  function renderAlerts() {
    const list = Object.values(S.alerts).sort((a, b) => b.at_s - a.at_s).slice(0, 100);
    const fresh = list.filter(a => alertState(a) === "new" || alertState(a) === "escalated").length;
    $("alert-count").textContent = String(fresh);
    $("alerts").replaceChildren(...(list.length ? list.map(a => {
      const state = alertState(a), ack = S.acks[a.alert_id];
      return el("li", {"data-state": state, "data-alert": a.alert_id, "data-kind": a.kind},
        el("div", null, el("span", {class: "badge"}, t(`state_${state}`)), " ", el("strong", null, a.kind), " ", time(a.at_s)),
        el("div", null, a.text),
        S.snapshots[a.alert_id] ? el("a", {class: "snapshot", href: `/snapshots/${encodeURIComponent(a.alert_id)}.jpg`, target: "_blank",
                                          title: t("snapshot_hint")},
          el("img", {src: `/snapshots/${encodeURIComponent(a.alert_id)}.jpg`, alt: t("snapshot"), loading: "lazy"})) : null,
        ack ? el("div", {class: "meta"}, t("acked_by", {by: ack.by}), " ", time(ack.at_s)) : null,
        !ack && canOperate() ? el("div", {class: "actions"}, el("button", {class: "ack", onclick: () => act(`/api/alerts/${encodeURIComponent(a.alert_id)}/ack`, {}, t("ack"))}, t("ack"))) : null);
    }) : [el("li", null, t("no_alerts"))]));
  }

  function renderResponses() {
    const list = Object.values(S.responses).filter(r => r.state !== "ended");
    $("responses").replaceChildren(...(list.length ? list.map(r => {
      // readings come one per person per thermal frame: the card counts people
      const readings = S.readings.filter(x => x.response_id === r.response_id && x.status === "measured");
      const measured = new Set(readings.map(x => x.person_id)).size;
      const fevered = new Set(readings.filter(x => x.fever).map(x => x.person_id)).size;
      const bcs = Object.values(S.broadcasts).filter(b => b.response_id === r.response_id);
      const rid = encodeURIComponent(r.response_id);
      const buttons = [];
      if (canOperate() && r.state === "awaiting_approval") {
        buttons.push(el("button", {class: "primary approve", onclick: () => act(`/api/responses/${rid}/decision`, {action: "approve"}, t("approve"))}, t("approve")));
        buttons.push(el("button", {class: "deny", onclick: () => act(`/api/responses/${rid}/decision`, {action: "deny"}, t("deny"))}, t("deny")));
      }
      if (canOperate()) buttons.push(el("button", {class: "danger abort", onclick: () => { if (confirm(t("confirm_abort"))) act(`/api/responses/${rid}/decision`, {action: "abort"}, t("abort")); }}, t("abort")));
      return el("li", {"data-response": r.response_id, "data-state": r.state},
        el("div", null, el("strong", null, r.zone_name || r.zone_id), " – ", t("step"), ": ", el("span", {class: "badge step"}, r.state)),
        el("div", {class: "meta"}, `${t("count")} ${r.count ?? "–"}`, r.vehicle_id ? ` · ${r.vehicle_id}` : ""),
        measured ? el("div", {class: "meta measured"}, `${t("measured")}: ${measured}`, fevered ? ` · ${t("fever_hint")}: ${fevered}` : "") : null,
        ...bcs.map(b => el("div", {class: "meta"}, `${t("broadcast")}: ${b.status} – ${b.text}`)),
        buttons.length ? el("div", {class: "actions"}, ...buttons) : null);
    }) : [el("li", null, t("no_responses"))]));
  }

  function renderFleet() {
    const ids = Object.keys(S.vehicles).sort();
    $("fleet").replaceChildren(...ids.map(id => {
      const v = S.vehicles[id];
      const run = Object.values(S.runs).find(r => r.vehicle_id === id);
      const vid = encodeURIComponent(id);
      return el("li", {"data-vehicle": id},
        el("div", null, el("strong", null, id), " ", el("span", {class: "badge"}, v.link_up ? t("link_up") : t("link_down")), " ", v.mode || "", " ", v.armed ? t("armed") : ""),
        el("div", {class: "meta"}, `${t("alt")} ${fmt(v.alt_rel_m, 1)} m · ${t("speed")} ${fmt(v.groundspeed_m_s, 1)} m/s · ${t("battery")} ${fmt(v.battery_pct)} % · ${t("mission")} ${v.mission_seq ?? "–"}/${v.mission_count ?? "–"}`),
        run ? el("div", {class: "meta"}, `patrol ${run.schedule_id} (${run.status})`) : null,
        el("div", {class: "actions"},
          el("button", {class: "rtl", onclick: () => act(`/api/vehicles/${vid}/commands`, {action: "rtl"}, `${id} ${t("rtl")}`)}, t("rtl")),
          el("button", {class: "land", onclick: () => act(`/api/vehicles/${vid}/commands`, {action: "land"}, `${id} ${t("land")}`)}, t("land")),
          run ? el("button", {class: "danger abort-patrol", onclick: () => act(`/api/vehicles/${vid}/commands`, {action: "abort_patrol"}, `${id} ${t("abort_patrol")}`)}, t("abort_patrol")) : null,
          canOperate() ? el("button", {class: "broadcast", onclick: () => { $("broadcast-vehicle").value = id; $("broadcast-panel").scrollIntoView(); }}, t("broadcast_btn")) : null,
          ...S.video.filter(v => v.vehicle_id === id).map(v => el("button", {class: "watch", "data-stream": v.stream_id, onclick: () => openVideo(v)}, `${t("watch")} ${v.stream_id}`))));
    }));
    const chosen = $("broadcast-vehicle").value;
    $("broadcast-vehicle").replaceChildren(...ids.map(id => el("option", {value: id}, id)));
    if (ids.includes(chosen)) $("broadcast-vehicle").value = chosen;
    // the buttons stay visible to viewers on purpose: the server refuses them (403) and the page says so
  }

  function renderSchedules() {
    $("schedules").replaceChildren(...S.schedules.map(s => el("li", {"data-schedule": s.schedule_id},
      el("div", null, el("strong", null, s.name), " ", s.cron ? `cron ${s.cron}` : t("every", {s: s.interval_s})),
      el("div", {class: "meta"}, `${t("next_fire")} ${time(s.next_fire_s)} · ${t("last_run")} ${s.last_run ? s.last_run.status : "–"}`),
      canOperate() ? startNow(s) : null,
      S.role === "admin" ? el("div", {class: "actions"}, el("button", {class: "danger", onclick: async () => {
        await act(`/api/schedules/${encodeURIComponent(s.schedule_id)}`, undefined, t("remove"), "DELETE"); refreshSchedules();
      }}, t("remove"))) : null)));
  }
  function startNow(s) {
    const pick = el("select", {class: "start-vehicle"}, el("option", {value: ""}, t("any_drone")),
                    ...Object.keys(S.vehicles).sort().map(id => el("option", {value: id}, id)));
    return el("div", {class: "actions"}, pick, el("button", {class: "primary start-now", onclick: async () => {
      const body = pick.value ? {vehicle_id: pick.value} : {};
      await act(`/api/schedules/${encodeURIComponent(s.schedule_id)}/start`, body, `${s.name}: ${t("start_now")}`);
      refreshSchedules(); refreshMissions();
    }}, t("start_now")));
  }

  // --- broadcast now ----------------------------------------------------------------------------------------
  $("broadcast-form").addEventListener("submit", async ev => {
    ev.preventDefault();
    const vehicle = $("broadcast-vehicle").value, zone = $("broadcast-zone").value, text = $("broadcast-text").value.trim();
    const body = zone ? {zone} : {messages: {[$("broadcast-language").value]: text}};
    const repeat = Number($("broadcast-repeat").value);
    if (repeat) body.repeat = repeat;
    await act(`/api/vehicles/${encodeURIComponent(vehicle)}/broadcast`, body, `${vehicle} ${t("broadcast")}`);
  });

  // --- video ------------------------------------------------------------------------------------------------
  async function refreshVideo() {
    if (!S.user) return;
    const r = await api("GET", "/api/video");
    if (r.ok) { S.video = r.data; renderFleet(); }
  }
  function openVideo(stream) {
    const img = $("video-img");
    $("video-panel").hidden = false;
    $("video-title").textContent = `${t("video")}: ${stream.vehicle_id} (${stream.stream_id})`;
    $("video-error").textContent = "";
    img.onerror = () => { if (S.watching) $("video-error").textContent = t("video_unavailable"); };
    img.onload = () => { $("video-error").textContent = ""; document.body.dataset.video = stream.stream_id; };
    S.watching = stream.stream_id;
    img.src = `${stream.url}?at=${Date.now()}`;   // a fresh stream each time it is opened
  }
  function closeVideo() {
    S.watching = null;
    delete document.body.dataset.video;
    $("video-img").onerror = null;
    $("video-img").src = "data:,";                // ends the stream (the server stops proxying it)
    $("video-panel").hidden = true;
  }
  $("video-close").addEventListener("click", closeVideo);

  // --- counting zones (admins edit) -------------------------------------------------------------------------
  async function refreshZoneFile() {
    if (!S.user) return;
    const r = await api("GET", "/api/zone-file");
    if (!r.ok) return;
    S.zoneFile = r.data;
    $("zones-note").textContent = r.data.editable ? "" : t("zones_readonly", {why: r.data.why || ""});
    $("zone-list").replaceChildren(...r.data.features.map(f => {
      const p = f.properties || {};
      return el("li", {"data-zone": f.id},
        el("div", null, el("strong", null, p.name || f.id), ` (${f.id})`),
        el("div", {class: "meta"}, `${t("capacity")} ${p.capacity ?? "–"} · ${t("policy")} ${p.policy ? t(policyKey(p.policy)) : t("policy_default")}` + (p.dwell_s !== undefined ? ` · ${t("dwell_s")} ${p.dwell_s}` : "")),
        S.role === "admin" && r.data.editable ? el("div", {class: "actions"},
          el("button", {class: "edit-zone", onclick: () => editZone(f)}, t("edit")),
          el("button", {class: "danger remove-zone", onclick: async () => {
            const x = await act(`/api/zones/${encodeURIComponent(f.id)}`, undefined, `${t("remove")} ${p.name || f.id}`, "DELETE");
            if (x.ok) zonesChanged(x.data);
          }}, t("remove"))) : null);
    }));
  }
  const policyKey = p => ({auto: "policy_auto", approve: "policy_approve", "watch-only": "policy_watch"}[p] || p);
  function editZone(f) {
    const p = f.properties || {};
    $("zone-id").value = f.id; $("zone-name").value = p.name || ""; $("zone-capacity").value = p.capacity ?? "";
    $("zone-policy").value = p.policy || ""; $("zone-dwell").value = p.dwell_s ?? "";
    S.zoneGeometry = f.geometry; stopDrawing(); $("zone-points").textContent = "";
    $("zone-form").scrollIntoView();
  }
  async function zonesChanged(answer) {
    if (answer && answer.message) toast(answer.message, "accepted");
    await reloadLayout(); await refreshZoneFile();
  }
  function stopDrawing() {
    if (S.drawLayer) { S.drawLayer.remove(); S.drawLayer = null; }
    map.off("click", addCorner);
    map.getContainer().style.cursor = "";
  }
  function addCorner(ev) {
    S.drawing.push([ev.latlng.lat, ev.latlng.lng]);
    if (S.drawLayer) S.drawLayer.remove();
    S.drawLayer = L.polygon(S.drawing, {color: "#6a1b9a", weight: 2, className: "drawing"}).addTo(map);
    $("zone-points").textContent = t("points", {n: S.drawing.length});
  }
  $("zone-draw").addEventListener("click", () => {
    stopDrawing();
    S.drawing = []; S.zoneGeometry = null;
    $("zone-points").textContent = t("draw_hint");
    map.getContainer().style.cursor = "crosshair";
    map.on("click", addCorner);
  });
  $("zone-finish").addEventListener("click", () => {
    if (!S.drawing || S.drawing.length < 3) { toast(t("need_outline"), "refused"); return; }
    const ring = S.drawing.map(([lat, lon]) => [lon, lat]);
    S.zoneGeometry = {type: "Polygon", coordinates: [[...ring, ring[0]]]};
    map.off("click", addCorner); map.getContainer().style.cursor = "";
  });
  $("zone-form").addEventListener("submit", async ev => {
    ev.preventDefault();
    if (!S.zoneGeometry) { toast(t("need_outline"), "refused"); return; }
    const body = {name: $("zone-name").value, capacity: Number($("zone-capacity").value), geometry: S.zoneGeometry};
    if ($("zone-policy").value) body.policy = $("zone-policy").value;
    if ($("zone-dwell").value !== "") body.dwell_s = Number($("zone-dwell").value);
    const r = await act(`/api/zones/${encodeURIComponent($("zone-id").value)}`, body, t("save_zone"), "PUT");
    if (r.ok) { stopDrawing(); S.zoneGeometry = null; S.drawing = null; $("zone-points").textContent = ""; zonesChanged(r.data); }
  });
  $("zone-import").addEventListener("submit", async ev => {
    ev.preventDefault();
    const file = $("zone-file").files[0];
    if (!file) return;
    const r = await act("/api/zones/import", {filename: file.name, text: await file.text(), replace: $("zone-replace").checked}, t("import"));
    if (r.ok) zonesChanged(r.data);
  });

  function renderActivity() {
    $("activity").replaceChildren(...S.activity.slice(0, 50).map(a => el("li", {"data-severity": a.severity}, `${time(a.at_s)} ${a.who || ""} ${a.text}`)));
  }

  function render() {
    renderMap(); renderAlerts(); renderResponses(); renderFleet(); renderSchedules(); renderActivity(); renderRisk();
    renderVenues();
    const n = Object.keys(S.vehicles).length;
    $("summary").textContent = `${n} ${t("vehicles")}`;
  }

  async function refreshCells() {
    if (!S.user) return;
    const r = await api("GET", "/api/cells");
    if (r.ok) { S.cells = r.data; scheduleRender(); }
  }
  let missionsTimer = null;
  function refreshMissions() {
    clearTimeout(missionsTimer);
    missionsTimer = setTimeout(async () => { const r = await api("GET", "/api/missions"); if (r.ok) { S.missions = r.data; scheduleRender(); } }, 300);
  }
  async function refreshSchedules() {
    if (!S.user) return;
    const r = await api("GET", "/api/schedules");
    if (r.ok) { S.schedules = r.data; renderSchedules(); }
  }

  $("schedule-form").addEventListener("submit", async ev => {
    ev.preventDefault();
    let zone = null, zoneName = null;
    const file = $("schedule-file").files[0];
    if (file) {
      try { zone = JSON.parse(await file.text()); } catch (e) { toast(`GeoJSON: ${e.message}`, "refused"); return; }
    } else if ($("schedule-zone").value && layout) {
      const feature = layout.zones.features.find(f => f.properties.zone_id === $("schedule-zone").value);
      zone = {type: "FeatureCollection", features: [{...feature, properties: {name: feature.properties.name}}]};
      zoneName = feature.properties.name;
    }
    if (!zone) { toast(t("zone"), "refused"); return; }
    const r = await act("/api/schedules", {name: $("schedule-name").value, zone, zone_name: zoneName,
      pattern: $("schedule-pattern").value, alt_m: Number($("schedule-alt").value), interval_s: Number($("schedule-every").value)}, t("add_schedule"));
    if (r.ok) refreshSchedules();
  });

  window.addEventListener("DOMContentLoaded", boot);
})();
