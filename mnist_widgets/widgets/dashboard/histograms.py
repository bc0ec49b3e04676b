"""The dashboard's histograms: per layer, its weights and their gradients on the probe batch,
and the share of dead ReLU units, drawn from ``HistogramEvent`` objects.

One row per layer with a kernel, built when the layers are first known; each probe then only
assigns the bars' ``x``/``y`` under ``hold_sync`` (and a scale's range when the bins change)
and the badge's text and classes.
"""

from __future__ import annotations

from html import escape

import bqplot as bq
import ipywidgets as widgets
import numpy as np
from traitlets import Float

from ...training.events import Histogram, HistogramEvent, LayerProbe
from ...training.probes import kernel_of, probed_layers

WEIGHT_COLOR = "#1f77b4"
GRADIENT_COLOR = "#9467bd"
DEAD_CLASS = "mnist-dashboard-dead"
DEAD_HIGH_CLASS = "mnist-dashboard-dead-high"
NO_RELU_CLASS = "mnist-dashboard-dead-none"
DEAD_WARNING = 0.3  # the badge warns from this share of dead units up


def _histogram_chart(title: str, color: str) -> tuple[bq.Figure, bq.Bars, bq.LinearScale]:
    x_scale, y_scale = bq.LinearScale(), bq.LinearScale(min=0.0)
    bars = bq.Bars(
        x=np.zeros(0),
        y=np.zeros(0),
        scales={"x": x_scale, "y": y_scale},
        colors=[color],
        padding=0.0,
        stroke="white",
        stroke_width=0.5,
    )
    # the shape is what counts: an x axis only (counts differ by orders between layers)
    axes = [bq.Axis(scale=x_scale, tick_format=".2~g", num_ticks=5, grid_lines="none")]
    figure = bq.Figure(
        marks=[bars],
        axes=axes,
        title=title,
        fig_margin={"top": 28, "bottom": 24, "left": 20, "right": 20},
        animation_duration=0,
    )
    figure.add_class("mnist-dashboard-histogram-chart")
    return figure, bars, x_scale


def _show_bars(bars: bq.Bars, scale: bq.LinearScale, histogram: Histogram) -> None:
    """Assign one histogram to a chart: the range only when the bins changed, then the bars
    in one message."""
    low, high = float(histogram.edges[0]), float(histogram.edges[-1])
    if scale.min != low or scale.max != high:
        with scale.hold_sync():
            scale.min, scale.max = low, high
    with bars.hold_sync():
        bars.x = histogram.centers.astype(float)
        bars.y = histogram.counts.astype(float)


def dead_text(layer: LayerProbe) -> str:
    """What a layer's badge says."""
    share = layer.dead_share
    if share is None:
        return "no ReLU"
    return f"dead ReLU {layer.dead}/{layer.units} ({share:.0%})"


class LayerHistograms(widgets.HBox):
    """One layer: its name, the histogram of its kernel, that of the gradients and the badge."""

    def __init__(self, name: str, kind: str, shape: tuple[int, ...], relu: str | None) -> None:
        super().__init__()
        self.name = name
        size = int(np.prod(shape)) if shape else 0
        self.title = widgets.HTML(
            f"<b>{escape(name)}</b><br>{escape(kind)} {escape(str(shape))}<br>{size:,} weights"
        )
        self.title.add_class("mnist-dashboard-histogram-title")
        self.weight_chart, self.weight_bars, self.weight_scale = _histogram_chart(
            "weights", WEIGHT_COLOR
        )
        self.gradient_chart, self.gradient_bars, self.gradient_scale = _histogram_chart(
            "gradients", GRADIENT_COLOR
        )
        self.badge = widgets.HTML("dead ReLU: waiting" if relu else "no ReLU")
        self.badge.add_class(DEAD_CLASS)
        if not relu:
            self.badge.add_class(NO_RELU_CLASS)
        self.add_class("mnist-dashboard-histogram-row")
        self.children = [self.title, self.weight_chart, self.gradient_chart, self.badge]

    @property
    def marks(self) -> list[bq.Bars]:
        return [self.weight_bars, self.gradient_bars]

    def show(self, layer: LayerProbe, warn_at: float) -> None:
        _show_bars(self.weight_bars, self.weight_scale, layer.weights)
        _show_bars(self.gradient_bars, self.gradient_scale, layer.gradients)
        share = layer.dead_share
        classes = [DEAD_CLASS]
        if share is None:
            classes.append(NO_RELU_CLASS)
        elif share >= warn_at:
            classes.append(DEAD_HIGH_CLASS)
        self.badge.value = escape(dead_text(layer))
        if sorted(self.badge._dom_classes) != sorted(classes):
            self.badge._dom_classes = tuple(classes)


class HistogramPanel(widgets.VBox):
    """Per layer with a kernel, a row of ``LayerHistograms``, under a caption saying when the
    last probe was taken.

    ``prepare(model)`` builds the rows before training when the model is known; ``show(event)``
    builds them on the first event otherwise (or when the layers changed), then updates them.
    """

    warn_at = Float(DEAD_WARNING, help="the share of dead ReLU units at which a badge warns")

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.caption = widgets.HTML("Weights and gradients per layer: waiting for the first probe")
        self.caption.add_class("mnist-dashboard-histogram-caption")
        self.rows: dict[str, LayerHistograms] = {}
        self.add_class("mnist-dashboard-histograms")
        self.children = [self.caption]

    @property
    def marks(self) -> list[bq.Bars]:
        """Every bars mark, weights and gradients, row by row."""
        return [mark for row in self.rows.values() for mark in row.marks]

    def prepare(self, model) -> None:
        """Build the rows for ``model``'s layers with a kernel (kept if they are the same)."""
        layers = []
        for layer, relu in probed_layers(model):
            shape = tuple(kernel_of(layer).shape)
            layers.append((layer.name, type(layer).__name__, shape, relu and relu.name))
        self._layout(layers)

    def _layout(self, layers: list[tuple]) -> None:
        names = [layer[0] for layer in layers]
        if names == list(self.rows):
            return
        self.rows = {
            name: LayerHistograms(name, kind, tuple(int(d) for d in shape), relu)
            for name, kind, shape, relu in layers
        }
        self.children = [self.caption, *self.rows.values()]

    def show(self, event: HistogramEvent) -> None:
        self._layout([(lp.name, lp.kind, lp.shape, lp.relu) for lp in event.layers])
        for layer in event.layers:
            self.rows[layer.name].show(layer, self.warn_at)
        when = "end of" if event.at_epoch_end else f"batch {event.batch + 1} of"
        self.caption.value = (
            f"Weights and gradients per layer, {when} epoch {event.epoch + 1} "
            f"(gradients of the loss on {event.probe_images} test images)"
        )
