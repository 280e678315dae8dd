"""A device-message file reports its chunks as they are stored (opencustoms.progress)."""

from __future__ import annotations

import datetime as dt

from opencustoms.iot import adapters, service
from opencustoms.security.service import local_operator
from progress_recorder import Recorder


def test_ingesting_a_file_reports_each_chunk(engine, tmp_path) -> None:  # type: ignore[no-untyped-def]
    operator = local_operator("NL")
    service.register_device(engine, operator, "ES-PROGRESS", "e_seal")
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    lines = [
        adapters.encode_eseal_text(
            "ES-PROGRESS", i, now - dt.timedelta(seconds=50 - i), "POS", latitude=51.9 + i * 1e-4, longitude=4.2
        )
        for i in range(45)
    ]
    path = tmp_path / "seals.txt"
    path.write_text("\n".join(lines) + "\n")
    progress = Recorder()
    report = service.ingest_file(engine, operator, path, chunk_lines=10, progress=progress)
    assert report.summary()["accepted"] == 45
    assert progress.phases == [("ingesting seals.txt (chunks of 10 lines)", 5)]
    assert progress.done == [5]
