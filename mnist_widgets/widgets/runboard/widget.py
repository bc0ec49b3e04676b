"""The ``RunBoard`` widget: the runs saved in a folder, side by side."""

from __future__ import annotations

import html
from pathlib import Path

import ipywidgets as widgets
import traitlets as t

from ...errors import RunError
from ...runs import RunCurves, SavedRun, delete_run, list_runs
from ..styles import with_stylesheet
from .diff import code_diff_html
from .overlay import PALETTE, CurveOverlay
from .table import RunRow, header_row

NO_RUN = ("-", "")
CHART_NOTE = (
    "Thin lines: the loss and accuracy of each batch. Lines with dots: each epoch's, on the "
    "test digits. The x axis counts epochs."
)


def legend_labels(runs: list[SavedRun]) -> list[str]:
    """Short names for the charts' legend: each run's preset, with the time (UTC) it was
    saved where two runs shown share a preset."""
    presets = [run.manifest.preset for run in runs]
    return [
        f"{preset} {run.manifest.created[11:19]}" if presets.count(preset) > 1 else preset
        for preset, run in zip(presets, runs, strict=True)
    ]


class RunBoard(widgets.VBox):
    """The runs saved in ``folder``: a table, their curves overlaid, the diff of their code.

    Each row is one run (``board.runs``, oldest first): its preset or "custom", parameters,
    epochs, wall time, images per second and test accuracy. Tick rows (or set
    ``selected``) to draw their curves on the same axes; ``compared`` names the two runs
    whose generated Keras code is shown as a diff (the last two ticked, or chosen in the
    two lists). The bin on a row deletes that run's folder. ``refresh()`` reads the folder
    again; the board holds no training logic, so a restarted notebook shows the same runs.

    Traits: ``folder``, ``selected`` (run names, in the order ticked), ``compared`` (two
    names, or empty strings), and read-only ``runs`` (``SavedRun`` objects) and
    ``problems`` (one line per folder that is not a readable run).

    Example:
        trainer = Trainer(builder.model, builder.recipe, data=data, runs="runs")
        board = RunBoard("runs")
        board.selected = [run.name for run in board.runs[-2:]]
    """

    folder = t.Unicode("runs", help="the runs folder shown")
    runs = t.List(t.Instance(SavedRun), read_only=True, help="the readable runs, oldest first")
    problems = t.List(t.Unicode(), read_only=True, help="folders skipped, one line each")
    selected = t.List(t.Unicode(), help="names of the runs whose curves are drawn")
    compared = t.Tuple(t.Unicode(), t.Unicode(), default_value=("", ""))

    def __init__(self, folder: str | Path = "runs", **kwargs) -> None:
        super().__init__(**kwargs)
        self._rows: dict[str, RunRow] = {}
        self._curves: dict[str, RunCurves] = {}
        self._colors: dict[str, int] = {}  # each run keeps its colour while the board lives
        self.heading = widgets.HTML()
        self.heading.add_class("mnist-runboard-heading")
        self.refresh_button = widgets.Button(description="Refresh", icon="refresh")
        self.refresh_button.on_click(lambda _: self.refresh())
        top = widgets.HBox([self.heading, self.refresh_button])
        top.add_class("mnist-runboard-top")
        self.table = widgets.VBox([header_row()])
        self.table.add_class("mnist-runboard-table")
        self.problem_note = widgets.HTML()
        self.problem_note.add_class("mnist-runboard-problems")
        self.overlay = CurveOverlay()
        self.chart_note = widgets.HTML(f"<span class='mnist-muted'>{CHART_NOTE}</span>")
        self.diff_choices = [
            widgets.Dropdown(options=[NO_RUN], value="", description=label)
            for label in ("code of", "against")
        ]
        for choice in self.diff_choices:
            choice.add_class("mnist-runboard-choice")
        widgets.link((self.diff_choices[0], "value"), (self, "_diff_old"))
        widgets.link((self.diff_choices[1], "value"), (self, "_diff_new"))
        self.diff_view = widgets.HTML()
        self.diff_view.add_class("mnist-runboard-diff")
        diff_box = widgets.VBox([widgets.HBox(self.diff_choices), self.diff_view])
        diff_box.add_class("mnist-runboard-diff-box")
        self.children = with_stylesheet(
            [top, self.table, self.problem_note, self.chart_note, self.overlay, diff_box]
        )
        self.add_class("mnist-widget")
        self.add_class("mnist-runboard")
        self.observe(self._selection_changed, names="selected")
        self.observe(self._on_compared, names="compared")
        self.folder = str(folder)
        self.refresh()
        self.observe(lambda _: self.refresh(), names="folder")

    # the two lists' values, kept in ``compared``
    _diff_old = t.Unicode("")
    _diff_new = t.Unicode("")

    @t.observe("_diff_old", "_diff_new")
    def _choices_changed(self, change) -> None:
        self.compared = (self._diff_old, self._diff_new)

    # -- public ---------------------------------------------------------------------------
    def refresh(self) -> None:
        """Read the folder again: new runs get a row, deleted ones lose theirs."""
        try:
            listing = list_runs(self.folder)
            runs, problems = listing.runs, [str(p) for p in listing.problems]
        except RunError as exc:
            runs, problems = [], [str(exc)]
        names = [run.name for run in runs]
        for name in set(self._rows) - set(names):
            self._rows.pop(name).close()
            self._curves.pop(name, None)
        for run in runs:
            color = self._colors.setdefault(run.name, len(self._colors) % len(PALETTE))
            row = self._rows.get(run.name)
            if row is None or row.run != run:
                if row is not None:
                    row.close()
                row = self._rows[run.name] = RunRow(run, f"mnist-runboard-color-{color}")
                row.tick.observe(self._tick_changed, names="value")
                row.delete_button.on_click(lambda _, name=run.name: self.delete(name))
        self.set_trait("runs", list(runs))
        self.set_trait("problems", problems)
        self.table.children = [self.table.children[0], *(self._rows[n] for n in names)]
        options = [NO_RUN, *((name, name) for name in names)]
        for choice in self.diff_choices:
            keep = choice.value if choice.value in names else ""
            choice.options = options
            choice.value = keep
        self.selected = [name for name in self.selected if name in self._rows]
        self._show_heading()
        self._draw()
        self._show_diff()

    def run(self, name: str) -> SavedRun:
        """The run called ``name``."""
        for run in self.runs:
            if run.name == name:
                return run
        raise RunError(f"no run {name!r} in {self.folder}; board.runs lists them")

    def release(self) -> None:
        """Drop the curves read so far (they are read again when needed)."""
        self._curves.clear()

    def close(self) -> None:
        self.release()
        super().close()

    def delete(self, name: str) -> None:
        """Delete the run ``name``: its folder goes, then its row (the folder is read again
        even when the delete fails, e.g. because the run was already gone)."""
        try:
            delete_run(self.run(name))
        finally:
            self.refresh()

    # -- reacting -------------------------------------------------------------------------
    @t.validate("selected")
    def _valid_selection(self, proposal) -> list[str]:
        names = list(dict.fromkeys(proposal.value))
        unknown = [name for name in names if name not in self._rows]
        if unknown:
            raise RunError(f"no run {unknown[0]!r} in {self.folder}; board.runs lists them")
        return names

    def _tick_changed(self, change) -> None:
        name = change.owner.description
        if change.new and name not in self.selected:
            self.selected = [*self.selected, name]
        elif not change.new and name in self.selected:
            self.selected = [n for n in self.selected if n != name]

    def _selection_changed(self, change) -> None:
        for name, row in self._rows.items():
            row.tick.value = name in self.selected
        if len(self.selected) >= 2:
            self.compared = (self.selected[-2], self.selected[-1])
        self._draw()

    def _on_compared(self, change) -> None:
        old, new = self.compared
        names = set(self._rows)
        with self.hold_trait_notifications():
            self._diff_old = old if old in names else ""
            self._diff_new = new if new in names else ""
        self._show_diff()

    # -- drawing --------------------------------------------------------------------------
    def _color(self, name: str) -> str:
        return PALETTE[self._colors[name]]

    def _read_curves(self, name: str) -> RunCurves:
        if name not in self._curves:
            self._curves[name] = self.run(name).read_curves()
        return self._curves[name]

    def _draw(self) -> None:
        shown = []
        for name in self.selected:
            try:
                shown.append((self.run(name), self._read_curves(name)))
            except RunError as exc:
                self.set_trait("problems", [*self.problems, str(exc)])
        labels = legend_labels([run for run, _ in shown])
        self.overlay.show(
            [
                (label, self._color(run.name), curves)
                for label, (run, curves) in zip(labels, shown, strict=True)
            ]
        )
        self._show_problems()

    def _show_heading(self) -> None:
        count = len(self.runs)
        if count:
            text = f"<b>{count} run{'s' if count != 1 else ''}</b> in {html.escape(self.folder)}"
            text += ": tick rows to compare their curves and code"
        else:
            folder = html.escape(self.folder)
            text = (
                f"<b>No runs in {folder} yet.</b> Train with "
                f'<code>Trainer(..., runs="{folder}")</code> or '
                f"<code>mnist-widgets train --out {folder}</code>, then press Refresh."
            )
        self.heading.value = text

    def _show_problems(self) -> None:
        self.problem_note.value = "".join(
            f"<div>skipped {html.escape(line)}</div>" for line in self.problems
        )

    def _show_diff(self) -> None:
        old, new = self.compared
        if not (old in self._rows and new in self._rows) or old == new:
            self.diff_view.value = (
                "<div class='mnist-muted'>Tick two runs (or choose them above) to see how "
                "their generated Keras code differs.</div>"
            )
            return
        try:
            before, after = self.run(old).read_code(), self.run(new).read_code()
        except RunError as exc:
            self.diff_view.value = f"<div class='mnist-error-text'>{html.escape(str(exc))}</div>"
            return
        self.diff_view.value = code_diff_html(before, after, old, new)
