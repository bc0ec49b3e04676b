"""The run board headless: rows from a runs folder, curves overlaid in place, the code diff,
deleting and refreshing, driven through its traits and child widgets as a front end would."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest
from tiny_runs import two_runs

from mnist_widgets.errors import RunError
from mnist_widgets.runs import list_runs


@pytest.fixture(scope="module")
def runs_folder(tmp_path_factory, mnist):
    """Two tiny saved runs: the dense preset and a custom one with 30 units instead of 60."""
    folder = tmp_path_factory.mktemp("runs")
    two_runs(folder, mnist)
    return folder


@pytest.fixture
def board(runs_folder, tmp_path):
    """A board on a copy of the runs folder (tests may delete from it)."""
    from mnist_widgets import RunBoard

    folder = tmp_path / "runs"
    shutil.copytree(runs_folder, folder)
    board = RunBoard(folder)
    yield board
    board.close()


def row_texts(board) -> list[list[str]]:
    return [
        [re.sub(r"<[^>]+>", "", c.value) for c in row.children[2:-1]]
        for row in board.table.children[1:]
    ]


def test_two_saved_runs_give_two_rows(board):
    assert len(board.runs) == 2 and board.problems == []
    dense, custom = board.runs
    assert [row.name for row in board.table.children[1:]] == [dense.name, custom.name]
    first, second = row_texts(board)
    assert first[:3] == ["dense", "169,670", "2"] and second[:3] == ["custom", "163,340", "2"]
    assert first[-1] == f"{dense.manifest.test_accuracy:.2%}"
    assert first[3].endswith(" s") and first[4].replace(",", "").isdigit()
    assert "2 runs" in board.heading.value


def test_selecting_both_overlays_their_curves(board):
    dense, custom = board.runs
    figures = list(board.overlay.figures.values())
    board.selected = [dense.name, custom.name]
    marks_before = [list(f.marks) for f in figures]
    for metric in ("loss", "accuracy"):
        batch = board.overlay.curves(metric, "batch")
        epoch = board.overlay.curves(metric, "epoch")
        assert len(batch) == len(epoch) == 2
        for run, (bx, by), (ex, ey) in zip(board.runs, batch, epoch, strict=True):
            curves = run.read_curves()
            np.testing.assert_allclose(bx, curves.batches["x"])
            np.testing.assert_allclose(by, curves.batches[metric])
            np.testing.assert_allclose(ex, [1.0, 2.0])
            np.testing.assert_allclose(ey, curves.epochs[f"val_{metric}"])
    legend = [m.labels for m in figures[0].marks if m.display_legend]
    assert legend == [["dense"], ["custom"]]
    colors = {tuple(m.colors) for m in figures[0].marks[:2]}
    assert len(colors) == 1 and colors != {tuple(m.colors) for m in figures[0].marks[2:]}
    # ticking the rows is the same selection; unticking one empties its slot in place
    rows = board.table.children[1:]
    assert [row.tick.value for row in rows] == [True, True]
    rows[0].tick.value = False
    assert board.selected == [custom.name]
    assert [list(f.marks) for f in figures] == marks_before  # the same mark objects
    (only,) = board.overlay.curves("loss")
    np.testing.assert_allclose(only[1], custom.read_curves().batches["loss"])
    assert figures[0].marks[3].labels == [""] and len(figures[0].marks[3].x) == 0
    rows[0].tick.value = True
    assert board.selected == [custom.name, dense.name]
    with pytest.raises(RunError, match="no run 'nope'"):
        board.selected = ["nope"]


def test_the_code_diff_shows_the_differing_layer_line(board):
    dense, custom = board.runs
    assert "Tick two runs" in board.diff_view.value
    board.selected = [dense.name, custom.name]
    assert board.compared == (dense.name, custom.name)
    diff = board.diff_view.value
    removed = re.findall(r"<div class='mnist-runboard-removed'>([^<]*)</div>", diff)
    added = re.findall(r"<div class='mnist-runboard-added'>([^<]*)</div>", diff)
    assert removed == ["-    tf.keras.layers.Dense(60, activation=&#x27;relu&#x27;),"]
    assert added == ["+    tf.keras.layers.Dense(30, activation=&#x27;relu&#x27;),"]
    assert "tf.keras.layers.Dense(200, activation=&#x27;relu&#x27;)" in diff  # context kept
    # the two lists choose the pair too
    board.diff_choices[0].value, board.diff_choices[1].value = custom.name, dense.name
    assert board.compared == (custom.name, dense.name)
    assert re.search(
        r"mnist-runboard-added'>\+ +tf\.keras\.layers\.Dense\(60", board.diff_view.value
    )
    board.diff_choices[1].value = custom.name
    assert "have the same code" in board.diff_view.value or "Tick two" in board.diff_view.value


def test_delete_removes_the_row_and_the_folder(board):
    dense, custom = board.runs
    board.selected = [dense.name, custom.name]
    rows = board.table.children[1:]
    rows[0].delete_button.click()
    assert not dense.path.exists()
    assert rows[0].comm is None and rows[0].tick.comm is None  # its widgets are closed
    assert [run.name for run in board.runs] == [custom.name]
    assert [row.name for row in board.table.children[1:]] == [custom.name]
    assert board.selected == [custom.name]
    assert len(board.overlay.curves("loss")) == 1
    assert board.compared[0] == ""
    assert list_runs(board.folder).names() == [custom.name]
    # the run left keeps its colour, in its row and in the charts
    row = board.table.children[1]
    assert "mnist-runboard-color-1" in row.swatch._dom_classes
    assert board.overlay.slots[0].batch["loss"].colors == ["#ff7f0e"]


def test_refresh_and_a_new_board_read_the_folder_again(board, runs_folder, tmp_path):
    from mnist_widgets import RunBoard

    dense, custom = board.runs
    shutil.copytree(dense.path, tmp_path / "runs" / "copy-of-dense")
    (tmp_path / "runs" / "broken").mkdir()
    (tmp_path / "runs" / "broken" / "run.json").write_text("[]")
    assert len(board.runs) == 2
    board.refresh_button.click()
    assert [run.name for run in board.runs] == [dense.name, "copy-of-dense", custom.name]
    board.selected = [dense.name, "copy-of-dense"]  # two runs of one preset: their times tell
    time = dense.manifest.created[11:19]
    assert board.overlay.shown == [f"dense {time}", f"dense {time}"]
    assert board.problems == ['broken: not a run manifest (no "format": "mnist-widgets run")']
    assert "skipped broken: not a run manifest" in board.problem_note.value
    again = RunBoard(tmp_path / "runs")  # as after a kernel restart
    assert [run.name for run in again.runs] == [run.name for run in board.runs]
    again.folder = str(tmp_path / "elsewhere")  # another folder: read at once
    assert again.runs == [] and "No runs in" in again.heading.value
    again.close()


def test_an_empty_folder_says_how_to_fill_it(tmp_path):
    from mnist_widgets import RunBoard

    board = RunBoard(tmp_path / "none-yet")
    assert board.runs == [] and board.problems == []
    assert "No runs in" in board.heading.value and "runs=" in board.heading.value
    board.close()
