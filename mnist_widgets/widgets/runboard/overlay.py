"""Loss and accuracy of several runs on the same axes: per batch (thin lines) and per epoch
on the test digits (lines with dots), one colour per run and a legend.

Figures, scales and axes are built once. Each selected run takes one slot: a batch line and
an epoch line per chart, assigned in place under ``hold_sync``; slots are added when more
runs are shown than ever before and emptied, never removed, when fewer are.
"""

from __future__ import annotations

import bqplot as bq
import ipywidgets as widgets
import numpy as np

from ...runs import RunCurves
from ..lines import assign, downsample

# one colour per run, as in the stylesheet's .mnist-runboard-color-N swatches
PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
MAX_BATCH_POINTS = 600
METRICS = ("loss", "accuracy")


class CurveSlot:
    """The four marks one run draws: a batch and an epoch line in each chart."""

    def __init__(self, scales: dict[str, dict]) -> None:
        self.batch = {
            metric: bq.Lines(
                x=[], y=[], scales=scales[metric], stroke_width=1, opacities=[0.45], colors=["#000"]
            )
            for metric in METRICS
        }
        self.epoch = {
            metric: bq.Lines(
                x=[],
                y=[],
                scales=scales[metric],
                stroke_width=2.5,
                marker="circle",
                marker_size=36,
                colors=["#000"],
                labels=[""],
                display_legend=False,
            )
            for metric in METRICS
        }

    def marks(self, metric: str) -> list:
        return [self.batch[metric], self.epoch[metric]]

    def show(self, label: str, color: str, curves: RunCurves) -> None:
        for metric in METRICS:
            x, y = downsample(curves.batches["x"], curves.batches[metric], MAX_BATCH_POINTS)
            assign(self.batch[metric], x, y, colors=[color])
            assign(
                self.epoch[metric],
                curves.epochs["x"],
                curves.epochs[f"val_{metric}"],
                colors=[color],
                labels=[label],
                display_legend=True,
            )

    def clear(self) -> None:
        for metric in METRICS:
            assign(self.batch[metric], [], [])
            assign(self.epoch[metric], [], [], labels=[""], display_legend=False)


class CurveOverlay(widgets.HBox):
    """A loss chart and an accuracy chart holding the curves of the runs given to ``show``."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        x_scale = bq.LinearScale(min=0.0)
        self.y_scales = {"loss": bq.LinearScale(min=0.0), "accuracy": bq.LinearScale(max=1.0)}
        self.scales = {metric: {"x": x_scale, "y": self.y_scales[metric]} for metric in METRICS}
        self.slots: list[CurveSlot] = []
        self.shown: list[str] = []  # the labels of the runs drawn, slot by slot
        self.figures = {
            metric: bq.Figure(
                marks=[],
                axes=[
                    bq.Axis(scale=x_scale, label="epoch", grid_lines="none"),
                    bq.Axis(
                        scale=self.y_scales[metric],
                        label=metric,
                        side="left",
                        grid_lines="dashed",
                    ),
                ],
                title=metric,
                legend_location="top-right" if metric == "loss" else "bottom-right",
                fig_margin={"top": 40, "bottom": 40, "left": 60, "right": 20},
                animation_duration=0,
            )
            for metric in METRICS
        }
        for figure in self.figures.values():
            figure.add_class("mnist-runboard-chart")
        self.children = list(self.figures.values())

    def _grow(self, count: int) -> None:
        while len(self.slots) < count:
            slot = CurveSlot(self.scales)
            self.slots.append(slot)
            for metric, figure in self.figures.items():
                figure.marks = [*figure.marks, *slot.marks(metric)]

    def show(self, runs: list[tuple[str, str, RunCurves]]) -> None:
        """Draw ``(label, colour, curves)`` of each run; the other slots are emptied."""
        self._grow(len(runs))
        for slot, (label, color, curves) in zip(self.slots, runs, strict=False):
            slot.show(label, color, curves)
        for slot in self.slots[len(runs) :]:
            slot.clear()
        self.shown = [label for label, _, _ in runs]

    def curves(self, metric: str, per: str = "batch") -> list[tuple[np.ndarray, np.ndarray]]:
        """The (x, y) drawn for ``metric`` per ``"batch"`` or ``"epoch"``, one per run shown."""
        slots = self.slots[: len(self.shown)]
        return [
            (np.asarray(getattr(s, per)[metric].x), np.asarray(getattr(s, per)[metric].y))
            for s in slots
        ]
