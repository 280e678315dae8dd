"""`opencustoms iot ...`: devices, zones, transits, ingestion (MQTT listener, files), alerts, gate queue, vessels,
simulator. Commands only parse input and call ``opencustoms.iot.service``."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from opencustoms.cli.options import Language
from opencustoms.cli.progress import RichProgress
from opencustoms.errors import OpenCustomsError
from opencustoms.lazy import lazy_module

if TYPE_CHECKING:  # imported when a command runs, not when the CLI starts
    from opencustoms.context import Platform
    from opencustoms.iot import service
    from opencustoms.security import service as security
else:
    service = lazy_module("opencustoms.iot.service")
    security = lazy_module("opencustoms.security.service")

app = typer.Typer(help="IoT: e-seals and GPS on transit, gates, radiation, AIS.", no_args_is_help=True)
devices_app = typer.Typer(help="Registered devices and their secrets.", no_args_is_help=True)
zones_app = typer.Typer(help="Geofences: customs offices, ports, authorised places.", no_args_is_help=True)
transits_app = typer.Typer(help="Transit movements under e-seal.", no_args_is_help=True)
gate_app = typer.Typer(help="The gate decision queue.", no_args_is_help=True)
scan_app = typer.Typer(help="X-ray / CT scan records and their review queue.", no_args_is_help=True)
app.add_typer(devices_app, name="devices")
app.add_typer(zones_app, name="zones")
app.add_typer(transits_app, name="transits")
app.add_typer(gate_app, name="gate")
app.add_typer(scan_app, name="scan")
console = Console()
err = Console(stderr=True)


def _ctx() -> tuple[Platform, security.Identity]:
    from opencustoms.context import Platform

    platform = Platform.from_environment()
    return platform, security.local_operator(platform.administration_code)


def _fail(exc: Exception) -> None:
    if isinstance(exc, ValidationError):
        for e in exc.errors(include_url=False):
            err.print(f"[red]error[/red] {'.'.join(str(p) for p in e['loc'])}: {e['msg']}")
    else:
        err.print(f"[red]error[/red] {exc}")
    raise typer.Exit(1)


def _json(data: Any) -> None:
    console.print_json(json.dumps(data, default=str))


def _report(summary: dict[str, Any]) -> None:
    console.print(
        f"{summary['accepted']} accepted, {summary['duplicates']} duplicates, "
        f"{summary['quarantined']} quarantined {summary['quarantine_reasons'] or ''}, "
        f"{len(summary['alerts'])} new alerts"
    )
    for a in summary["alerts"][:20]:
        console.print(f"  [yellow]{a['kind']}[/yellow] {a['context_type']} {a['context_id']}: {a['reason']}")
    for r in summary.get("rejections", [])[:5]:
        console.print(f"  [red]{r['reason_code']}[/red] {escape(r['device_id'] or '')} {escape(r['reason'][:300])}")


@devices_app.command("add")
def devices_add(
    device_id: Annotated[str, typer.Argument(help="The device's own identifier (serial number, IMEI...).")],
    device_type: Annotated[str, typer.Argument(help="e_seal, gps_tracker, ...")],
    label: Annotated[
        str | None, typer.Option(help="A name officers recognise, e.g. the truck it is fitted to.")
    ] = None,
    format: Annotated[str | None, typer.Option(help="eseal_text, flespi_json, native_json, nmea_ais")] = None,
    gate_id: Annotated[str | None, typer.Option(help="Gate the device stands at.")] = None,
) -> None:
    """Register a device and print its secret (shown once)."""
    platform, actor = _ctx()
    attributes = {k: v for k, v in (("format", format), ("gate_id", gate_id)) if v}
    try:
        device, secret = service.register_device(
            platform.engine, actor, device_id, device_type, label=label, attributes=attributes
        )
    except OpenCustomsError as exc:
        _fail(exc)
    console.print(f"device {device['device_id']} ({device['device_type']}) registered; secret: {secret}")


@devices_app.command("list")
def devices_list() -> None:
    platform, actor = _ctx()
    table = Table("device", "type", "active", "last seen", "attributes")
    for d in service.list_devices(platform.engine, actor):
        table.add_row(
            d["device_id"],
            d["device_type"],
            str(d["active"]),
            str(d["last_seen_at"] or ""),
            json.dumps(d["attributes"] or {}),
        )
    console.print(table)


@devices_app.command("rotate")
def devices_rotate(device_id: Annotated[str, typer.Argument(help="The registered device.")]) -> None:
    """Issue a new secret (the old one stops working)."""
    platform, actor = _ctx()
    try:
        console.print(f"new secret for {device_id}: {service.rotate_secret(platform.engine, actor, device_id)}")
    except OpenCustomsError as exc:
        _fail(exc)


@devices_app.command("disable")
def devices_disable(device_id: Annotated[str, typer.Argument(help="The registered device.")]) -> None:
    platform, actor = _ctx()
    try:
        service.set_device_active(platform.engine, actor, device_id, False)
    except OpenCustomsError as exc:
        _fail(exc)
    console.print(f"device {device_id} disabled")


@zones_app.command("add")
def zones_add(
    zone_id: Annotated[str, typer.Argument(help="Short identifier, e.g. the customs office code.")],
    name: Annotated[str, typer.Argument(help="The place's name.")],
    zone_type: Annotated[str, typer.Option(help="customs_office, port, border_crossing, ...")],
    latitude: Annotated[float | None, typer.Option(help="Circle centre, decimal degrees (WGS 84).")] = None,
    longitude: Annotated[float | None, typer.Option(help="Circle centre, decimal degrees (WGS 84).")] = None,
    radius_m: Annotated[float | None, typer.Option(help="Circle radius in metres.")] = None,
    polygon: Annotated[str | None, typer.Option(help="JSON [[lon, lat], ...]")] = None,
) -> None:
    """A circle (--latitude --longitude --radius-m) or a polygon (--polygon)."""
    platform, actor = _ctx()
    geometry: dict[str, Any] = (
        {"type": "polygon", "coordinates": json.loads(polygon)}
        if polygon
        else {"type": "circle", "latitude": latitude, "longitude": longitude, "radius_m": radius_m}
    )
    try:
        service.add_zone(platform.engine, actor, zone_id, name, zone_type, geometry)
    except OpenCustomsError as exc:
        _fail(exc)
    console.print(f"zone {zone_id} added")


@transits_app.command("add")
def transits_add(file: Annotated[Path, typer.Argument(help="JSON file with the movement (see docs/iot.md).")]) -> None:
    platform, actor = _ctx()
    try:
        result = service.create_transit(platform.engine, actor, json.loads(file.read_text()))
    except (OpenCustomsError, ValidationError) as exc:
        _fail(exc)
    _json(result)


@transits_app.command("list")
def transits_list(
    status: Annotated[str | None, typer.Option(help="Only movements in this status, e.g. in_transit.")] = None,
) -> None:
    platform, actor = _ctx()
    table = Table("movement", "declaration", "vehicle", "status", "departure", "limit", "arrived", "alerts")
    for t in service.list_transits(platform.engine, actor, status):
        table.add_row(
            t["movement_id"],
            t["functional_reference_id"],
            t["vehicle_id"],
            t["status"],
            f"{t['departure_time']:%Y-%m-%d %H:%M}",
            f"{t['time_limit']:%Y-%m-%d %H:%M}",
            f"{t['arrived_at']:%Y-%m-%d %H:%M}" if t["arrived_at"] else "",
            str(t["alerts"]),
        )
    console.print(table)


@transits_app.command("report")
def transits_report(
    movement_id: Annotated[str, typer.Argument(help="The movement reference (MRN).")],
    events: Annotated[bool, typer.Option(help="Print every event.")] = False,
) -> None:
    """The movement's status, alerts and (with --events) its full event log."""
    platform, actor = _ctx()
    try:
        report = service.transit_report(platform.engine, actor, movement_id)
    except OpenCustomsError as exc:
        _fail(exc)
    _json(report if events else {k: v for k, v in report.items() if k != "events"})


@transits_app.command("check")
def transits_check() -> None:
    """Re-check every watched movement now (GPS silence, overdue arrival)."""
    platform, actor = _ctx()
    _report(service.sweep(platform.engine, actor).summary())


@app.command("ingest")
def ingest(
    file: Annotated[Path, typer.Argument(help="File of device messages, one per line (or one JSON document).")],
    format: Annotated[
        str | None, typer.Option(help="eseal_text, flespi_json, native_json or nmea_ais (default: guessed).")
    ] = None,
    device_id: Annotated[str | None, typer.Option(help="The device the file came from (AIS receiver).")] = None,
    replay: Annotated[bool, typer.Option(help="Accept old device times (archives, AIS replays).")] = False,
) -> None:
    """Ingest a file of device messages in any supported format."""
    platform, actor = _ctx()
    try:
        with RichProgress(err, console) as progress:
            report = service.ingest_file(
                platform.engine, actor, file, fmt=format, device_id=device_id, replay=replay, progress=progress
            )
    except OpenCustomsError as exc:
        _fail(exc)
    summary = report.summary()
    _report(summary)
    progress.finish(f"{file.name} ingested: {summary['accepted']} accepted, {summary['quarantined']} quarantined")


def _print_alert(alert: Any) -> None:
    """Alerts from listener worker processes (module level: it is sent to them)."""
    Console().print(f"[yellow]{alert.kind}[/yellow] {alert.context_type} {alert.context_id}: {alert.reason}")


@app.command("listen")
def listen(
    host: Annotated[str, typer.Option(help="MQTT broker address.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="MQTT broker port.")] = 1883,
    client_id: Annotated[
        str, typer.Option(help="Fixed id: the broker keeps this session.")
    ] = "opencustoms-iot-listener",
    max_messages: Annotated[int | None, typer.Option(help="Stop after this many messages.")] = None,
    idle_timeout: Annotated[float | None, typer.Option(help="Stop after this many idle seconds.")] = None,
    workers: Annotated[
        int, typer.Option(min=1, max=64, help="Listener processes, each owning a share of the devices.")
    ] = 1,
) -> None:
    """Subscribe to opencustoms/+/+/events (QoS 1, persistent session) and process until stopped. With --workers N,
    N processes each hold MQTT 5 shared subscriptions to the topics of their share of the devices (all devices of a
    movement in one process, so its events stay in order)."""
    from opencustoms.iot import mqtt

    platform, _ = _ctx()
    if workers > 1:
        console.print(f"{workers} listeners on {host}:{port}, sessions {client_id}-<k>of{workers} (Ctrl-C to stop)")
        try:
            results = mqtt.run_workers(
                platform.engine.url.render_as_string(hide_password=False),
                workers,
                service.load_watched_movements,
                host=host,
                port=port,
                client_id=client_id,
                max_messages=max_messages,
                idle_timeout=idle_timeout,
                on_alert=_print_alert,
            )
        except OpenCustomsError as exc:
            _fail(exc)
        for r in results:
            console.print(f"worker {r['worker']}: {r['received']} messages in {r['batches']} batches")
            _report(r["report"])
        return

    def on_batch(report: Any, n: int) -> None:
        for a in report.alerts:
            console.print(f"[yellow]{a.kind}[/yellow] {a.context_type} {a.context_id}: {a.reason}")

    listener = mqtt.Listener(
        platform.engine,
        service.processor(platform.engine),
        host=host,
        port=port,
        client_id=client_id,
        on_batch=on_batch,
    )
    console.print(f"listening on {host}:{port} {mqtt.TOPIC_FILTER} as {client_id} (Ctrl-C to stop)")
    try:
        stats = listener.run(max_messages=max_messages, idle_timeout=idle_timeout)
    except KeyboardInterrupt:
        stats = listener.stats
    except OpenCustomsError as exc:
        _fail(exc)
    assert stats.report is not None
    _report(stats.report.summary())


@app.command("quarantine")
def quarantine(limit: Annotated[int, typer.Option(help="How many recent messages to show.")] = 20) -> None:
    platform, actor = _ctx()
    q = service.quarantine(platform.engine, actor, limit)
    console.print(f"{q['total']} quarantined: {q['by_reason']}")
    table = Table("received", "transport", "device", "reason", "payload")
    for r in q["recent"]:
        table.add_row(
            f"{r['received_at']:%Y-%m-%d %H:%M:%S}",
            r["transport"],
            r["device_id"] or "",
            f"{r['reason_code']}: {r['reason']}",
            r["payload"][:60],
        )
    console.print(table)


@app.command("alerts")
def alerts(
    context_type: Annotated[str | None, typer.Option(help="Only alerts about transit, vessel, gate...")] = None,
    kind: Annotated[str | None, typer.Option(help="Only this kind of alert, e.g. seal_opened.")] = None,
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 50,
    lang: Language = "en",
) -> None:
    platform, actor = _ctx()
    table = Table("observed", "context", "kind", "severity", "reason")
    found = service.list_alerts(platform.engine, actor, context_type=context_type, kind=kind, limit=limit, lang=lang)
    for a in found:
        table.add_row(
            f"{a['observed_at']:%Y-%m-%d %H:%M}",
            f"{a['context_type']} {a['context_id']}",
            a["kind"],
            a["severity"],
            a["text"],
        )
    console.print(table)


@app.command("stats")
def stats() -> None:
    platform, actor = _ctx()
    _json(service.stats(platform.engine, actor))


@gate_app.command("queue")
def gate_queue(
    status: Annotated[str, typer.Option(help="pending, released or inspect (empty: all).")] = "pending",
    lang: Language = "en",
) -> None:
    platform, actor = _ctx()
    table = Table("decision", "gate/passage", "reasons", "declarations")
    for d in service.gate_queue(platform.engine, actor, status, lang=lang):
        table.add_row(
            d["id"],
            f"{d['gate_id']}/{d['passage_id']}",
            "; ".join(r["text"] for r in d["reasons"]),
            ", ".join(d["functional_reference_ids"]),
        )
    console.print(table)


@gate_app.command("decide")
def gate_decide(
    decision_id: Annotated[str, typer.Argument(help="The decision's id, from `iot gate queue`.")],
    decision: Annotated[str, typer.Argument(help="release or inspect")],
    note: Annotated[str | None, typer.Option(help="Why (kept with the decision).")] = None,
) -> None:
    platform, actor = _ctx()
    try:
        _json(service.decide_gate(platform.engine, actor, decision_id, decision, note))
    except OpenCustomsError as exc:
        _fail(exc)


@app.command("vessels")
def vessels(port_zone: Annotated[list[str] | None, typer.Option(help="Port zone ids (repeatable).")] = None) -> None:
    """Analyse stored AIS tracks: gaps, encounters, loitering, port calls."""
    platform, actor = _ctx()
    try:
        result = service.analyse_vessels(platform.engine, actor, port_zone_ids=port_zone or [])
    except OpenCustomsError as exc:
        _fail(exc)
    console.print(f"{result['vessels']} vessels, {result['positions']} positions, {result['new_alerts']} new alerts")
    for a in result["alerts"]:
        console.print(f"  [yellow]{a['kind']}[/yellow] {a['context_id']}: {a['reason']} {a['declarations'] or ''}")
    for c in result["port_calls"]:
        console.print(f"  port call {c['mmsi']} at {c['zone_id']}: {c['arrival']} → {c['departure']}")


@app.command("simulate")
def simulate(
    hours_ago: Annotated[float, typer.Option(help="The trips started this many hours ago.")] = 12.0,
    mqtt_publish: Annotated[
        bool,
        typer.Option(
            "--mqtt", help="Publish to the broker instead of ingesting directly (run `opencustoms iot listen` too)."
        ),
    ] = False,
    host: Annotated[str, typer.Option(help="MQTT broker address.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="MQTT broker port.")] = 1883,
    seed: Annotated[int, typer.Option(help="Seed of the simulation (same seed, same trips).")] = 7,
) -> None:
    """Demo: register devices, zones, declarations and movements, then send their trips, gate passages and AIS."""
    from opencustoms.iot import simulator

    platform, actor = _ctx()
    start = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(hours=hours_ago)
    try:
        sim = simulator.build(platform.engine, actor, start, seed=seed)
        if mqtt_publish:
            from opencustoms.iot import mqtt

            n = mqtt.publish([(m.topic, m.payload) for m in sim.messages], host=host, port=port)
            console.print(f"published {n} messages")
            return
        report = service.ingest_simulated(platform.engine, actor, sim.messages)
    except (OpenCustomsError, ValidationError) as exc:
        _fail(exc)
    _report(report.summary())


# --- scan records ------------------------------------------------------------------------------------------------


def _scan_store(platform: Platform) -> Any:
    return service.ScanStore.for_data_dir(platform.settings.data_dir)


@scan_app.command("add")
def scan_add(
    views: Annotated[list[str], typer.Argument(help="VIEW=FILE per view, e.g. top=top.tif side=side.png")],
    device_id: Annotated[str, typer.Option(help="The registered xray_scanner.")],
    site: Annotated[str, typer.Option(help="Customs office or site id.")],
    scanned_at: Annotated[str | None, typer.Option(help="Device time, ISO 8601 with zone.")] = None,
    scan_type: Annotated[str, typer.Option(help="xray_transmission, dual_energy, backscatter or ct")] = (
        "xray_transmission"
    ),
    declaration: Annotated[list[str] | None, typer.Option(help="Functional reference id (repeatable).")] = None,
    container: Annotated[list[str] | None, typer.Option(help="ISO 6346 container number (repeatable).")] = None,
    plate: Annotated[str | None, typer.Option(help="Vehicle registration.")] = None,
    scan_id: Annotated[str | None, typer.Option(help="The record's id (default: a new one).")] = None,
    energy_kev: Annotated[float | None, typer.Option(help="Source energy in keV.")] = None,
    dose_ugy: Annotated[float | None, typer.Option(help="Dose delivered, in microgray.")] = None,
    operator: Annotated[str | None, typer.Option("--operator", help="Who ran the scanner.")] = None,
    event_id: Annotated[str | None, typer.Option(help="The scanner's xray_scan event this record completes.")] = None,
    metadata: Annotated[Path | None, typer.Option(help="JSON file with more fields (attributes, ...).")] = None,
) -> None:
    """Record a scan with its images (normalised to PNG, kept 16-bit) and print it."""
    platform, actor = _ctx()
    try:
        request: dict[str, Any] = json.loads(metadata.read_text()) if metadata else {}
        images: dict[str, bytes] = {}
        for item in views:
            view, sep, file = item.partition("=")
            if not sep or not file:
                raise typer.BadParameter(f"{item!r}: write VIEW=FILE, e.g. top=scan-top.tif")
            path = Path(file)
            if not path.is_file():
                raise typer.BadParameter(f"{file}: no such file")
            images[view] = path.read_bytes()
        given = {
            "scan_id": scan_id,
            "device_id": device_id,
            "site": site,
            "scan_type": scan_type,
            "scanned_at": scanned_at,
            "functional_reference_ids": declaration,
            "container_ids": container,
            "vehicle_plate": plate,
            "energy_kev": energy_kev,
            "dose_ugy": dose_ugy,
            "operator": operator,
            "event_id": event_id,
        }
        request.update({k: v for k, v in given.items() if v is not None})
        result = service.add_scan(platform.engine, actor, _scan_store(platform), request, images)
    except (OpenCustomsError, ValidationError, ValueError) as exc:
        _fail(exc)
    console.print(
        f"scan {result['scan_id']} recorded ({result['status']}): "
        + ", ".join(f"{v['view']} {v['width']}x{v['height']} {v['bit_depth']}-bit" for v in result["views"])
    )


@scan_app.command("queue")
def scan_queue(
    status: Annotated[str, typer.Option(help="open, pending, in_review, reviewed or all")] = "open",
    site: Annotated[str | None, typer.Option(help="Only scans made at this site.")] = None,
    finding: Annotated[str | None, typer.Option(help="Only scans with this finding: clear, suspicious...")] = None,
    declaration: Annotated[str | None, typer.Option(help="Only scans of this declaration.")] = None,
    container: Annotated[str | None, typer.Option(help="Only scans of this container.")] = None,
    limit: Annotated[int, typer.Option(help="How many scans.")] = 50,
) -> None:
    """The review queue, oldest scan first."""
    platform, actor = _ctx()
    try:
        rows = service.scan_queue(
            platform.engine,
            actor,
            status=status,
            site=site,
            finding=finding,
            reference=declaration,
            container=container,
            limit=limit,
        )
    except OpenCustomsError as exc:
        _fail(exc)
    table = Table("scan", "scanned", "site", "type", "declarations", "containers", "status", "reviewer", "finding")
    for r in rows:
        table.add_row(
            r["scan_id"],
            f"{r['scanned_at']:%Y-%m-%d %H:%M}",
            r["site"],
            r["scan_type"],
            ", ".join(r["functional_reference_ids"]),
            ", ".join(r["container_ids"]),
            r["status"],
            r["reviewed_by"] or r["assigned_to"] or "",
            r["finding"] or "",
        )
    console.print(table)


@scan_app.command("show")
def scan_show(
    scan_id: Annotated[str, typer.Argument(help="The scan's id.")],
    save_views: Annotated[Path | None, typer.Option(help="Write each view's PNG into this folder.")] = None,
) -> None:
    """A scan's metadata, views (hash, size, depth) and finding; --save-views writes the PNGs."""
    platform, actor = _ctx()
    try:
        scan = service.get_scan(platform.engine, actor, scan_id)
        if save_views:
            save_views.mkdir(parents=True, exist_ok=True)
            for v in scan["views"]:
                data, _ = service.scan_image(platform.engine, actor, _scan_store(platform), scan_id, v["view"])
                (save_views / f"{scan_id}-{v['view']}.png").write_bytes(data)
    except OpenCustomsError as exc:
        _fail(exc)
    _json(scan)


@scan_app.command("claim")
def scan_claim(
    scan_id: Annotated[str, typer.Argument(help="The scan's id.")],
    assignee: Annotated[str | None, typer.Option(help="Assign to this user (risk:manage).")] = None,
) -> None:
    platform, actor = _ctx()
    try:
        _json(service.assign_scan(platform.engine, actor, scan_id, assignee))
    except OpenCustomsError as exc:
        _fail(exc)


@scan_app.command("release")
def scan_release(scan_id: Annotated[str, typer.Argument(help="The scan's id.")]) -> None:
    platform, actor = _ctx()
    try:
        _json(service.release_scan(platform.engine, actor, scan_id))
    except OpenCustomsError as exc:
        _fail(exc)


@scan_app.command("review")
def scan_review(
    scan_id: Annotated[str, typer.Argument(help="The scan's id.")],
    finding: Annotated[str, typer.Argument(help="clear, suspicious or discrepancy")],
    notes: Annotated[str | None, typer.Option(help="What the image shows (required unless clear).")] = None,
    region: Annotated[
        list[str] | None, typer.Option(help="Region of interest VIEW:X,Y,W,H[:LABEL] in pixels (repeatable).")
    ] = None,
) -> None:
    """Record the analyst's finding (signals; clear/discrepancy also become inspection results)."""
    platform, actor = _ctx()
    regions = []
    try:
        for item in region or []:
            view, _, rest = item.partition(":")
            box, _, label = rest.partition(":")
            x, y, w, h = (int(n) for n in box.split(","))
            regions.append({"view": view, "x": x, "y": y, "w": w, "h": h, **({"label": label} if label else {})})
    except ValueError:
        _fail(ValueError(f"--region {item!r}: write VIEW:X,Y,W,H[:LABEL], e.g. top:120,40,60,30:dense mass"))
    try:
        _json(service.record_finding(platform.engine, actor, scan_id, finding, notes, regions))
    except OpenCustomsError as exc:
        _fail(exc)


@scan_app.command("export")
def scan_export(
    scan_id: Annotated[str, typer.Argument(help="The scan's id.")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Zip file to write.")] = None,
) -> None:
    """Write the scan as one package (scan.json + views/*.png) for another administration."""
    platform, actor = _ctx()
    target = output or Path(f"{scan_id}.scan.zip")
    try:
        data = service.export_package(platform.engine, actor, _scan_store(platform), scan_id)
    except OpenCustomsError as exc:
        _fail(exc)
    target.write_bytes(data)
    console.print(f"{target} written ({len(data):,} bytes)")


@scan_app.command("import")
def scan_import(
    package: Annotated[Path, typer.Argument(help="Zip package written by `iot scan export`.")],
    declaration: Annotated[
        list[str] | None, typer.Option(help="This administration's declaration (repeatable).")
    ] = None,
) -> None:
    """Import a scan package from another administration (every view's SHA-256 is checked)."""
    platform, actor = _ctx()
    if not package.is_file():
        _fail(ValueError(f"no file at {package}; check the path"))
    try:
        scan = service.import_package(
            platform.engine,
            actor,
            _scan_store(platform),
            package.read_bytes(),
            functional_reference_ids=declaration or [],
        )
    except OpenCustomsError as exc:
        _fail(exc)
    console.print(
        f"scan {scan['scan_id']} imported from {scan['origin']['administration']}: {len(scan['views'])} views"
    )
