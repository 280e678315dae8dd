"""A node killed (SIGKILL) in the middle of appending loses no acknowledged entry, and its log still verifies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ledger_testnodes import OFFICER, make_node
from sqlalchemy import select

from opencustoms.ledger import service
from opencustoms.ledger.keys import KeyStore
from opencustoms.ledger.tables import ledger_entries
from opencustoms.store.database import open_database
from processes import budget, running

# The node: four threads append one certificate at a time each (group commit batches them) and print a line per
# acknowledged entry — only after append_signed has returned, that is after the commit.
NODE = """
import sys, threading
from opencustoms.ledger import service
from opencustoms.ledger.keys import KeyStore
from opencustoms.store.database import open_database
sys.path.insert(0, sys.argv[3])
from ledger_testnodes import certificate
engine = open_database(sys.argv[1])
keys = KeyStore.for_data_dir(sys.argv[2])
officer = service.local_officer("NL", "officer1")
lock = threading.Lock()
def loop(t):
    for i in range(100_000):
        number = f"NLAEOK{t}{i:05d}"
        receipt = service.issue(engine, officer, keys, certificate(number, holder=f"NL{t}{i:06d}"))
        with lock:
            print(receipt["index"], number, flush=True)
threads = [threading.Thread(target=loop, args=(t,)) for t in range(4)]
for th in threads: th.start()
for th in threads: th.join()
"""


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_sigkill_mid_append_loses_no_acknowledged_entry(tmp_path: Path) -> None:
    node = make_node(tmp_path, "NL")
    node.engine.dispose()
    acknowledged: dict[str, int] = {}
    with running() as processes:  # stopped even if reading its output fails
        process = processes.start(
            [sys.executable, "-c", NODE, node.url, str(node.data_dir), str(Path(__file__).parent)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "OPENCUSTOMS_LEDGER_VERIFY_WORKERS": "0"},
        )
        assert process.stdout is not None
        deadline = time.monotonic() + budget(60)
        try:
            while len(acknowledged) < 60 and time.monotonic() < deadline:
                line = process.stdout.readline()
                if not line:
                    break
                index, number = line.split()
                acknowledged[number] = int(index)
        finally:
            process.send_signal(signal.SIGKILL)  # mid-append: the other threads are inside append_signed
            _, stderr = process.communicate(timeout=budget(30))
    assert len(acknowledged) >= 60, f"the node acknowledged only {len(acknowledged)} entries: {stderr[-2000:]}"
    assert process.returncode == -signal.SIGKILL

    open_database.cache_clear()
    engine = open_database(node.url)  # "restart": a fresh engine on the same files
    with engine.connect() as conn:
        stored = dict(
            conn.execute(
                select(ledger_entries.c.certificate_number, ledger_entries.c.idx).where(
                    ledger_entries.c.certificate_number.in_(acknowledged)
                )
            ).all()
        )
    assert stored == acknowledged  # every acknowledged entry, at the index its receipt gave
    operator = node.operator
    report = service.verify_log(engine, operator)  # signatures, keys, leaves rebuild the signed checkpoint
    assert report["size"] == report["checkpoint_size"] >= len(acknowledged) + 1
    # and the node goes on appending where it stopped
    from ledger_testnodes import certificate

    keys = KeyStore.for_data_dir(node.data_dir)
    receipt = service.issue(engine, service.local_officer("NL", OFFICER), keys, certificate("NLAEOK9AFTER"))
    assert receipt["index"] == report["size"]
    assert service.verify_log(engine, operator)["size"] == report["size"] + 1
    engine.dispose()
    open_database.cache_clear()
