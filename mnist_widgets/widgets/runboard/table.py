"""The run table: one row per saved run, with a tick box to select it and a delete button."""

from __future__ import annotations

import html

import ipywidgets as widgets

from ...runs import SavedRun

COLUMNS = ("run", "preset", "parameters", "epochs", "time", "images/s", "test accuracy", "")


def duration(seconds: float) -> str:
    """``0.8 s``, ``42 s``, ``3 min 05 s``, ``1 h 02 min``."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def row_cells(run: SavedRun) -> list[str]:
    """The texts of a run's row after its name, in ``COLUMNS`` order."""
    m = run.manifest
    epochs = str(m.epochs_run) if m.epochs_run == m.epochs else f"{m.epochs_run} of {m.epochs}"
    if m.stopped_early:
        epochs += " (NaN)" if m.status == "nan" else " (stopped)"
    speed = f"{m.images_per_second:,.0f}" if m.images_per_second else "-"
    accuracy = f"{m.test_accuracy:.2%}" if m.test_accuracy is not None else "-"
    return [m.preset, f"{m.parameters:,}", epochs, duration(m.seconds), speed, accuracy]


def _cell(text: str, column: int) -> widgets.HTML:
    cell = widgets.HTML(html.escape(text))
    cell.add_class("mnist-runboard-cell")
    cell.add_class(f"mnist-runboard-col-{column}")
    return cell


class RunRow(widgets.HBox):
    """One run: a tick box (its name), its figures and a delete button."""

    def __init__(self, run: SavedRun, color_class: str) -> None:
        self.run = run
        self.tick = widgets.Checkbox(value=False, description=run.name, indent=False)
        self.tick.add_class("mnist-runboard-tick")
        self.swatch = widgets.HTML("")
        self.swatch.add_class("mnist-runboard-swatch")
        self.swatch.add_class(color_class)
        self.delete_button = widgets.Button(icon="trash", tooltip=f"delete {run.name}")
        self.delete_button.add_class("mnist-runboard-delete")
        cells = [_cell(text, i + 1) for i, text in enumerate(row_cells(run))]
        super().__init__([self.swatch, self.tick, *cells, self.delete_button])
        self.add_class("mnist-runboard-row")

    @property
    def name(self) -> str:
        return self.run.name

    def close(self) -> None:
        """Close the row and the widgets in it (a deleted run leaves no widgets behind)."""
        for child in self.children:
            child.close()
        super().close()


def header_row() -> widgets.HBox:
    cells = [_cell(title, i) for i, title in enumerate(COLUMNS)]
    spacer = widgets.HTML("")
    spacer.add_class("mnist-runboard-swatch")
    row = widgets.HBox([spacer, *cells])
    row.add_class("mnist-runboard-row")
    row.add_class("mnist-runboard-header")
    return row
