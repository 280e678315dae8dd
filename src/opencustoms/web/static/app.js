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

  var ZONE_COLOURS = { customs_office: "#6a1b9a", port: "#00838f", border_crossing: "#ef6c00" };

  function baseMap(map, el) {
    // the administration's tile server when it has one (OPENCUSTOMS_MAP_TILE_URL), else the vendored Natural Earth
    // 1:50m land and borders (world-atlas), drawn as SVG in a pane of their own under the live layers
    if (el.dataset.tileUrl) {
      L.tileLayer(el.dataset.tileUrl, { attribution: el.dataset.tileAttribution || "", maxZoom: 19 }).addTo(map);
      return;
    }
    if (!el.dataset.basemap || !window.topojson) { return; }
    map.createPane("basemap").style.zIndex = 250;
    var renderer = L.svg({ pane: "basemap", padding: 0.5 });
    fetch(el.dataset.basemap, { credentials: "same-origin" })
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
      .then(function (world) {
        var common = { pane: "basemap", renderer: renderer, interactive: false };
        L.geoJSON(topojson.feature(world, world.objects.land), Object.assign({ attribution: "Natural Earth",
          style: { className: "basemap-land", color: "#8d9aa3", weight: 0.8, fillColor: "#f4f1ea", fillOpacity: 1 }
        }, common)).addTo(map);
        var borders = topojson.mesh(world, world.objects.countries, function (a, b) { return a !== b; });
        L.geoJSON(borders, Object.assign({
          style: { className: "basemap-border", color: "#9e8f80", weight: 1, dashArray: "4 3", fill: false }
        }, common)).addTo(map);
        el.dataset.basemapDrawn = "1";
      })
      .catch(function (e) { el.dataset.basemapError = e.message; });
  }

  function legend(map) {
    var box = document.getElementById("map-legend");
    if (!box) { return; }
    var control = L.control({ position: "bottomleft" });
    control.onAdd = function () { box.hidden = false; L.DomEvent.disableClickPropagation(box); return box; };
    control.addTo(map);
  }

  function zoneLayer(zones) {
    var layer = L.layerGroup();
    zones.forEach(function (z) {
      var g = z.geometry || {};
      var colour = ZONE_COLOURS[z.zone_type] || "#5d4037";
      var style = { color: colour, weight: 2, fillColor: colour, fillOpacity: 0.15, className: "zone zone-" + z.zone_type };
      var shape = null;
      if (g.type === "circle") { shape = L.circle([g.latitude, g.longitude], Object.assign({ radius: g.radius_m }, style)); }
      else if (g.type === "polygon" && g.coordinates) { shape = L.polygon(g.coordinates.map(function (c) { return [c[1], c[0]]; }), style); }
      if (shape) { shape.bindTooltip(z.name + " (" + z.zone_type + ")"); shape.addTo(layer); }
    });
    return layer;
  }

  function start(el) {
    var map = L.map(el, { preferCanvas: true, worldCopyJump: true }).setView([51.6, 5.2], 8);
    baseMap(map, el);
    legend(map);
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
        if (line.length) { L.polyline(line, { color: "#546e7a", weight: 3, opacity: 0.7, dashArray: "8 6" }).addTo(dynamic); bounds = bounds.concat(line); }
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
            .bindPopup((a.kind_label || a.kind) + " · " + subject + " · " + a.reason).addTo(dynamic);
        }
        var li = document.createElement("li");
        li.className = "sev-" + a.severity;
        li.dataset.kind = a.kind;
        li.appendChild(text("strong", a.kind_label || a.kind));
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
