"""The layer explorer: one digit, every layer's output, and what made a chosen feature map."""

from __future__ import annotations

import ipywidgets as widgets
import numpy as np
import traitlets

from ...errors import DataError
from ...inspection import ChannelScores, LayerOutputs, as_digit, kernels_of
from ...inspection.layers import MAPS
from ..gallery import labelled_digits
from ..lifetime import close_parts, replace_earlier
from ..sprites import digit_png
from ..styles import with_stylesheet
from .bars import UnitBars
from .detail import ChannelDetail
from .maps import FeatureMapGrid


class LayerExplorer(widgets.VBox):
    """Every layer's output for one digit: feature-map grids, bars for units, ten class bars.

    ``show(digit)`` takes a test index or a 28x28 picture; ``follow(gallery_or_pad)`` shows
    each digit selected in a ``PredictionGallery`` and each finished stroke on a
    ``DrawingPad``. Clicking a feature map (or ``select(layer, channel)``) shows the kernels
    that made it and the test digits that excite it most.

    Traits: ``digit_index`` (the test index shown, None for a picture), ``prediction`` (the
    most likely class) and ``selected`` ((layer name, channel) or None). ``activations``
    holds the shown outputs, one array per entry of ``layers``. ``release()`` drops the
    arrays computed so far; ``close()``, or a re-run of the cell that made the explorer
    making a new one, also drops the model and closes the widgets.

    Example:
        explorer = LayerExplorer(model, data)
        explorer.show(7)
        explorer.follow(gallery)
    """

    digit_index = traitlets.Int(None, allow_none=True)
    prediction = traitlets.Int(None, allow_none=True)
    selected = traitlets.Tuple(
        traitlets.Unicode(), traitlets.Int(), default_value=None, allow_none=True
    )

    def __init__(self, model, data=None, *, top_count: int = 9, **kwargs) -> None:
        self.model = model
        self.images, self.labels = labelled_digits(data)
        self.top_count = int(top_count)
        self.outputs = LayerOutputs.of(model)
        self.scores = ChannelScores(self.outputs, self.images)
        self.layers = self.outputs.layers
        self.digit = np.zeros((28, 28), dtype=np.float32)
        self.activations: list[np.ndarray] | None = None
        self._followed: list[tuple[object, object, str]] = []

        self.views = [
            FeatureMapGrid(info) if info.kind == MAPS else UnitBars(info) for info in self.layers
        ]
        for view in self.views:
            if isinstance(view, FeatureMapGrid):
                view.observe(self._map_clicked, names="selected_channel")
        self.index_box = widgets.BoundedIntText(
            value=0, min=0, max=max(len(self.images) - 1, 0), description="Test digit"
        )
        self.index_box.add_class("mnist-explorer-index")
        self.show_button = widgets.Button(description="Show", icon="eye")
        self.show_button.on_click(lambda _: self.show(int(self.index_box.value)))
        self.preview = widgets.Image(value=digit_png(self.digit), format="png")
        self.preview.add_class("mnist-explorer-digit")
        self.caption = widgets.HTML(self._caption_html())
        self.detail = ChannelDetail()
        digit_panel = widgets.VBox(
            [widgets.HBox([self.index_box, self.show_button]), self.preview, self.caption]
        )
        digit_panel.add_class("mnist-explorer-input")
        top = widgets.HBox([digit_panel, self.detail])
        top.add_class("mnist-explorer-top")
        body = widgets.Box(self.views)
        body.add_class("mnist-explorer-layers")
        super().__init__(with_stylesheet([top, body]), **kwargs)
        self.add_class("mnist-widget")
        self.add_class("mnist-explorer")
        replace_earlier(self)

    # -- public ---------------------------------------------------------------------------
    def show(self, digit) -> np.ndarray:
        """Show every layer's output for a test index or a 28x28 picture; returns the output.

        The output is the last layer's (the ten probabilities for a classifier).
        """
        index = int(digit) if isinstance(digit, (int, np.integer)) else None
        self.digit = as_digit(digit, self.images)
        self.activations = self.outputs.one(self.digit)  # the previous ones are dropped
        blank = not self.digit.any()
        for view, values in zip(self.views, self.activations, strict=True):
            view.show(values)
        last = self.activations[-1]
        self.preview.value = digit_png(self.digit)
        with self.hold_trait_notifications():
            self.digit_index = index
            self.prediction = None if blank else int(np.argmax(last))
        if index is not None and self.index_box.value != index:
            self.index_box.value = index
        self.caption.value = self._caption_html()
        return last

    def select(self, layer: str | int, channel: int) -> None:
        """Select ``channel`` of a feature-map layer (by name or position in ``layers``)."""
        position = layer if isinstance(layer, int) else self.outputs.index(layer)
        info = self.layers[position]
        if info.kind != MAPS:
            raise DataError(f"layer {info.name} has no feature maps to select")
        if not 0 <= int(channel) < info.channels:
            raise DataError(f"layer {info.name} has channels 0-{info.channels - 1}")
        self.selected = (info.name, int(channel))

    def follow(self, source) -> None:
        """Show each digit selected in a ``PredictionGallery`` (and drawn on its pad) or each
        finished stroke on a ``DrawingPad``."""
        if source.has_trait("selected_index"):
            self._watch(source, self._gallery_selected, "selected_index")
            if getattr(source, "pad", None) is not None:
                self.follow(source.pad)
        elif source.has_trait("strokes"):
            self._watch(source, self._pad_stroke, "strokes")
        else:
            raise DataError("follow() takes a PredictionGallery or a DrawingPad")

    def unfollow(self) -> None:
        """Stop following every gallery and pad."""
        for source, handler, name in self._followed:
            source.unobserve(handler, names=name)
        self._followed = []

    def release(self) -> None:
        """Drop the large arrays: activations, top-digit scores, kernels (computed again later).

        Call it after training the model further: the next selection finds its top digits
        with the new weights.
        """
        self.activations = None
        self.scores.release()
        for view in self.views:
            view.release()
        self.detail.clear()

    def close(self) -> None:
        """Stop following, drop the arrays and the model, close every widget of the explorer."""
        self.unfollow()
        self.release()
        for view in self.views:
            clicks = getattr(view, "clicks", None)
            if clicks is not None:
                clicks.close()
        close_parts(self)
        self.scores.close()
        self.model = self.outputs = None
        super().close()

    # -- reacting -------------------------------------------------------------------------
    def _watch(self, source, handler, name: str) -> None:
        source.observe(handler, names=name)
        self._followed.append((source, handler, name))

    def _gallery_selected(self, change) -> None:
        index = change["new"]
        if index is None:
            return
        picture = change["owner"].predictions.images[index]
        same = index < len(self.images) and np.array_equal(self.images[index], picture)
        self.show(int(index) if same else picture)

    def _pad_stroke(self, change) -> None:
        self.show(change["owner"].preprocessed)

    def _map_clicked(self, change) -> None:
        channel = change["new"]
        if channel is not None:
            view = change["owner"]
            self.selected = (view.info.name, int(channel))

    @traitlets.observe("selected")
    def _selection_changed(self, change) -> None:
        chosen = change["new"]
        for view in self.views:
            if isinstance(view, FeatureMapGrid):
                mine = chosen is not None and chosen[0] == view.info.name
                view.selected_channel = chosen[1] if mine else None
        if chosen is None:
            self.detail.clear()
            return
        name, channel = chosen
        position = self.outputs.index(name)
        title = f"<b>{name}</b>, channel {channel}."
        if not self.scores.computed:
            self.detail.busy(title)
        top = self.scores.top(position, channel, self.top_count)
        self.detail.show(
            title,
            kernels_of(self.model, name, channel),
            self.images[top],
            self.labels[top],
            top,
        )

    def _caption_html(self) -> str:
        where = "a drawn digit" if self.digit_index is None else f"test digit {self.digit_index}"
        if self.prediction is None:
            return f"<span class='mnist-muted'>{where}: nothing to see yet</span>"
        p = float(self.activations[-1][self.prediction]) if self.activations else 0.0
        truth = ""
        if self.digit_index is not None:
            truth = f", true class {int(self.labels[self.digit_index])}"
        return f"{where}: the model says <b>{self.prediction}</b> ({p:.0%}){truth}"
