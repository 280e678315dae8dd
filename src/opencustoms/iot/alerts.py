"""Alerts: what a rule found, with a deterministic id so re-evaluating the same history finds the same alerts
(at-least-once delivery and out-of-order events never double an alert or a signal)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

NAMESPACE = uuid.UUID("6f1c1c1e-2b7a-4c55-9c43-0c1f0e5a7d11")


@dataclass(frozen=True)
class Alert:
    context_type: str  # transit | gate | vessel
    context_id: str
    kind: str  # e.g. corridor_deviation; the signal kind is "iot.<kind>"
    severity: str  # signals.Severity value
    observed_at: dt.datetime
    reason: str
    key: str  # what makes this alert unique within its context (episode start, device, ...)
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return str(uuid.uuid5(NAMESPACE, f"{self.context_type}|{self.context_id}|{self.kind}|{self.key}"))

    def signal_id(self, subject_type: str, subject_id: str) -> str:
        return str(uuid.uuid5(NAMESPACE, f"{self.id}|{subject_type}|{subject_id}"))
