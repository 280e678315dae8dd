"""AIS decoding rate (target ≥ 100,000 messages/s): pyais alone, and the full adapter (pyais + conversion to
DeviceEvent with validation), on the shared sample replayed to 100,000+ sentences."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

from _common import ROOT, write
from opencustoms.iot import adapters

SAMPLE = ROOT.parent / "shared" / "data" / "ais" / "nmea_data_sample.txt"


def main() -> None:
    lines = [line for line in Path(SAMPLE).read_text().splitlines() if line.startswith("!AIVDM,1,1")]
    lines = [line for line in lines if line.split(",")[5]]  # single-sentence messages with a payload
    repeat = 100_000 // len(lines) + 1
    corpus = lines * repeat
    from pyais import decode

    began = time.perf_counter()
    ok = 0
    for line in corpus:
        try:
            decode(line).asdict()
            ok += 1
        except Exception:  # noqa: BLE001 - some sample lines are deliberately broken
            pass
    pyais_s = time.perf_counter() - began
    now = dt.datetime.now(dt.UTC)
    text = "\n".join(corpus)
    began = time.perf_counter()
    results = adapters.decode_nmea_ais(text, now, "RX")
    adapter_s = time.perf_counter() - began
    events = sum(1 for r in results if not isinstance(r, adapters.Rejection))
    rows = [
        ("messages", f"{len(corpus):,}"),
        ("pyais decode + asdict", f"{len(corpus) / pyais_s:,.0f} msg/s"),
        ("adapter (pyais → DeviceEvent)", f"{len(corpus) / adapter_s:,.0f} msg/s ({events:,} events)"),
        ("target", "≥ 100,000 msg/s"),
    ]
    for name, value in rows:
        print(f"{name:<32} {value}")
    write(
        "iot_ais_decode",
        {
            "messages": len(corpus),
            "pyais_msgs_per_s": len(corpus) / pyais_s,
            "adapter_msgs_per_s": len(corpus) / adapter_s,
            "events": events,
            "decoded_ok": ok,
            "target_msgs_per_s": 100_000,
        },
    )


if __name__ == "__main__":
    main()
