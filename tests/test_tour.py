"""The self-study notebook ``notebooks/tour.ipynb`` runs, headless, with its knobs turned down.

The tour is executed with nbclient in a real kernel (no browser): its ``parameters`` cell is
replaced by a tiny ``LIMIT`` / ``EPOCHS`` so that each rung trains for seconds, and a few cells
the test appends check what the tour's own cells left behind.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

TOUR = Path(__file__).resolve().parents[1] / "notebooks" / "tour.ipynb"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def read_tour() -> nbformat.NotebookNode:
    return nbformat.read(TOUR, as_version=4)


def with_knobs(nb: nbformat.NotebookNode, limit: int, epochs: int) -> None:
    """Replace the cell tagged ``parameters`` by small values of its two knobs."""
    knobs = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(knobs) == 1, "the tour needs exactly one cell tagged 'parameters'"
    assert re.search(r"^LIMIT = ", knobs[0].source, re.M), "the knob cell sets LIMIT"
    assert re.search(r"^EPOCHS = ", knobs[0].source, re.M), "the knob cell sets EPOCHS"
    knobs[0].source = f"LIMIT = {limit}\nEPOCHS = {epochs}"


def up_to_step(nb: nbformat.NotebookNode, step: int) -> None:
    """Keep the cells before the heading ``## <step>.``."""
    heading = re.compile(rf"^## {step}\.", re.M)
    cut = next(
        i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and heading.search(c.source)
    )
    del nb.cells[cut:]


def execute(nb: nbformat.NotebookNode, path: Path, timeout: int) -> nbformat.NotebookNode:
    from nbclient import NotebookClient

    client = NotebookClient(
        nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path)}}
    )
    client.execute()
    return nb


def text_of(cell) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.output_type == "stream")


def report_lines(nb: nbformat.NotebookNode) -> list[str]:
    """What each rung's ``report(result, ...)`` cell printed."""
    code = [c for c in nb.cells if c.cell_type == "code"]
    return [text_of(c) for c in code if 'report(result, "' in c.source]


def widget_outputs(nb: nbformat.NotebookNode) -> int:
    return sum(
        WIDGET_VIEW in o.get("data", {})
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
    )


def test_tour_is_committed_without_outputs():
    nb = read_tour()
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, "the tour has code cells"
    assert all(not c.outputs and c.execution_count is None for c in code)


def test_tour_climbs_the_whole_ladder():
    """One rung per preset of the codelab's ladder, each built, trained and inspected."""
    from mnist_widgets.models import PRESETS

    source = "\n".join(c.source for c in read_tour().cells if c.cell_type == "code")
    built = re.findall(r'LayerBuilder\(preset="([\w-]+)"\)', source)
    reported = re.findall(r'report\(result, "([\w-]+)"\)', source)
    assert built == reported == list(PRESETS)
    assert source.count("dashboard.train_in_background(trainer)") == len(PRESETS)
    assert source.count("PredictionGallery(trainer.model, data)") == len(PRESETS)
    # every rung saves its run, and the tour ends on the board of them
    assert source.count("runs=RUNS") == len(PRESETS)
    last_code = [c.source for c in read_tour().cells if c.cell_type == "code"][-1]
    assert last_code == "board = RunBoard(RUNS)\nboard"


@pytest.mark.slow
def test_tour_first_steps_run(tmp_path):
    """Settings, data, step 1 (softmax) and step 2 (dense): built, trained, shown."""
    nb = read_tour()
    with_knobs(nb, limit=2000, epochs=2)
    up_to_step(nb, 3)
    nb.cells.append(
        nbformat.v4.new_code_cell(
            "print('CHECK', dashboard.state, result.epochs_run, result.stop_reason,\n"
            "      builder.preset, trainer.model.count_params() == builder.total_params)"
        )
    )
    execute(nb, tmp_path, timeout=300)

    reports = report_lines(nb)
    assert len(reports) == 2
    for line in reports:
        match = re.search(r"finished after 2 epochs .* test accuracy (\d+\.\d+)%", line)
        assert match, line
        assert 20 < float(match[1]) <= 100  # 32 batches of SGD: well above chance (10%)
    # per step: the builder, the dashboard and the gallery
    assert widget_outputs(nb) == 3 * 2
    state, epochs_run, reason, preset, same_params = text_of(nb.cells[-1]).split()[1:]
    assert (state, epochs_run, reason, preset, same_params) == (
        "finished",
        "2",
        "None",
        "dense",
        "True",
    )


@pytest.mark.slow
def test_whole_tour_runs(tmp_path):
    """Every rung, one short epoch each: the notebook runs from top to bottom."""
    nb = read_tour()
    with_knobs(nb, limit=1000, epochs=1)
    nb.cells.append(
        nbformat.v4.new_code_cell(
            "print('BOARD', *[run.manifest.preset for run in board.runs], *board.problems)"
        )
    )
    execute(nb, tmp_path, timeout=600)
    reports = report_lines(nb)
    assert len(reports) == 7 and all("test accuracy" in r for r in reports), reports
    assert widget_outputs(nb) == 3 * 7 + 1  # builder, dashboard, gallery per rung; the board
    from mnist_widgets.models import PRESETS

    # the board's rows: the seven rungs, saved in the notebook's runs folder, in order
    assert text_of(nb.cells[-1]).split() == ["BOARD", *PRESETS]
