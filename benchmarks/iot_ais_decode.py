"""AIS decoding rate (target ≥ 100,000 messages/s): pyais alone (``decode(line).asdict()``), and the full adapter
(pyais + conversion to a validated ``DeviceEvent`` with the event id, the position in degrees and km/h: the records
ingestion stores and the vessel tracks are built from), on the shared sample replayed to 100,000+ sentences, in one
process. The two are measured in alternating rounds (best of ``ROUNDS`` each), so a change of machine load during
the run touches both; the ratio adapter / pyais is the figure to compare between runs."""

from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path

from _common import ROOT, write
from opencustoms.iot import adapters

SAMPLE = ROOT.parent / "shared" / "data" / "ais" / "nmea_data_sample.txt"
ROUNDS = 5


def pyais_alone(corpus: list[str]) -> tuple[float, int]:
    from pyais import decode

    began = time.perf_counter()
    ok = 0
    for line in corpus:
        try:
            decode(line).asdict()
            ok += 1
        except Exception:  # noqa: BLE001 - some sample lines are deliberately broken
            pass
    return time.perf_counter() - began, ok


def adapter(text: str, now: dt.datetime) -> tuple[float, int]:
    began = time.perf_counter()
    results = adapters.decode_nmea_ais(text, now, "RX")
    seconds = time.perf_counter() - began
    return seconds, sum(1 for r in results if not isinstance(r, adapters.Rejection))


def main() -> None:
    lines = [line for line in Path(SAMPLE).read_text().splitlines() if line.startswith("!AIVDM,1,1")]
    lines = [line for line in lines if line.split(",")[5]]  # single-sentence messages with a payload
    repeat = 100_000 // len(lines) + 1
    corpus = lines * repeat
    text = "\n".join(corpus)
    now = dt.datetime.now(dt.UTC)
    pyais_s, adapter_s = [], []
    ok = events = 0
    for _ in range(ROUNDS):
        seconds, ok = pyais_alone(corpus)
        pyais_s.append(seconds)
        seconds, events = adapter(text, now)
        adapter_s.append(seconds)
    n = len(corpus)
    best_pyais, best_adapter = n / min(pyais_s), n / min(adapter_s)
    rows = [
        ("messages", f"{n:,}"),
        ("pyais decode + asdict", f"{best_pyais:,.0f} msg/s (best of {ROUNDS})"),
        ("adapter (pyais → DeviceEvent)", f"{best_adapter:,.0f} msg/s ({events:,} events, best of {ROUNDS})"),
        ("ratio adapter / pyais", f"{best_adapter / best_pyais:.2f}"),
        ("load average (1 min)", f"{os.getloadavg()[0]:.1f}"),
        ("target", "≥ 100,000 msg/s"),
    ]
    for name, value in rows:
        print(f"{name:<32} {value}")
    write(
        "iot_ais_decode",
        {
            "messages": n,
            "rounds": ROUNDS,
            "pyais_msgs_per_s": best_pyais,
            "adapter_msgs_per_s": best_adapter,
            "ratio": best_adapter / best_pyais,
            "pyais_rounds_s": pyais_s,
            "adapter_rounds_s": adapter_s,
            "events": events,
            "decoded_ok": ok,
            "target_msgs_per_s": 100_000,
        },
    )


if __name__ == "__main__":
    main()
