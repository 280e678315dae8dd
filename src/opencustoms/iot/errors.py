"""Errors of the IoT pillar. Each says what was wrong and what to do; ``field`` names the offending input."""

from __future__ import annotations

from opencustoms.errors import ConflictError, NotFoundError, OpenCustomsError


class IotError(OpenCustomsError):
    title = "IoT request rejected"


class DeviceNotFoundError(NotFoundError):
    title = "Unknown device"

    def __init__(self, device_id: str) -> None:
        super().__init__(
            f"no device {device_id!r} is registered; register it with `opencustoms iot devices add`", field="device_id"
        )


class DeviceExistsError(ConflictError):
    title = "Device already registered"

    def __init__(self, device_id: str) -> None:
        super().__init__(
            f"device {device_id!r} is already registered; rotate its secret with "
            "`opencustoms iot devices rotate` instead",
            field="device_id",
        )


class DeviceAuthenticationError(IotError):
    status = 401
    title = "Device authentication failed"


class TransitNotFoundError(NotFoundError):
    title = "Unknown transit movement"

    def __init__(self, movement_id: str) -> None:
        super().__init__(
            f"no transit movement {movement_id!r}; list them with `opencustoms iot transits list`", field="movement_id"
        )


class TransitExistsError(ConflictError):
    title = "Transit movement already exists"

    def __init__(self, movement_id: str) -> None:
        super().__init__(
            f"transit movement {movement_id!r} already exists; choose another movement_id", field="movement_id"
        )


class ZoneNotFoundError(NotFoundError):
    title = "Unknown zone"

    def __init__(self, zone_id: str) -> None:
        super().__init__(f"no zone {zone_id!r}; define it with `opencustoms iot zones add` first", field="zone_id")


class GateDecisionNotFoundError(NotFoundError):
    title = "Unknown gate decision"

    def __init__(self, decision_id: str) -> None:
        super().__init__(
            f"no gate decision {decision_id!r}; list pending ones with `opencustoms iot gate queue`",
            field="decision_id",
        )


class GateDecisionClosedError(ConflictError):
    title = "Gate decision already taken"


class PayloadError(IotError):
    """A payload that an adapter cannot read; ingestion quarantines it with ``reason_code``."""

    title = "Unreadable device payload"

    def __init__(self, message: str, *, reason_code: str = "malformed", field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.reason_code = reason_code


class BrokerUnavailableError(IotError):
    status = 503
    title = "MQTT broker unavailable"


class ScanError(IotError):
    """A scan record, image or package that cannot be accepted."""

    title = "Scan record rejected"


class ScanImageTooLargeError(ScanError):
    status = 413
    title = "Scan image too large"


class ScanNotFoundError(NotFoundError):
    title = "Unknown scan"

    def __init__(self, scan_id: str, field: str = "scan_id") -> None:
        super().__init__(
            f"no scan {scan_id!r}; list scans with `opencustoms iot scan queue --status all` (GET /iot/scans)",
            field=field,
        )


class ScanExistsError(ConflictError):
    title = "Scan already recorded"

    def __init__(self, scan_id: str) -> None:
        super().__init__(
            f"scan {scan_id!r} is already recorded; choose another scan_id (an imported package keeps its id, so "
            "it can be imported only once)",
            field="scan_id",
        )


class ScanReviewConflictError(ConflictError):
    """The scan is claimed by another reviewer, or its finding is already recorded."""

    title = "Scan review conflict"
