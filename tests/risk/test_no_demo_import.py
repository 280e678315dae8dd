"""The risk engine never imports the demo package: demo frames are built by their callers
(:mod:`opencustoms.demo.frames`, used by the CLI, the benchmarks and the tests) and passed in."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import opencustoms.risk


def test_no_risk_module_imports_the_demo_package() -> None:
    modules = sorted(f"opencustoms.risk.{m.name}" for m in pkgutil.iter_modules(opencustoms.risk.__path__))
    assert "opencustoms.risk.service" in modules and "opencustoms.risk.frame" in modules and len(modules) >= 15
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print(sorted(m for m in sys.modules if m == 'opencustoms.demo' or m.startswith('opencustoms.demo.')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_check_sees_a_demo_import() -> None:
    """The subprocess check above can fail: the demo's frames module imports the generator."""
    code = "import sys, opencustoms.demo.frames; print('opencustoms.demo.generator' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"
