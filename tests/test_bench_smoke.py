"""Every bench script still runs: each at tiny sizes (``--quick``), in this process.

The figures they print at this size mean nothing; the full runs are in bench/README.md.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "bench"


def run_bench(script: str, capsys) -> str:
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
    module = importlib.import_module(script)
    code = module.main(["--quick"])
    out = capsys.readouterr().out
    assert code == 0, f"{script} failed:\n{out}"
    return out


def test_data_load_reads_the_same_arrays_as_the_floor(capsys):
    out = run_bench("data_load", capsys)
    assert "same arrays: True" in out
    assert "load_data / floor:" in out and "nproc" in out


def test_time_to_accuracy_runs_both_contestants(capsys):
    out = run_bench("time_to_accuracy", capsys)
    assert "| fast | 1 |" in out and "| reference | 1 |" in out
    assert "fast median to 99.0%" in out and "fast median to 99.5%" in out


def test_engine_vs_fit_times_every_variant(capsys):
    out = run_bench("engine_vs_fit", capsys)
    for variant in ("| fit |", "| engine float32 |", "| engine+dashboard float32 |"):
        assert variant in out
    assert "| engine+dashboard mixed_bfloat16 |" in out
    assert "the dashboard's cost over the engine alone" in out


@pytest.mark.skipif(
    not (REPO / "assignments" / "source").is_dir(), reason="the course has not landed"
)
def test_autograde_grades_a_blank_submission_zero(capsys):
    out = run_bench("autograde", capsys)
    assert "score 0/" in out


def test_records_name_the_pauses_inside_a_run():
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
    from _common import Point, Record

    steady = Record("reference", 1)
    seconds = 0.0
    for i in range(1, 10):
        seconds += 3.3 if i != 7 else 22.2
        steady.points.append(Point(seconds, i * 10000, 0.99))
    (before, after, extra), *others = steady.pauses()
    assert not others and (before.images, after.images) == (60000, 70000)
    assert extra == pytest.approx(22.2 - 3.3)
    steady.points[6] = Point(steady.points[5].seconds + 3.4, 70000, 0.99)
    # the interval is normal now; the pause lands on the next one, which still ends late
    assert [(a.images, b.images) for a, b, _ in steady.pauses()] == [(70000, 80000)]
    assert Record("fast", 1, steady.points[:3]).pauses() == []  # too few to judge
