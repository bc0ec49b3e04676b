"""The run board in a real JupyterLab: a runs folder made beforehand by the test (tiny runs,
trained in the test process, not in the browser's kernel); ticking rows draws their curves
with a legend and the diff of their code; the bin deletes a run and its folder."""

from __future__ import annotations

import re

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

BOARD = """\
from mnist_widgets import RunBoard

board = RunBoard("runboard-runs")
board"""
STATE = "print('STATE', len(board.runs), *board.selected)"


@pytest.fixture(scope="module")
def runs_folder(lab, mnist):
    """Four short runs in a folder of their own in the lab's root (the tour's rungs, run by
    other browser tests, save theirs in ``runs``): three presets and a custom dense model."""
    from tiny_runs import narrower_dense, train_run

    (x_train, y_train), (x_test, y_test) = mnist
    data = (x_train[:2048], y_train[:2048]), (x_test[:1000], y_test[:1000])
    folder = lab.root / "runboard-runs"
    for preset in ("softmax", "dense", "dense-lr-decay"):
        train_run(folder, data, preset=preset, epochs=3)
    train_run(folder, data, layers=narrower_dense(), epochs=3)
    return folder


def run_rows(view):
    return view.locator(".mnist-runboard-row:not(.mnist-runboard-header)")


def test_ticking_rows_overlays_curves_and_diffs_code(notebook, runs_folder):
    from mnist_widgets.runs import list_runs

    names = list_runs(runs_folder).names()  # oldest first, as the board shows them
    nb = notebook("runboard", [BOARD, STATE])
    nb.run_cell(0, timeout=120)
    view = nb.wait_for_widgets(0)
    rows = run_rows(view)
    nb.wait_until(lambda: rows.count() == 4, 30, "four rows")
    assert "4 runs" in view.locator(".mnist-runboard-heading").inner_text()
    texts = [re.sub(r"\s+", " ", rows.nth(i).inner_text()) for i in range(4)]
    for text, preset in zip(texts, ["softmax", "dense", "dense-lr-decay", "custom"], strict=True):
        assert f" {preset} " in f" {text} ", text

    for index in (1, 2, 3):  # dense, dense-lr-decay, then the custom dense
        rows.nth(index).locator(".mnist-runboard-tick input").click()
    charts = view.locator(".mnist-runboard-chart")
    legend = charts.first.locator("text.legendtext")
    labels = ["dense", "dense-lr-decay", "custom"]
    nb.wait_until(lambda: legend.all_text_contents() == labels, 30, "three runs' legend")
    # each run: a line per batch and a line with dots per epoch, in both charts
    for chart in (charts.nth(0), charts.nth(1)):
        drawn = chart.locator("path.line").evaluate_all(
            "paths => paths.filter(p => !p.closest('g[class*=legend]')"
            " && (p.getAttribute('d') || '').length > 20).length"
        )
        assert drawn == 6, drawn
    diff = view.locator(".mnist-runboard-diff")
    nb.wait_until(lambda: diff.locator(".mnist-runboard-added").count() > 0, 30, "the diff")
    removed = diff.locator(".mnist-runboard-removed").all_inner_texts()
    added = diff.locator(".mnist-runboard-added").all_inner_texts()
    assert any("Dense(60" in line for line in removed), removed
    assert any("Dense(30" in line for line in added), added
    nb.run_cell(1)
    nb.wait_until(lambda: "STATE" in nb.output_text(1), 30, "the board's state")
    assert nb.output_text(1).split("STATE", 1)[1].split() == ["4", *names[1:]]
    nb.screenshot(view, "runboard")

    rows.nth(0).locator(".mnist-runboard-delete").click()  # the softmax run
    nb.wait_until(lambda: rows.count() == 3, 30, "the deleted run's row to go")
    assert not (runs_folder / names[0]).exists()
    assert sorted(p.name for p in runs_folder.iterdir()) == sorted(names[1:])
    nb.assert_no_errors()
