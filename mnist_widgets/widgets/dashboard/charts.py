"""The dashboard's charts: loss, accuracy and learning rate, drawn from a run's ``History``.

Figures, scales, axes and marks are built once; new data is pushed by assigning the marks'
``x``/``y`` (numpy arrays, sent as binary buffers) under ``hold_sync``, one message per mark.
"""

from __future__ import annotations

import math

import bqplot as bq
import ipywidgets as widgets
import numpy as np

from ...models.schedules import Schedule
from ...training.history import History
from ..lines import assign, downsample

TRAIN_COLOR = "#1f77b4"
VALIDATION_COLOR = "#ff7f0e"
PLANNED_COLOR = "#999999"
RATE_COLOR = "#2ca02c"
ZOOMS = (("0-1", 0.0), ("0.9-1", 0.9), ("0.98-1", 0.98))
PLAN_POINTS_PER_EPOCH = 16
PLAN_MAX_POINTS = 400
PLAN_EPOCH_END = 1e-6  # each epoch's curve ends just before the next begins: a step is a step


def planned_curve(schedule: Schedule | None, epochs: int) -> tuple[np.ndarray, np.ndarray]:
    """The planned learning rate over ``epochs`` epochs, from 0 (the first epoch's start)
    to the end of the last.

    ``schedule.rate_at`` gives the rate at any point of any epoch, so every schedule draws
    its own shape: a staircase per epoch, a smooth decay, a one-cycle's rise and fall.
    None (or no epochs) gives an empty curve.
    """
    if schedule is None or epochs < 1:
        return np.zeros(0), np.zeros(0)
    per_epoch = max(1, min(PLAN_POINTS_PER_EPOCH, PLAN_MAX_POINTS // epochs))
    within = np.append(np.arange(per_epoch) / per_epoch, 1.0 - PLAN_EPOCH_END)
    x = (np.arange(epochs)[:, None] + within[None, :]).ravel()
    return x, np.array([schedule.rate_at(float(e)) for e in x], dtype=float)


def _chart(title: str, marks: list, x_scale, y_scale, legend: str, **y_axis) -> bq.Figure:
    axes = [
        bq.Axis(scale=x_scale, label="epoch", grid_lines="none"),
        bq.Axis(scale=y_scale, label=title, side="left", grid_lines="dashed", **y_axis),
    ]
    figure = bq.Figure(
        marks=marks,
        axes=axes,
        title=title,
        legend_location=legend,
        fig_margin={"top": 40, "bottom": 40, "left": 75 if y_axis else 60, "right": 20},
        animation_duration=0,
    )
    figure.add_class("mnist-dashboard-chart")
    return figure


def _curve_marks(scales: dict) -> dict[str, bq.Lines]:
    """A training line (per batch) and a validation line with markers (per epoch)."""
    common = {"scales": scales, "display_legend": True}
    return {
        "train": bq.Lines(
            x=[], y=[], colors=[TRAIN_COLOR], labels=["training"], stroke_width=1.5, **common
        ),
        "validation": bq.Lines(
            x=[],
            y=[],
            colors=[VALIDATION_COLOR],
            labels=["validation"],
            marker="circle",
            marker_size=30,
            stroke_width=2,
            **common,
        ),
    }


class TrainingCharts(widgets.VBox):
    """Loss and accuracy per batch and per epoch, the planned and used learning rate, and
    buttons that zoom the accuracy axis.

    ``show_batches``, ``show_epochs`` and ``show_plan`` only assign data to the marks built
    here, so a view keeps its figures while training goes on.
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.epoch_scale = x_scale = bq.LinearScale(min=0.0)
        loss_scale = bq.LinearScale(min=0.0)
        self.accuracy_scale = bq.LinearScale(min=0.0, max=1.0)
        self.loss_marks = _curve_marks({"x": x_scale, "y": loss_scale})
        self.accuracy_marks = _curve_marks({"x": x_scale, "y": self.accuracy_scale})
        # from 0 to a tenth above the highest rate (bqplot's padding would show rates below 0)
        self.rate_scale = bq.LinearScale(min=0.0, allow_padding=False)
        rate_scales = {"x": bq.LinearScale(min=0.0), "y": self.rate_scale}
        self.rate_marks = {
            "planned": bq.Lines(
                x=[],
                y=[],
                scales=rate_scales,
                colors=[PLANNED_COLOR],
                line_style="dashed",
                labels=["planned"],
                display_legend=True,
            ),
            "actual": bq.Scatter(
                x=[],
                y=[],
                scales=rate_scales,
                colors=[RATE_COLOR],
                default_size=40,
                labels=["used"],
                display_legend=True,
            ),
        }
        self.loss_chart = _chart(
            "loss", list(self.loss_marks.values()), x_scale, loss_scale, "top-right"
        )
        # the accuracy rises towards the top right: the legend goes below it
        self.accuracy_chart = _chart(
            "accuracy",
            list(self.accuracy_marks.values()),
            x_scale,
            self.accuracy_scale,
            "bottom-right",
        )
        self.rate_chart = _chart(
            "learning rate",
            list(self.rate_marks.values()),
            rate_scales["x"],
            self.rate_scale,
            "top-right",
            tick_format=".2~g",
            num_ticks=4,
            label_offset="50px",
        )
        self.rate_chart.add_class("mnist-dashboard-rate-chart")
        self.zoom = widgets.ToggleButtons(options=ZOOMS, value=0.0, description="zoom:")
        self.zoom.add_class("mnist-dashboard-zoom")
        widgets.dlink((self.zoom, "value"), (self.accuracy_scale, "min"))
        upper = widgets.HBox([self.loss_chart, self.accuracy_chart])
        lower = widgets.HBox([self.rate_chart, self.zoom])
        upper.add_class("mnist-dashboard-row")
        lower.add_class("mnist-dashboard-row")
        self.children = [upper, lower]

    @property
    def figures(self) -> list[bq.Figure]:
        return [self.loss_chart, self.accuracy_chart, self.rate_chart]

    @property
    def marks(self) -> list:
        """Every mark of the three charts (the same objects for the dashboard's life)."""
        return [
            *self.loss_marks.values(),
            *self.accuracy_marks.values(),
            *self.rate_marks.values(),
        ]

    def clear(self) -> None:
        """Empty the loss and accuracy curves and the used rates (the plan stays)."""
        for mark in [*self.loss_marks.values(), *self.accuracy_marks.values()]:
            assign(mark, [], [])
        assign(self.rate_marks["actual"], [], [])
        self._fit_rate_scale()

    def show_batches(self, history: History, max_points: int) -> None:
        """The per-batch training curves, at most ``max_points`` points each."""
        series = history.batch_series()
        for marks, key in ((self.loss_marks, "loss"), (self.accuracy_marks, "accuracy")):
            assign(marks["train"], *downsample(series["x"], series[key], max_points))

    def show_epochs(self, history: History) -> None:
        """The validation points and the learning rate each epoch began with."""
        for marks, key in (
            (self.loss_marks, "val_loss"),
            (self.accuracy_marks, "val_" + history.accuracy_key),
        ):
            assign(marks["validation"], *history.epoch_series(key))
        self.show_rates(history)

    def show_rates(self, history: History) -> None:
        """The learning rate each epoch began with, one dot an epoch."""
        assign(self.rate_marks["actual"], history.rate_epochs, history.learning_rates)
        self._fit_rate_scale()

    def show_plan(self, x: np.ndarray, rates: np.ndarray) -> None:
        """The planned learning rate (see ``planned_curve``); empty arrays clear it."""
        assign(self.rate_marks["planned"], x, rates)
        self._fit_rate_scale()

    def _fit_rate_scale(self) -> None:
        rates = [*self.rate_marks["planned"].y, *self.rate_marks["actual"].y]
        top = max((r for r in rates if math.isfinite(r)), default=0.0)
        self.rate_scale.max = 1.1 * top if top > 0 else None
