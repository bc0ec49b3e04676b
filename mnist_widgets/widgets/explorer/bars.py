"""A dense layer's units as a strip of bars, and the ten classes as labelled probability bars."""

from __future__ import annotations

import ipywidgets as widgets
import numpy as np

from ...inspection import LayerInfo
from ...inspection.layers import CLASSES

BAR_COLOUR = "steelblue"
TOP_COLOUR = "darkorange"


class UnitBars(widgets.VBox):
    """One bqplot bar per unit (or per class for the output layer), updated in place.

    ``values`` holds the last values shown, None before the first.
    """

    def __init__(self, info: LayerInfo, **kwargs) -> None:
        from bqplot import Axis, Bars, Figure, LinearScale, OrdinalScale

        self.info = info
        self.values: np.ndarray | None = None
        units = info.channels
        self.classes = info.kind == CLASSES
        x = OrdinalScale()
        y = LinearScale(min=0.0, max=1.0) if self.classes else LinearScale()
        self.bars = Bars(
            x=np.arange(units),
            y=np.zeros(units),
            scales={"x": x, "y": y},
            colors=[BAR_COLOUR] * (units if self.classes else 1),
            color_mode="group" if self.classes else "auto",
            padding=0.1 if self.classes else 0.0,
        )
        axes = [
            Axis(scale=x, label="class" if self.classes else "unit", visible=self.classes),
            Axis(
                scale=y,
                orientation="vertical",
                tick_format=".0%" if self.classes else ".1f",
                num_ticks=None if self.classes else 5,
            ),
        ]
        what = "probability of each class" if self.classes else f"{units} units"
        self.figure = Figure(
            marks=[self.bars],
            axes=axes,
            fig_margin={"top": 10, "bottom": 30 if self.classes else 10, "left": 50, "right": 10},
            layout=widgets.Layout(width="360px" if self.classes else "480px", height="150px"),
        )
        self.title = widgets.HTML(
            f"<span class='mnist-explorer-layer-title'><b>{info.name}</b> "
            f"{info.class_name}: {what}</span>"
        )
        super().__init__([self.title, self.figure], **kwargs)
        self.add_class("mnist-explorer-layer")

    def show(self, values: np.ndarray) -> None:
        """Set the bars to ``values`` (one per unit) in one message."""
        self.values = np.asarray(values, dtype=np.float64)
        with self.bars.hold_sync():
            self.bars.y = self.values
            if self.classes:
                top = int(np.argmax(self.values))
                self.bars.colors = [
                    TOP_COLOUR if i == top else BAR_COLOUR for i in range(len(self.values))
                ]

    def release(self) -> None:
        self.values = None
