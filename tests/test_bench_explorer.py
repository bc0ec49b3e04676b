"""The explorer's bench scripts still run (tiny sizes; the figures are in bench/README.md)."""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path

import nbformat
import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
pytestmark = pytest.mark.slow


def bench_module(name: str):
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
    return importlib.import_module(name)


def test_explorer_latency_times_strokes_in_a_real_kernel(capsys):
    assert bench_module("explorer_latency").main(["--quick"]) == 0
    out = capsys.readouterr().out
    found = re.search(r"median ([\d.]+) ms, p95 ([\d.]+) ms", out)
    assert found and 0 < float(found[1]) <= float(found[2])
    assert "no widget message" not in out


def test_notebook_memory_reports_a_peak_per_notebook(tmp_path, capsys):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nb.cells = [
        nbformat.v4.new_code_cell("SIZE = 1\nimport numpy as np"),
        nbformat.v4.new_code_cell("block = np.ones((SIZE, 2**20), dtype=np.uint8)  # MiB"),
    ]
    path = tmp_path / "ones.ipynb"
    nbformat.write(nb, path)
    memory = bench_module("notebook_memory")
    assert memory.main([str(path), "--set", "SIZE=400"]) == 0
    out = capsys.readouterr().out
    peak = float(re.search(r"ones\.ipynb\s+([\d.]+) GiB", out)[1])
    assert peak >= 400 / 1024  # the 400 MiB block was seen
    assert "settings: {'SIZE': '400'}" in out
