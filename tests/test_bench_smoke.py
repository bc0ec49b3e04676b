"""Every bench script still runs: each at tiny sizes (``--quick``), in its own process.

The figures they print at this size mean nothing; the full runs are in bench/README.md.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "bench"


def run_bench(script: str, *args: str) -> str:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run(
        [sys.executable, str(BENCH / script), "--quick", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, f"{script} failed:\n{done.stdout}\n{done.stderr[-3000:]}"
    return done.stdout


def test_data_load_reads_the_same_arrays_as_the_floor():
    out = run_bench("data_load.py")
    assert "same arrays: True" in out
    assert "load_data / floor:" in out and "nproc" in out


def test_time_to_accuracy_runs_both_contestants():
    out = run_bench("time_to_accuracy.py")
    assert "| fast | 1 |" in out and "| reference | 1 |" in out
    assert "fast median to 99.0%" in out and "fast median to 99.5%" in out


def test_engine_vs_fit_times_all_three_variants():
    out = run_bench("engine_vs_fit.py")
    for variant in ("| fit |", "| engine float32 |", "| engine+dashboard float32 |"):
        assert variant in out
    assert "the dashboard's cost over the engine alone" in out


@pytest.mark.skipif(
    not (REPO / "assignments" / "source").is_dir(), reason="the course has not landed"
)
def test_autograde_grades_a_blank_submission_zero():
    out = run_bench("autograde.py")
    assert "score 0/" in out
