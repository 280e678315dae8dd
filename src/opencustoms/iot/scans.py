"""Scan records: X-ray and CT images of containers and vehicles with their metadata, in one open format, linked to
declarations and containers; the central review queue and the image analyst's finding, which becomes a signal and,
for ``clear`` and ``discrepancy``, an inspection result the risk engine learns from.

Images: every upload (PNG, TIFF or JPEG; 8- or 16-bit grayscale, or colour) is normalised to lossless PNG keeping
16-bit depth, stored once under ``<data_dir>/iot/scans/<aa>/<sha256>.png`` (content-addressed: the file name is the
SHA-256 of the PNG) and described in ``iot_scan_images`` (hash, width, height, bit depth). A scan travels between
administrations as one zip package: ``scan.json`` (metadata, views with their hashes) and ``views/<view>.png``;
import checks every hash. docs/iot.md, "Scan records", has the choices and the package format.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import io
import json
import os
import re
import secrets
import warnings
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy import Connection, Engine, func, insert, select, update

from opencustoms import signals
from opencustoms.declarations.service import InspectionResult, record_inspections
from opencustoms.iot.alerts import Alert
from opencustoms.iot.errors import (
    ScanError,
    ScanExistsError,
    ScanImageTooLargeError,
    ScanNotFoundError,
    ScanReviewConflictError,
)
from opencustoms.iot.events import DeviceType, EventKind
from opencustoms.iot.ingest import alert_row, alert_signals
from opencustoms.iot.tables import iot_alerts, iot_devices, iot_events, iot_scan_images, iot_scan_links, iot_scans
from opencustoms.reference.codes import check_container_number
from opencustoms.security.roles import Permission
from opencustoms.security.service import Identity, record
from opencustoms.store.database import as_utc
from opencustoms.store.tables import declaration_containers, declarations

SCAN_TYPES = ("xray_transmission", "dual_energy", "backscatter", "ct")
FINDINGS = ("clear", "suspicious", "discrepancy")
STATUSES = ("pending", "in_review", "reviewed")
SOURCE_FORMATS = ("PNG", "TIFF", "JPEG")
MAX_IMAGE_BYTES = 32 * 1024 * 1024  # one uploaded view, as received
MAX_PIXELS = 60_000_000  # one view (a 40-foot container at 2 mm a pixel on two energies fits easily)
MIN_SIDE = 16
MAX_VIEWS = 8
MAX_LINKS = 20  # declarations or containers on one scan
MAX_REGIONS = 50
MAX_NOTES = 4000
PACKAGE_FORMAT = "opencustoms-scan"
PACKAGE_VERSION = 1
MAX_PACKAGE_BYTES = MAX_VIEWS * MAX_IMAGE_BYTES + 1024 * 1024
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"
VIEW_RE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
VIEW_ORDER = {"top": 0, "side": 1}
SEVERITY = {"clear": "info", "suspicious": "high", "discrepancy": "critical"}
OUTCOME = {"clear": "compliant", "discrepancy": "fraud"}  # suspicious: nothing until the physical inspection


# --- requests ------------------------------------------------------------------------------------------------


def load_json_part(data: str | bytes, field: str) -> Any:
    """A JSON document of a scan (the metadata part of an upload, a package's scan.json), nesting checked before it
    is parsed (the parser recurses once per level); ``ScanError`` naming ``field`` when it is unusable."""
    from opencustoms.iot.adapters import Rejection, load_json

    text = data.decode("utf-8") if isinstance(data, bytes) else data
    parsed = load_json(text)
    if isinstance(parsed, Rejection):
        raise ScanError(f"{field}: {parsed.reason}", field=field)
    return parsed


class ScanRequest(BaseModel):
    """The metadata of one scan, as a scanner (or its gateway, or an officer) declares it."""

    model_config = ConfigDict(extra="forbid")

    scan_id: Annotated[str, Field(pattern=ID_PATTERN)] | None = Field(
        default=None, description="The scanner's own id of the scan; generated when absent."
    )
    device_id: Annotated[str, Field(min_length=1, max_length=64)] = Field(
        description="The registered xray_scanner device that took it."
    )
    site: Annotated[str, Field(min_length=1, max_length=64)] = Field(
        description="Customs office or site (e.g. 'NL000396' or a gate id)."
    )
    scan_type: Literal["xray_transmission", "dual_energy", "backscatter", "ct"] = "xray_transmission"
    scanned_at: dt.datetime | None = Field(
        default=None, description="When it was scanned, by the device's clock (UTC); from the event when absent."
    )
    functional_reference_ids: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list, max_length=MAX_LINKS
    )
    container_ids: list[str] = Field(default_factory=list, max_length=MAX_LINKS)
    vehicle_plate: Annotated[str, Field(min_length=1, max_length=35)] | None = None
    energy_kev: float | None = Field(default=None, gt=0, le=20_000, description="Peak energy, keV (6 MeV = 6000).")
    dose_ugy: float | None = Field(default=None, ge=0, le=1_000_000, description="Dose to the cargo, µGy.")
    operator: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    event_id: Annotated[str, Field(min_length=1, max_length=64)] | None = Field(
        default=None, description="The xray_scan device event this record completes (its time, container, plate)."
    )
    attributes: dict[str, Any] = Field(default_factory=dict, description="Anything else the scanner reports.")

    @field_validator("scanned_at")
    @classmethod
    def _aware(cls, value: dt.datetime | None) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("scanned_at needs a time zone, e.g. '2025-03-04T08:00:00Z'")
        return None if value is None else value.astimezone(dt.UTC)

    @field_validator("attributes")
    @classmethod
    def _small(cls, value: dict[str, Any]) -> dict[str, Any]:
        if len(json.dumps(value, default=str)) > 20_000:
            raise ValueError("attributes are limited to 20,000 characters of JSON; keep bulky data in the images")
        return value

    @model_validator(mode="after")
    def _linked(self) -> ScanRequest:
        if not (self.functional_reference_ids or self.container_ids or self.vehicle_plate or self.event_id):
            raise ValueError(
                "a scan must name what was scanned: functional_reference_ids, container_ids or vehicle_plate"
            )
        if self.scanned_at is None and self.event_id is None:
            raise ValueError("scanned_at is required (or event_id, to take the time from the scanner's event)")
        return self


class Region(BaseModel):
    """A region of interest on one view, in pixels from the top-left corner."""

    model_config = ConfigDict(extra="forbid")

    view: Annotated[str, Field(min_length=1, max_length=32)]
    x: int = Field(ge=0)
    y: int = Field(ge=0)
    w: int = Field(ge=1)
    h: int = Field(ge=1)
    label: Annotated[str, Field(max_length=200)] | None = None


# --- images --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NormalisedImage:
    view: str
    png: bytes
    sha256: str
    width: int
    height: int
    bit_depth: int
    mode: str  # L (8-bit grey), I;16 (16-bit grey), RGB (8-bit colour)
    source_format: str
    source_sha256: str

    def row(self, scan_id: str) -> dict[str, Any]:
        return {
            "scan_id": scan_id,
            "view": self.view,
            "sha256": self.sha256,
            "width": self.width,
            "height": self.height,
            "bit_depth": self.bit_depth,
            "mode": self.mode,
            "byte_size": len(self.png),
            "source_format": self.source_format,
            "source_sha256": self.source_sha256,
        }


def check_view(view: str) -> str:
    if not VIEW_RE.match(view or ""):
        raise ScanError(
            f"view name {view!r} must be 1-32 characters: lowercase letters, digits, '_' or '-', starting with a "
            "letter (e.g. 'top', 'side', 'high_energy')",
            field="views",
        )
    return view


def _open(data: bytes, field: str) -> Any:
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
    except (UnidentifiedImageError, OSError, Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise ScanError(
            f"{field}: not a readable PNG, TIFF or JPEG image ({exc.__class__.__name__}); export the view from the "
            "scanner as PNG, TIFF or JPEG",
            field=field,
        ) from exc
    return img


def normalise_image(data: bytes, view: str, *, max_bytes: int = MAX_IMAGE_BYTES) -> NormalisedImage:
    """One uploaded view as lossless PNG: 8-bit grey (L), 16-bit grey (I;16) or 8-bit colour (RGB)."""
    from PIL import Image

    check_view(view)
    field = f"views.{view}"
    if len(data) > max_bytes:
        raise ScanImageTooLargeError(
            f"{field}: the image is {len(data):,} bytes; the limit is {max_bytes:,} bytes per view — export it "
            "without embedded previews or in a compressed format (PNG, compressed TIFF)",
            field=field,
        )
    if not data:
        raise ScanError(f"{field}: the file is empty; attach the image of this view", field=field)
    img = _open(data, field)
    if img.format not in SOURCE_FORMATS:
        raise ScanError(
            f"{field}: {img.format} images are not accepted; send PNG, TIFF or JPEG (DICOS volumes: export a "
            "projection per view)",
            field=field,
        )
    if getattr(img, "n_frames", 1) > 1:
        raise ScanError(
            f"{field}: the {img.format} file holds {img.n_frames} frames; send one image per view (one file per "
            "frame, each with its own view name)",
            field=field,
        )
    width, height = img.size
    if width * height > MAX_PIXELS:
        raise ScanImageTooLargeError(
            f"{field}: {width}x{height} pixels is more than the {MAX_PIXELS:,} allowed per view; reduce the "
            "resolution or split the view",
            field=field,
        )
    if width < MIN_SIDE or height < MIN_SIDE:
        raise ScanError(f"{field}: {width}x{height} pixels is too small for a scan image (at least 16x16)", field=field)
    try:
        img.load()
    except (OSError, ValueError, SyntaxError) as exc:
        raise ScanError(
            f"{field}: the {img.format} image is truncated or corrupt ({exc}); export it again", field=field
        ) from exc
    mode = img.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N"):
        out = Image.fromarray(np.asarray(img).astype(np.uint16))
    elif mode == "I":
        values = np.asarray(img)
        if values.size and (values.min() < 0 or values.max() > 65535):
            raise ScanError(
                f"{field}: 32-bit values from {values.min()} to {values.max()} do not fit 16 bits; export the view "
                "as 8- or 16-bit grayscale",
                field=field,
            )
        out = Image.fromarray(values.astype(np.uint16))
    elif mode == "F":
        raise ScanError(
            f"{field}: floating-point images are not accepted; export the view as 8- or 16-bit grayscale",
            field=field,
        )
    elif mode in ("1", "L", "LA"):
        out = img.convert("L")
    elif mode == "P":
        out = img.convert("RGB")
        if _is_grey(out):
            out = out.convert("L")
    elif mode in ("RGB", "RGBA", "RGBX", "CMYK", "YCbCr", "LAB", "HSV"):
        out = img.convert("RGB")
    else:
        raise ScanError(
            f"{field}: image mode {mode} is not supported; export 8- or 16-bit grayscale or 8-bit RGB", field=field
        )
    buffer = io.BytesIO()
    out.save(buffer, "PNG", compress_level=6)
    png = buffer.getvalue()
    return NormalisedImage(
        view=view,
        png=png,
        sha256=hashlib.sha256(png).hexdigest(),
        width=width,
        height=height,
        bit_depth=16 if out.mode == "I;16" else 8,
        mode=out.mode,
        source_format=str(img.format),
        source_sha256=hashlib.sha256(data).hexdigest(),
    )


def _is_grey(img: Any) -> bool:
    a = np.asarray(img)
    return bool((a[..., 0] == a[..., 1]).all() and (a[..., 1] == a[..., 2]).all())


def describe_png(png: bytes, field: str) -> tuple[int, int, int, str]:
    """Width, height, bit depth and mode of a stored-format PNG (imports check them against scan.json)."""
    img = _open(png, field)
    if img.format != "PNG" or img.mode not in ("L", "I;16", "RGB"):
        raise ScanError(
            f"{field}: a package view must be a PNG in mode L, I;16 or RGB, not {img.format} {img.mode}", field=field
        )
    width, height = img.size
    if width * height > MAX_PIXELS:
        raise ScanImageTooLargeError(f"{field}: {width}x{height} pixels is over the limit per view", field=field)
    try:
        img.load()
    except (OSError, ValueError, SyntaxError) as exc:
        raise ScanError(f"{field}: the PNG is truncated or corrupt ({exc})", field=field) from exc
    return width, height, 16 if img.mode == "I;16" else 8, img.mode


class ScanStore:
    """The PNG files, content-addressed: ``<root>/<first two hex digits>/<sha256>.png``, written once."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @classmethod
    def for_data_dir(cls, data_dir: Path | str) -> ScanStore:
        return cls(Path(data_dir) / "iot" / "scans")

    def path(self, sha256: str) -> Path:
        if not re.fullmatch(r"[0-9a-f]{64}", sha256):
            raise ScanError(f"{sha256!r} is not a SHA-256 hex digest", field="sha256")
        return self.root / sha256[:2] / f"{sha256}.png"

    def put(self, png: bytes, sha256: str) -> bool:
        """Store the file; True when it was new (so a failed transaction can remove it again)."""
        target = self.path(sha256)
        if target.exists():
            return False
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_suffix(f".{secrets.token_hex(4)}.tmp")
        with temporary.open("wb") as out:
            out.write(png)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, target)
        return True

    def get(self, sha256: str) -> bytes:
        path = self.path(sha256)
        if not path.is_file():
            raise ScanError(
                f"the image file {path.name} is missing from the scan store; restore {self.root} from backup",
                field="sha256",
            )
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != sha256:
            raise ScanError(
                f"the image file {path.name} no longer matches its SHA-256 (altered on disk); restore it from backup",
                field="sha256",
            )
        return data

    def discard(self, sha256: str) -> None:
        self.path(sha256).unlink(missing_ok=True)


# --- recording scans -----------------------------------------------------------------------------------------


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _validation(exc: ValidationError) -> ScanError:
    first = exc.errors(include_url=False)[0]
    field = ".".join(str(p) for p in first["loc"]) or None
    return ScanError(f"{field or 'scan'}: {first['msg']}", field=field)


def _references_known(conn: Connection, references: Sequence[str]) -> set[str]:
    if not references:
        return set()
    d = declarations.c
    return set(
        conn.execute(select(d.functional_reference_id).where(d.functional_reference_id.in_(list(references)))).scalars()
    )


def _declarations_for_containers(conn: Connection, containers: Sequence[str]) -> list[str]:
    if not containers:
        return []
    c, d = declaration_containers.c, declarations.c
    rows = conn.execute(
        select(d.functional_reference_id)
        .join(declaration_containers, c.declaration_id == d.id)
        .where(c.container_id.in_(list(containers)))
        .order_by(d.acceptance_date.desc(), d.id.desc())
        .limit(MAX_LINKS)
    ).scalars()
    return list(dict.fromkeys(rows))


def _links(scan_id: str, references: Sequence[str], containers: Sequence[str], plate: str | None) -> list[dict]:
    pairs = [("declaration", r) for r in references] + [("container", c) for c in containers]
    pairs += [("vehicle", plate)] if plate else []
    return [{"scan_id": scan_id, "link_type": t, "link_id": i} for t, i in dict.fromkeys(pairs)]


def _store_images(store: ScanStore, images: Sequence[NormalisedImage]) -> list[str]:
    written = []
    for image in images:
        if store.put(image.png, image.sha256):
            written.append(image.sha256)
    return written


def _discard_unreferenced(engine: Engine, store: ScanStore, written: Sequence[str]) -> None:
    """After a failed transaction: remove the files it had written that no stored scan uses."""
    if not written:
        return
    with engine.connect() as conn:
        used = set(
            conn.execute(select(iot_scan_images.c.sha256).where(iot_scan_images.c.sha256.in_(list(written)))).scalars()
        )
    for sha in written:
        if sha not in used:
            store.discard(sha)


def add_scan(
    engine: Engine,
    actor: Identity,
    store: ScanStore,
    request: ScanRequest | Mapping[str, Any],
    images: Mapping[str, bytes],
    *,
    max_image_bytes: int = MAX_IMAGE_BYTES,
) -> dict[str, Any]:
    """Record one scan with its views (``{"top": bytes, "side": bytes}``). Checks everything before writing; the
    rows and the audit entry commit together, and image files of a failed attempt are removed again."""
    actor.require(Permission.SCANS_UPLOAD)
    try:
        req = request if isinstance(request, ScanRequest) else ScanRequest.model_validate(dict(request))
    except ValidationError as exc:
        raise _validation(exc) from exc
    if not images:
        raise ScanError("a scan needs at least one image (one file per view, e.g. 'top' and 'side')", field="views")
    if len(images) > MAX_VIEWS:
        raise ScanError(f"{len(images)} views; a scan has at most {MAX_VIEWS}", field="views")
    normalised = [normalise_image(data, view, max_bytes=max_image_bytes) for view, data in images.items()]
    containers = list(dict.fromkeys(check_container_number(c, "container_ids") for c in req.container_ids))
    plate = req.vehicle_plate.strip().upper() if req.vehicle_plate else None
    references = list(dict.fromkeys(req.functional_reference_ids))
    scan_id = req.scan_id or f"SCAN-{_utcnow():%Y%m%d%H%M%S}-{secrets.token_hex(3).upper()}"
    now = _utcnow()
    attributes = dict(req.attributes)
    written = _store_images(store, normalised)
    try:
        with engine.begin() as conn:
            device = conn.execute(
                select(iot_devices.c.device_type, iot_devices.c.active).where(iot_devices.c.device_id == req.device_id)
            ).first()
            if device is None:
                raise ScanError(
                    f"device {req.device_id!r} is not registered; register the scanner with `opencustoms iot devices "
                    "add ID xray_scanner`",
                    field="device_id",
                )
            if device.device_type != DeviceType.XRAY_SCANNER.value:
                raise ScanError(
                    f"device {req.device_id!r} is a {device.device_type}, not an xray_scanner", field="device_id"
                )
            if not device.active:
                raise ScanError(f"device {req.device_id!r} is disabled; enable it first", field="device_id")
            scanned_at = req.scanned_at
            if req.event_id is not None:
                event = conn.execute(
                    select(iot_events.c.kind, iot_events.c.device_time, iot_events.c.payload).where(
                        iot_events.c.device_id == req.device_id, iot_events.c.event_key == req.event_id
                    )
                ).first()
                if event is None or event.kind != EventKind.XRAY_SCAN.value:
                    raise ScanError(
                        f"device {req.device_id!r} sent no xray_scan event {req.event_id!r}; check the event id or "
                        "leave it out",
                        field="event_id",
                    )
                payload = event.payload or {}
                scanned_at = scanned_at or as_utc(event.device_time)
                if payload.get("container_id") and not containers:
                    containers = [check_container_number(str(payload["container_id"]), "event_id")]
                plate = plate or (str(payload["plate"]).upper() if payload.get("plate") else None)
                attributes.setdefault(
                    "event",
                    {k: payload.get(k) for k in ("gate_id", "passage_id") if payload.get(k)} | {"id": req.event_id},
                )
            if not (references or containers or plate):
                raise ScanError(
                    "a scan must name what was scanned: functional_reference_ids, container_ids or vehicle_plate",
                    field="functional_reference_ids",
                )
            _require_declarations(
                conn, references, "; check the reference, or leave it out and link the scan by container number"
            )
            if not references:
                references = _declarations_for_containers(conn, containers)
            assert scanned_at is not None
            _insert_scan(
                conn,
                actor,
                normalised,
                scan_id=scan_id,
                device_id=req.device_id,
                site=req.site,
                scan_type=req.scan_type,
                scanned_at=scanned_at,
                received_at=now,
                functional_reference_ids=references,
                container_ids=containers,
                vehicle_plate=plate,
                energy_kev=req.energy_kev,
                dose_ugy=req.dose_ugy,
                operator=req.operator,
                attributes=attributes,
                source="upload",
                origin=None,
            )
            record(
                conn,
                actor,
                "create",
                "scan",
                scan_id,
                detail={
                    "device_id": req.device_id,
                    "views": {i.view: i.sha256 for i in normalised},
                    "functional_reference_ids": references,
                    "container_ids": containers,
                },
            )
    except BaseException:
        _discard_unreferenced(engine, store, written)
        raise
    return get_scan(engine, actor, scan_id) if actor.can(Permission.DECLARATIONS_READ) else {"scan_id": scan_id}


def _require_declarations(conn: Connection, references: Sequence[str], hint: str) -> None:
    """Refuse a scan naming a declaration this installation does not hold (``hint`` says what to do)."""
    known = _references_known(conn, references)
    for reference in references:
        if reference not in known:
            raise ScanError(f"no declaration {reference!r}{hint}", field="functional_reference_ids")


def _insert_scan(conn: Connection, actor: Identity, images: Sequence[NormalisedImage], **scan: Any) -> None:
    """Store a new scan (pending review), its views and its links; a scan id already held is refused."""
    scan_id = scan["scan_id"]
    if conn.execute(select(iot_scans.c.scan_id).where(iot_scans.c.scan_id == scan_id)).first():
        raise ScanExistsError(scan_id)
    conn.execute(insert(iot_scans).values(**scan, status="pending", created_by=actor.username))
    conn.execute(insert(iot_scan_images), [image.row(scan_id) for image in images])
    links = _links(scan_id, scan["functional_reference_ids"], scan["container_ids"], scan["vehicle_plate"])
    conn.execute(insert(iot_scan_links), links)


# --- reading -------------------------------------------------------------------------------------------------

QueueStatus = Literal["open", "pending", "in_review", "reviewed", "all"]


def _scan_dict(row: Any, views: list[dict[str, Any]]) -> dict[str, Any]:
    out = {k: (as_utc(v) if isinstance(v, dt.datetime) else v) for k, v in row.items()}
    out["views"] = views
    return out


def _views(conn: Connection, scan_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {s: [] for s in scan_ids}
    if not scan_ids:
        return out
    i = iot_scan_images.c
    rows = conn.execute(select(iot_scan_images).where(i.scan_id.in_(list(scan_ids))).order_by(i.scan_id, i.view))
    for r in rows.mappings():
        out[r["scan_id"]].append({k: v for k, v in r.items() if k != "scan_id"})
    for views in out.values():  # the usual reading order: top, then side, then the rest by name
        views.sort(key=lambda v: (VIEW_ORDER.get(v["view"], len(VIEW_ORDER)), v["view"]))
    return out


def scan_queue(
    engine: Engine,
    actor: Identity,
    *,
    status: QueueStatus | str = "open",
    site: str | None = None,
    finding: str | None = None,
    reference: str | None = None,
    container: str | None = None,
    assigned_to: str | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Scans to review, oldest scan first (``open``: pending and in review); reviewed ones newest first."""
    actor.require(Permission.DECLARATIONS_READ)
    s = iot_scans.c
    query = select(iot_scans)
    if status == "open":
        query = query.where(s.status.in_(("pending", "in_review")))
    elif status in STATUSES:
        query = query.where(s.status == status)
    elif status != "all":
        raise ScanError(f"status {status!r} must be open, pending, in_review, reviewed or all", field="status")
    if finding:
        if finding not in FINDINGS:
            raise ScanError(f"finding {finding!r} must be one of {', '.join(FINDINGS)}", field="finding")
        query = query.where(s.finding == finding)
    if site:
        query = query.where(s.site == site)
    if assigned_to:
        query = query.where(s.assigned_to == assigned_to)
    links = iot_scan_links.c
    for link_type, link_id in (("declaration", reference), ("container", container)):
        if link_id:
            wanted = link_id if link_type == "declaration" else link_id.replace(" ", "").upper()
            query = query.where(
                s.scan_id.in_(select(links.scan_id).where(links.link_type == link_type, links.link_id == wanted))
            )
    newest_first = status in ("reviewed", "all")
    query = query.order_by(s.scanned_at.desc() if newest_first else s.scanned_at, s.scan_id)
    query = query.limit(max(1, min(limit, 1000)))
    with engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
        views = _views(conn, [r["scan_id"] for r in rows])
    return [_scan_dict(r, views[r["scan_id"]]) for r in rows]


def scan_counts(engine: Engine, actor: Identity) -> dict[str, int]:
    actor.require(Permission.DECLARATIONS_READ)
    with engine.connect() as conn:
        counts: dict[str, int] = dict(
            conn.execute(select(iot_scans.c.status, func.count()).group_by(iot_scans.c.status)).all()
        )
    return {status: int(counts.get(status, 0)) for status in STATUSES}


def scans_for_declaration(engine: Engine, actor: Identity, reference: str) -> list[dict[str, Any]]:
    return scan_queue(engine, actor, status="all", reference=reference, limit=1000)


def get_scan(engine: Engine, actor: Identity, scan_id: str) -> dict[str, Any]:
    actor.require(Permission.DECLARATIONS_READ)
    with engine.connect() as conn:
        row = conn.execute(select(iot_scans).where(iot_scans.c.scan_id == scan_id)).mappings().first()
        if row is None:
            raise ScanNotFoundError(scan_id)
        return _scan_dict(row, _views(conn, [scan_id])[scan_id])


def scan_image(engine: Engine, actor: Identity, store: ScanStore, scan_id: str, view: str) -> tuple[bytes, str]:
    """The PNG of one view and its SHA-256 (checked against the file on the way out)."""
    actor.require(Permission.DECLARATIONS_READ)
    with engine.connect() as conn:
        sha = conn.execute(
            select(iot_scan_images.c.sha256).where(iot_scan_images.c.scan_id == scan_id, iot_scan_images.c.view == view)
        ).scalar()
        if sha is None:
            if not conn.execute(select(iot_scans.c.scan_id).where(iot_scans.c.scan_id == scan_id)).first():
                raise ScanNotFoundError(scan_id)
            raise ScanNotFoundError(f"{scan_id}/{view}", field="view")
    return store.get(sha), sha


def display_png(png: bytes) -> bytes:
    """An 8-bit rendering of a stored view for screens: 16-bit images are windowed between their 0.5th and 99.5th
    percentiles (a screen shows 256 grey levels; the stored PNG keeps all 65,536). 8-bit views are returned as
    they are."""
    from PIL import Image

    img = Image.open(io.BytesIO(png))
    if img.mode != "I;16":
        return png
    values = np.asarray(img).astype(np.float32)
    low, high = np.percentile(values, [0.5, 99.5])
    scaled = np.clip((values - low) * (255.0 / max(float(high - low), 1.0)), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(scaled).save(buffer, "PNG", compress_level=3)
    return buffer.getvalue()


def scan_display(engine: Engine, actor: Identity, store: ScanStore, scan_id: str, view: str) -> bytes:
    """The view as an 8-bit PNG for the dashboard (``display_png``)."""
    data, _ = scan_image(engine, actor, store, scan_id, view)
    return display_png(data)


# --- the review queue ----------------------------------------------------------------------------------------


def _locked(conn: Connection, scan_id: str) -> Any:
    row = conn.execute(select(iot_scans).where(iot_scans.c.scan_id == scan_id).with_for_update()).first()
    if row is None:
        raise ScanNotFoundError(scan_id)
    return row


def assign_scan(engine: Engine, actor: Identity, scan_id: str, assignee: str | None = None) -> dict[str, Any]:
    """Claim a scan for review (``assignee`` None: the actor). Assigning it to someone else, or taking over a
    colleague's claim, needs risk:manage (queue managers: supervisors, risk analysts)."""
    actor.require(Permission.SCANS_REVIEW)
    assignee = assignee or actor.username
    with engine.begin() as conn:
        row = _locked(conn, scan_id)
        if row.status == "reviewed":
            raise ScanReviewConflictError(
                f"scan {scan_id} was already reviewed ({row.finding} by {row.reviewed_by})", field="scan_id"
            )
        managing = assignee != actor.username or (row.assigned_to not in (None, actor.username))
        if managing and not actor.can(Permission.RISK_MANAGE):
            who = row.assigned_to if row.assigned_to not in (None, actor.username) else assignee
            raise ScanReviewConflictError(
                f"scan {scan_id} is claimed by {row.assigned_to}; ask them or a supervisor to release it"
                if row.assigned_to not in (None, actor.username)
                else f"assigning scan {scan_id} to {who} needs the permission risk:manage; claim it for yourself",
                field="assignee",
            )
        now = _utcnow()
        conn.execute(
            update(iot_scans)
            .where(iot_scans.c.scan_id == scan_id)
            .values(status="in_review", assigned_to=assignee, assigned_at=now)
        )
        record(conn, actor, "assign", "scan", scan_id, detail={"assignee": assignee, "previous": row.assigned_to})
    return {"scan_id": scan_id, "status": "in_review", "assigned_to": assignee, "assigned_at": now}


def release_scan(engine: Engine, actor: Identity, scan_id: str) -> dict[str, Any]:
    """Put a claimed scan back in the queue (its reviewer, or a queue manager)."""
    actor.require(Permission.SCANS_REVIEW)
    with engine.begin() as conn:
        row = _locked(conn, scan_id)
        if row.status != "in_review":
            raise ScanReviewConflictError(f"scan {scan_id} is {row.status}, not in review", field="scan_id")
        if row.assigned_to != actor.username and not actor.can(Permission.RISK_MANAGE):
            raise ScanReviewConflictError(
                f"scan {scan_id} is claimed by {row.assigned_to}; only they or a supervisor can release it",
                field="scan_id",
            )
        conn.execute(
            update(iot_scans)
            .where(iot_scans.c.scan_id == scan_id)
            .values(status="pending", assigned_to=None, assigned_at=None)
        )
        record(conn, actor, "release", "scan", scan_id, detail={"previous": row.assigned_to})
    return {"scan_id": scan_id, "status": "pending"}


def _regions(raw: Sequence[Region | Mapping[str, Any]], views: Mapping[str, Any]) -> list[dict[str, Any]]:
    if len(raw) > MAX_REGIONS:
        raise ScanError(f"{len(raw)} regions; mark at most {MAX_REGIONS}", field="regions")
    out = []
    for k, item in enumerate(raw):
        try:
            region = item if isinstance(item, Region) else Region.model_validate(dict(item))
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ScanError(f"regions[{k}].{where}: {first['msg']}", field=f"regions[{k}].{where}") from exc
        view = views.get(region.view)
        if view is None:
            raise ScanError(
                f"regions[{k}]: the scan has no view {region.view!r} (views: {', '.join(views)})",
                field=f"regions[{k}].view",
            )
        if region.x + region.w > view.width or region.y + region.h > view.height:
            raise ScanError(
                f"regions[{k}]: x {region.x} + w {region.w}, y {region.y} + h {region.h} falls outside the "
                f"{view.width}x{view.height} {region.view} view",
                field=f"regions[{k}]",
            )
        out.append(region.model_dump(exclude_none=True))
    return out


def record_finding(
    engine: Engine,
    actor: Identity,
    scan_id: str,
    finding: str,
    notes: str | None = None,
    regions: Sequence[Region | Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """The image analyst's finding, in one transaction with its audit entry, a signal ``iot.scan_finding`` on each
    declaration, container and vehicle of the scan (severity info / high / critical), an alert for ``suspicious``
    and ``discrepancy`` (they send the declarations to the red lane), and for ``clear`` and ``discrepancy`` an
    inspection result (compliant / fraud, source ``scan_review``) the risk engine learns from."""
    actor.require(Permission.SCANS_REVIEW)
    if finding not in FINDINGS:
        raise ScanError(
            f"finding {finding!r} must be clear (image consistent with the declaration), suspicious (physical "
            "inspection recommended) or discrepancy (goods not as declared, or concealment seen)",
            field="finding",
        )
    notes = (notes or "").strip() or None
    if notes and len(notes) > MAX_NOTES:
        raise ScanError(f"notes are limited to {MAX_NOTES:,} characters", field="notes")
    if finding != "clear" and not notes:
        raise ScanError(
            f"a {finding} finding needs notes saying what the image shows and where (for the inspecting officer)",
            field="notes",
        )
    now = _utcnow()
    with engine.begin() as conn:
        row = _locked(conn, scan_id)
        if row.status == "reviewed":
            raise ScanReviewConflictError(
                f"scan {scan_id} already has a finding ({row.finding} by {row.reviewed_by} at "
                f"{as_utc(row.reviewed_at):%Y-%m-%d %H:%M} UTC); a finding is not changed — record the physical "
                "inspection on the declaration instead",
                field="scan_id",
            )
        if row.status == "in_review" and row.assigned_to != actor.username:
            raise ScanReviewConflictError(
                f"scan {scan_id} is claimed by {row.assigned_to}; ask them or a supervisor to release it",
                field="scan_id",
            )
        views = {
            r.view: r
            for r in conn.execute(
                select(iot_scan_images.c.view, iot_scan_images.c.width, iot_scan_images.c.height).where(
                    iot_scan_images.c.scan_id == scan_id
                )
            )
        }
        marked = _regions(regions, views)
        conn.execute(
            update(iot_scans)
            .where(iot_scans.c.scan_id == scan_id)
            .values(
                status="reviewed",
                finding=finding,
                notes=notes,
                regions=marked,
                reviewed_by=actor.username,
                reviewed_at=now,
                assigned_to=row.assigned_to or actor.username,
                assigned_at=row.assigned_at or now,
            )
        )
        record(conn, actor, "review", "scan", scan_id, detail={"finding": finding, "regions": len(marked)})
        references = list(row.functional_reference_ids or [])
        subjects = [(signals.SubjectType.DECLARATION, r) for r in references]
        subjects += [(signals.SubjectType.CONTAINER, c) for c in row.container_ids or []]
        if row.vehicle_plate:
            subjects.append((signals.SubjectType.VEHICLE, row.vehicle_plate))
        what = ", ".join([*references, *(row.container_ids or []), *([row.vehicle_plate] if row.vehicle_plate else [])])
        reason = {
            "clear": f"X-ray scan {scan_id} reviewed: image consistent with the declaration ({what})",
            "suspicious": f"X-ray scan {scan_id} reviewed as suspicious, physical inspection recommended ({what})",
            "discrepancy": f"X-ray scan {scan_id}: goods not as declared or concealment seen ({what})",
        }[finding]
        if notes:
            reason += f": {notes}"
        alert = Alert(
            "scan",
            scan_id,
            "scan_finding",
            SEVERITY[finding],
            as_utc(row.scanned_at),
            reason[:2000],
            key=finding,
            evidence={
                "finding": finding,
                "regions": marked,
                "reviewed_by": actor.username,
                "site": row.site,
                "scan_id": scan_id,
                "subjects": what,
                "notes": notes or None,
            },
        )
        if finding != "clear":
            conn.execute(insert(iot_alerts), [alert_row(alert, now)])
        signals.emit(conn, alert_signals(alert, subjects))
        feedback = 0
        if finding in OUTCOME and references:
            # Holding scans:review is what authorises recording this non-intrusive inspection's result; the audit
            # entry and the inspection row name the reviewer, with source 'scan_review'.
            reviewer = dataclasses.replace(actor, permissions=actor.permissions | {Permission.INSPECTIONS_WRITE})
            feedback = record_inspections(
                conn,
                reviewer,
                [
                    InspectionResult(r, OUTCOME[finding], None, f"scan {scan_id}: {notes or finding}")
                    for r in references
                ],
                source="scan_review",
            )
    return {
        "scan_id": scan_id,
        "status": "reviewed",
        "finding": finding,
        "reviewed_by": actor.username,
        "reviewed_at": now,
        "signals": len(dict.fromkeys(subjects)),
        "inspection_results": feedback,
        "alert_id": alert.id if finding != "clear" else None,
    }


# --- exchange between administrations (the BAXE need) ----------------------------------------------------------


def export_package(engine: Engine, actor: Identity, store: ScanStore, scan_id: str) -> bytes:
    """One zip: ``scan.json`` (format, metadata, views with SHA-256, width, height, bit depth; the finding when
    there is one) and ``views/<view>.png``. Audited as an export."""
    actor.require(Permission.SCANS_REVIEW)
    scan = get_scan(engine, actor, scan_id)
    views = []
    files = {}
    for v in scan["views"]:
        files[f"views/{v['view']}.png"] = store.get(v["sha256"])
        views.append(
            {
                "view": v["view"],
                "file": f"views/{v['view']}.png",
                "media_type": "image/png",
                "sha256": v["sha256"],
                "width": v["width"],
                "height": v["height"],
                "bit_depth": v["bit_depth"],
                "mode": v["mode"],
            }
        )
    document = {
        "format": PACKAGE_FORMAT,
        "version": PACKAGE_VERSION,
        "exported_at": _utcnow().isoformat(),
        "exporter": {"administration": actor.administration_code},
        "scan": {
            "scan_id": scan["scan_id"],
            "device_id": scan["device_id"],
            "site": scan["site"],
            "scan_type": scan["scan_type"],
            "scanned_at": scan["scanned_at"].isoformat(),
            "functional_reference_ids": scan["functional_reference_ids"],
            "container_ids": scan["container_ids"],
            "vehicle_plate": scan["vehicle_plate"],
            "energy_kev": scan["energy_kev"],
            "dose_ugy": scan["dose_ugy"],
            "operator": scan["operator"],
            "attributes": scan["attributes"],
        },
        "views": views,
        "review": (
            {
                "finding": scan["finding"],
                "notes": scan["notes"],
                "regions": scan["regions"] or [],
                "reviewed_at": scan["reviewed_at"].isoformat(),
            }
            if scan["status"] == "reviewed"
            else None
        ),
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:  # PNG is compressed already
        archive.writestr("scan.json", json.dumps(document, indent=1, ensure_ascii=False))
        for name, data in files.items():
            archive.writestr(name, data)
    with engine.begin() as conn:
        record(conn, actor, "export", "scan", scan_id, detail={"views": [v["sha256"] for v in views]})
    return buffer.getvalue()


class _PackageView(BaseModel):
    model_config = ConfigDict(extra="ignore")

    view: str
    file: str
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    width: int = Field(ge=1)
    height: int = Field(ge=1)
    bit_depth: Literal[8, 16]
    mode: Literal["L", "I;16", "RGB"]


class _PackageScan(BaseModel):
    model_config = ConfigDict(extra="ignore")

    scan_id: Annotated[str, Field(pattern=ID_PATTERN)]
    device_id: Annotated[str, Field(min_length=1, max_length=64)]
    site: Annotated[str, Field(min_length=1, max_length=64)]
    scan_type: Literal["xray_transmission", "dual_energy", "backscatter", "ct"]
    scanned_at: dt.datetime
    functional_reference_ids: list[Annotated[str, Field(max_length=64)]] = Field(default_factory=list, max_length=20)
    container_ids: list[str] = Field(default_factory=list, max_length=MAX_LINKS)
    vehicle_plate: Annotated[str, Field(max_length=35)] | None = None
    energy_kev: float | None = Field(default=None, gt=0, le=20_000)
    dose_ugy: float | None = Field(default=None, ge=0, le=1_000_000)
    operator: Annotated[str, Field(max_length=64)] | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)


class _Package(BaseModel):
    model_config = ConfigDict(extra="ignore")

    format: Literal["opencustoms-scan"]
    version: Literal[1]
    exported_at: dt.datetime | None = None
    exporter: dict[str, Any] = Field(default_factory=dict)
    scan: _PackageScan
    views: list[_PackageView] = Field(min_length=1, max_length=MAX_VIEWS)
    review: dict[str, Any] | None = None


def import_package(
    engine: Engine,
    actor: Identity,
    store: ScanStore,
    data: bytes,
    *,
    functional_reference_ids: Sequence[str] = (),
) -> dict[str, Any]:
    """Import a scan package from another administration. Every view's SHA-256, size and depth is checked against
    ``scan.json`` before anything is written; the scan enters this administration's queue as ``pending``.
    Container numbers link it here; the sender's declaration references are kept under ``origin`` (linked too
    when they exist here), and ``functional_reference_ids`` adds this administration's own."""
    actor.require(Permission.SCANS_UPLOAD)
    if len(data) > MAX_PACKAGE_BYTES:
        raise ScanImageTooLargeError(
            f"the package is {len(data):,} bytes; the limit is {MAX_PACKAGE_BYTES:,}", field="package"
        )
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise ScanError(
            "the package is not a zip file; export it with `opencustoms iot scan export` (or GET "
            "/iot/scans/{id}/package)",
            field="package",
        ) from exc
    with archive:
        entries = {info.filename: info for info in archive.infolist() if not info.is_dir()}
        if "scan.json" not in entries:
            raise ScanError("the package has no scan.json; it is not an OpenCustoms scan package", field="package")
        total = sum(info.file_size for info in entries.values())
        if total > MAX_PACKAGE_BYTES:
            raise ScanImageTooLargeError(
                f"the package unpacks to {total:,} bytes; the limit is {MAX_PACKAGE_BYTES:,}", field="package"
            )
        try:
            package = _Package.model_validate(load_json_part(archive.read("scan.json"), "scan.json"))
        except (ValueError, UnicodeDecodeError) as exc:
            if isinstance(exc, ValidationError):
                first = exc.errors(include_url=False)[0]
                where = ".".join(str(p) for p in first["loc"])
                raise ScanError(f"scan.json: {where}: {first['msg']}", field=f"scan.json.{where}") from exc
            raise ScanError(f"scan.json is not valid JSON ({exc})", field="scan.json") from exc
        listed = {v.file for v in package.views}
        unexpected = sorted(set(entries) - listed - {"scan.json"})
        if unexpected:
            raise ScanError(
                f"the package holds files scan.json does not list: {', '.join(unexpected[:5])}", field="package"
            )
        images = []
        for v in package.views:
            check_view(v.view)
            field = f"views.{v.view}"
            if v.file != f"views/{v.view}.png" or v.file not in entries:
                raise ScanError(f"{field}: scan.json lists {v.file!r}, which the package does not hold", field=field)
            if entries[v.file].file_size > MAX_IMAGE_BYTES:
                raise ScanImageTooLargeError(
                    f"{field}: {entries[v.file].file_size:,} bytes is over the limit", field=field
                )
            png = archive.read(v.file)
            actual = hashlib.sha256(png).hexdigest()
            if actual != v.sha256:
                raise ScanError(
                    f"{field}: the SHA-256 of {v.file} is {actual}, scan.json says {v.sha256}; the package was altered "
                    "or damaged on the way — ask the sender for a new export",
                    field=field,
                )
            width, height, depth, mode = describe_png(png, field)
            if (width, height, depth, mode) != (v.width, v.height, v.bit_depth, v.mode):
                raise ScanError(
                    f"{field}: the image is {width}x{height} {mode} ({depth}-bit), scan.json says {v.width}x{v.height} "
                    f"{v.mode} ({v.bit_depth}-bit)",
                    field=field,
                )
            images.append(NormalisedImage(v.view, png, actual, width, height, depth, mode, "PNG", actual))
    if len({i.view for i in images}) != len(images):
        raise ScanError("scan.json lists the same view twice", field="views")
    s = package.scan
    containers = list(dict.fromkeys(check_container_number(c, "scan.json.scan.container_ids") for c in s.container_ids))
    origin = {
        "administration": package.exporter.get("administration"),
        "exported_at": package.exported_at.isoformat() if package.exported_at else None,
        "device_id": s.device_id,
        "functional_reference_ids": s.functional_reference_ids,
        "review": package.review,
    }
    plate = s.vehicle_plate.strip().upper() if s.vehicle_plate else None
    now = _utcnow()
    written = _store_images(store, images)
    try:
        with engine.begin() as conn:
            own = list(dict.fromkeys(functional_reference_ids))
            _require_declarations(conn, own, " here; check the reference")
            references = list(
                dict.fromkeys([*own, *sorted(_references_known(conn, s.functional_reference_ids))])
            ) or _declarations_for_containers(conn, containers)
            _insert_scan(
                conn,
                actor,
                images,
                scan_id=s.scan_id,
                device_id=s.device_id,
                site=s.site,
                scan_type=s.scan_type,
                scanned_at=s.scanned_at if s.scanned_at.tzinfo else s.scanned_at.replace(tzinfo=dt.UTC),
                received_at=now,
                functional_reference_ids=references,
                container_ids=containers,
                vehicle_plate=plate,
                energy_kev=s.energy_kev,
                dose_ugy=s.dose_ugy,
                operator=s.operator,
                attributes=s.attributes,
                source="import",
                origin=origin,
            )
            record(
                conn,
                actor,
                "import",
                "scan",
                s.scan_id,
                detail={"from": origin["administration"], "views": {i.view: i.sha256 for i in images}},
            )
    except BaseException:
        _discard_unreferenced(engine, store, written)
        raise
    return get_scan(engine, actor, s.scan_id) if actor.can(Permission.DECLARATIONS_READ) else {"scan_id": s.scan_id}
