// OpenCustoms dashboard: the live maps (Leaflet, short polling of a JSON view). No inline scripts: CSP script-src 'self'.
(function () {
  "use strict";
  var COLOURS = { in_transit: "#1565c0", discharged: "#2e7d32", incident: "#c62828" };
  var SEVERITY = { critical: "#c62828", high: "#ef6c00", medium: "#f9a825", low: "#90a4ae", info: "#90a4ae" };

  function text(tag, value, cls) {
    var el = document.createElement(tag);
    el.textContent = value;
    if (cls) { el.className = cls; }
    return el;
  }

  function graticule(map) {
    // no tile server offline: a 1-degree grid gives the eye a scale
    var layer = L.layerGroup();
    for (var lat = -80; lat <= 80; lat += 1) { L.polyline([[lat, -180], [lat, 180]], { color: "#b8c7d3", weight: 0.5, interactive: false }).addTo(layer); }
    for (var lon = -180; lon <= 180; lon += 1) { L.polyline([[-85, lon], [85, lon]], { color: "#b8c7d3", weight: 0.5, interactive: false }).addTo(layer); }
    return layer;
  }

  function zoneLayer(zones) {
    var layer = L.layerGroup();
    zones.forEach(function (z) {
      var g = z.geometry || {};
      var style = { color: "#546e7a", weight: 1, fillOpacity: 0.12 };
      var shape = null;
      if (g.type === "circle") { shape = L.circle([g.latitude, g.longitude], Object.assign({ radius: g.radius_m }, style)); }
      else if (g.type === "polygon" && g.coordinates) { shape = L.polygon(g.coordinates.map(function (c) { return [c[1], c[0]]; }), style); }
      if (shape) { shape.bindTooltip(z.name + " (" + z.zone_type + ")"); shape.addTo(layer); }
    });
    return layer;
  }

  function start(el) {
    var map = L.map(el, { preferCanvas: true, worldCopyJump: true }).setView([51.6, 5.2], 8);
    graticule(map).addTo(map);
    var dynamic = L.layerGroup().addTo(map);
    var fitted = false;
    var list = document.getElementById("alert-list");
    var updated = document.getElementById("map-updated");
    var kind = el.dataset.kind;

    function draw(state) {
      dynamic.clearLayers();
      var bounds = [];
      zoneLayer(state.zones || []).addTo(dynamic);
      (state.movements || []).forEach(function (m) {
        var line = (m.corridor || []).map(function (c) { return [c[1], c[0]]; });
        if (line.length) { L.polyline(line, { color: "#78909c", weight: 3, opacity: 0.6 }).addTo(dynamic); bounds = bounds.concat(line); }
        if (m.position) {
          L.circleMarker(m.position, { radius: 7, color: "#fff", weight: 2, fillColor: COLOURS[m.status] || "#555", fillOpacity: 1 })
            .bindPopup(m.movement_id + " · " + m.vehicle_id + " · " + m.status + " · " + m.reference).addTo(dynamic);
        }
      });
      (state.vessels || []).forEach(function (v) {
        if (v.track.length) {
          L.polyline(v.track, { color: "#1565c0", weight: 2 }).bindTooltip("MMSI " + v.mmsi).addTo(dynamic);
          L.circleMarker(v.track[v.track.length - 1], { radius: 6, color: "#fff", weight: 2, fillColor: "#1565c0", fillOpacity: 1 })
            .bindPopup("MMSI " + v.mmsi + " · " + v.positions + " positions").addTo(dynamic);
          bounds = bounds.concat(v.track);
        }
      });
      list.replaceChildren();
      (state.alerts || []).forEach(function (a) {
        var subject = a.movement_id || ("MMSI " + a.mmsi);
        if (a.position) {
          L.circleMarker(a.position, { radius: 9, color: SEVERITY[a.severity] || "#c62828", weight: 3, fill: false, className: "alert-marker" })
            .bindPopup(a.kind + " · " + subject + " · " + a.reason).addTo(dynamic);
        }
        var li = document.createElement("li");
        li.className = "sev-" + a.severity;
        li.dataset.kind = a.kind;
        li.appendChild(text("strong", a.kind));
        li.appendChild(text("span", " · " + subject + " · " + a.observed_at.replace("T", " ").slice(0, 19)));
        li.appendChild(text("div", a.reason, "meta"));
        list.appendChild(li);
      });
      if (!fitted && bounds.length) { map.fitBounds(bounds, { padding: [20, 20] }); fitted = true; }
      if (updated) { updated.textContent = new Date().toLocaleTimeString(); }
      el.dataset.loaded = String(Number(el.dataset.loaded || 0) + 1);
    }

    function poll() {
      fetch(el.dataset.source, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
        .then(draw)
        .catch(function (e) { if (updated) { updated.textContent = "offline (" + e.message + ")"; } })
        .finally(function () { window.setTimeout(poll, Number(el.dataset.interval || 5000)); });
    }
    poll();
    return kind;
  }

  document.addEventListener("DOMContentLoaded", function () {
    var el = document.getElementById("map");
    if (el && window.L) { start(el); }
  });
})();

// Gate decisions: the list refreshes itself (htmx polling), but not while an officer is typing a note. An element
// marked data-hold-while-editing skips its refresh when one of its fields has focus or holds text. A handler here
// rather than an hx-trigger filter: htmx evaluates filters with eval, which the Content-Security-Policy forbids.
(function () {
  "use strict";
  function editing(el) {
    var active = document.activeElement;
    if (active && active !== document.body && el.contains(active) && active.matches("input, textarea, select")) { return true; }
    return Array.prototype.some.call(el.querySelectorAll("input:not([type=hidden]), textarea"), function (f) {
      return f.value !== "";
    });
  }
  document.addEventListener("htmx:confirm", function (evt) {
    var el = evt.detail && evt.detail.elt;
    if (el && el.hasAttribute && el.hasAttribute("data-hold-while-editing") && editing(el)) { evt.preventDefault(); }
  });
})();
