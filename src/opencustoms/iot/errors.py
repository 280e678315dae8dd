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
