"""The demo's live data: while `make demo` serves, trucks move along their corridors (e-seal and GPS events
replayed from the IoT simulator), gate reads and AIS arrive, and new declarations are declared and laned.

Each ``tick`` advances the simulated clock and feeds what happened since the last tick through the same services
an installation uses (IoT ingestion, declaration creation, risk laning), so the dashboard's queue, map and gate
queue change by themselves. ``--check`` runs one tick to prove the loop works.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass, field
from typing import Any

from opencustoms.context import Platform
from opencustoms.declarations import service as declarations
from opencustoms.demo.generator import generate
from opencustoms.errors import OpenCustomsError
from opencustoms.security.service import Identity

# The simulated trips start this long before the demo starts and are replayed this many times faster than real time.
HISTORY = dt.timedelta(hours=8)
SPEED = 60.0


@dataclass
class LiveDemo:
    platform: Platform
    operator: Identity
    seed: int = 7
    declarations_per_tick: int = 4
    started: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    counts: dict[str, int] = field(default_factory=lambda: {"events": 0, "alerts": 0, "declarations": 0})
    _messages: list[Any] = field(default_factory=list)
    registered: int = 0
    _next: int = 0
    _serial: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)

    def prepare(self) -> None:
        """Register the simulator's devices, zones, declarations and movements; keep its messages for replay."""
        from opencustoms.iot import simulator

        start = self.started.replace(microsecond=0) - HISTORY
        before = declarations.count(self.platform.engine, self.operator)
        sim = simulator.build(self.platform.engine, self.operator, start, seed=self.seed)
        self.registered = declarations.count(self.platform.engine, self.operator) - before  # the trips' own
        self._messages = sorted(sim.messages, key=lambda m: m.device_time)
        self._sim_start = start

    def simulated_now(self) -> dt.datetime:
        elapsed = (dt.datetime.now(dt.UTC) - self.started).total_seconds()
        return self._sim_start + dt.timedelta(seconds=elapsed * SPEED)

    def tick(self, until: dt.datetime | None = None) -> dict[str, int]:
        """Feed the device messages due by ``until`` (default: the simulated now) and declare a few new goods."""
        from opencustoms.iot import service as iot
        from opencustoms.risk import service as risk

        until = until or self.simulated_now()
        due = []
        while self._next < len(self._messages) and self._messages[self._next].device_time <= until:
            due.append(self._messages[self._next])
            self._next += 1
        if due:
            report = iot.ingest_simulated(self.platform.engine, self.operator, due)
            summary = report.summary()
            self.counts["events"] += len(due)
            self.counts["alerts"] += len(summary["alerts"])
        for data, _truth in generate(
            self.declarations_per_tick, seed=self.seed * 1000 + self._serial, start=dt.date.today(), days=1
        ):
            self._serial += 1
            data["functional_reference_id"] = f"LIVE{self.started:%y%m%d%H%M}{self._serial:05d}"
            declarations.create(self.platform.engine, self.operator, data)
            self.counts["declarations"] += 1
        risk.score_backlog(self.platform, self.operator, seed=self.seed + self._serial)
        return dict(self.counts)

    def run_forever(self, every: float = 5.0) -> threading.Thread:
        def loop() -> None:
            while not self._stop.wait(every):
                try:
                    self.tick()
                except OpenCustomsError:  # one bad tick does not end the demo; the next one carries on
                    continue

        thread = threading.Thread(target=loop, name="opencustoms-live-demo", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self._stop.set()
