"""One layer's feature maps as one clickable PNG: a grid of small grey images, one per channel."""

from __future__ import annotations

import ipywidgets as widgets
import numpy as np
import traitlets

from ...inspection import LayerInfo
from ..pictures import grid_layout, render_maps
from ..sprites import encode_png


class FeatureMapGrid(widgets.VBox):
    """The feature maps of one layer; clicking a map sets ``selected_channel``.

    ``maps`` holds the last maps shown (height, width, channels), None before the first.
    """

    selected_channel = traitlets.Int(None, allow_none=True)

    def __init__(self, info: LayerInfo, **kwargs) -> None:
        from ipyevents import Event

        self.info = info
        height, width, channels = info.shape
        self.grid = grid_layout(channels, height, width)
        self.maps: np.ndarray | None = None
        self.title = widgets.HTML(
            f"<span class='mnist-explorer-layer-title'><b>{info.name}</b> {info.class_name}: "
            f"{channels} maps of {height}x{width}</span>"
        )
        self.image = widgets.Image(format="png")
        self.image.add_class("mnist-explorer-maps")
        self.clicks = Event(source=self.image, watched_events=["click"])
        self.clicks.on_dom_event(self._on_click)
        super().__init__([self.title, self.image], **kwargs)
        self.add_class("mnist-explorer-layer")

    def show(self, maps: np.ndarray) -> None:
        """Draw ``maps`` (height, width, channels) in place of the last ones."""
        self.maps = maps
        self._draw()

    def click(self, x: float, y: float) -> int | None:
        """Select the map under pixel (x, y) of the picture; returns its channel or None."""
        channel = self.grid.index_at(x, y)
        if channel is not None:
            self.selected_channel = channel
        return channel

    def release(self) -> None:
        self.maps = None

    @traitlets.observe("selected_channel")
    def _selection_changed(self, change) -> None:
        self._draw()

    def _on_click(self, event: dict) -> None:
        if "dataX" in event and "dataY" in event:
            self.click(event["dataX"], event["dataY"])

    def _draw(self) -> None:
        if self.maps is not None:
            self.image.value = encode_png(render_maps(self.maps, self.grid, self.selected_channel))
