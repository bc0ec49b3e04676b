"""Draw a digit with the mouse and watch the model's ten probabilities move as you draw.

The strokes go to an ipycanvas ``Canvas`` (thick white on black) and, in the same handler,
to a PIL copy kept in Python, so the pad predicts even before (or without) a front end
sending the canvas pixels back. When the front end does sync them (``sync_image_data``),
``canvas.get_image_data()`` is what gets predicted. Either way the picture goes through
``mnist_widgets.data.preprocess.to_mnist``, the same code as the ``predict`` command.
"""

from __future__ import annotations

import time

import ipywidgets as widgets
import numpy as np
import traitlets

from ..data.preprocess import to_mnist
from ..errors import DataError
from ..models.build import input_shape
from ..training.evaluate import NUM_CLASSES, predict_probabilities
from .sprites import digit_png
from .styles import with_stylesheet

BAR_COLOUR = "steelblue"
TOP_COLOUR = "darkorange"


class DrawingPad(widgets.VBox):
    """A mouse-drawn digit, its 28x28 MNIST version and a live bar chart of the probabilities.

    Public state (traits): ``probabilities`` (ten floats, all 0 while the pad is blank),
    ``prediction`` (the most likely class, None while blank), ``drawing`` (mouse held down),
    ``strokes`` (finished strokes since the last Clear: observe it to follow the pen).
    ``preprocessed`` holds the float32 (28, 28) image last given to the model.
    """

    probabilities = traitlets.List(traitlets.Float(), default_value=[0.0] * NUM_CLASSES)
    prediction = traitlets.Int(None, allow_none=True)
    drawing = traitlets.Bool(False)
    strokes = traitlets.Int(0)

    def __init__(
        self,
        model,
        size: int = 280,
        line_width: float = 22.0,
        interval: float = 0.15,
        **kwargs,
    ) -> None:
        from bqplot import Axis, Bars, Figure, LinearScale, OrdinalScale
        from ipycanvas import Canvas

        input_shape(model)  # fails early, with a clear message, for a non-digit model
        if size < 28:
            raise DataError(f"the drawing pad needs at least 28 pixels a side, got {size}")
        self.model = model
        self.size = int(size)
        self.line_width = float(line_width)
        self.interval = float(interval)
        self.preprocessed = np.zeros((28, 28), dtype=np.float32)
        self._last = None
        self._last_update = 0.0
        self._canvas_fresh = False  # True once the front end sent the pixels of the last stroke
        self._shadow, self._pen = self._blank_shadow()

        self.canvas = Canvas(width=self.size, height=self.size, sync_image_data=True)
        self.canvas.layout.width = self.canvas.layout.height = f"{self.size}px"
        self.canvas.add_class("mnist-drawing-pad")
        self.canvas.on_mouse_down(self.on_mouse_down)
        self.canvas.on_mouse_move(self.on_mouse_move)
        self.canvas.on_mouse_up(self.on_mouse_up)
        self.canvas.on_mouse_out(self.on_mouse_up)
        self.canvas.on_touch_start(lambda touches: self.on_mouse_down(*touches[0]))
        self.canvas.on_touch_move(lambda touches: self.on_mouse_move(*touches[0]))
        self.canvas.on_touch_end(lambda touches: self.on_mouse_up(0, 0))
        self.canvas.on_touch_cancel(lambda touches: self.on_mouse_up(0, 0))
        self.canvas.on_client_ready(self._replay)
        self.canvas.observe(self._on_image_data, names="image_data")
        self._prepare_canvas()

        self.clear_button = widgets.Button(description="Clear", icon="eraser")
        self.clear_button.on_click(lambda _: self.clear())
        self.answer = widgets.HTML(self._answer_html())
        self.preview = widgets.Image(value=digit_png(self.preprocessed), format="png")
        self.preview.layout.width = self.preview.layout.height = "112px"

        x = OrdinalScale()
        y = LinearScale(min=0.0, max=1.0)
        self.bars = Bars(
            x=np.arange(NUM_CLASSES),
            y=np.zeros(NUM_CLASSES),
            scales={"x": x, "y": y},
            colors=[BAR_COLOUR] * NUM_CLASSES,
            color_mode="group",  # 1-D bars: each class is a group of one bar
        )
        self.chart = Figure(
            marks=[self.bars],
            axes=[
                Axis(scale=x, label="class"),
                Axis(scale=y, side="left", tick_format=".0%", label="probability"),
            ],
            title="What the model sees",
            fig_margin={"top": 40, "bottom": 40, "left": 50, "right": 10},
            layout=widgets.Layout(width="360px", height="260px"),
        )
        left = widgets.VBox(
            [
                widgets.HTML("<b>Draw a digit</b> (white on black, as in MNIST)"),
                self.canvas,
                widgets.HBox([self.clear_button, self.answer]),
            ]
        )
        right = widgets.VBox(
            [self.chart, widgets.HTML("28x28, as the model gets it:"), self.preview]
        )
        super().__init__(with_stylesheet([widgets.HBox([left, right])]), **kwargs)
        self.add_class("mnist-widget")

    # -- mouse handlers (ipycanvas calls them with pixel coordinates) ---------------------
    def on_mouse_down(self, x: float, y: float) -> None:
        self.drawing = True
        self._last = (float(x), float(y))
        self._stroke(self._last, self._last)
        self.update(force=False)

    def on_mouse_move(self, x: float, y: float) -> None:
        if not self.drawing:
            return
        point = (float(x), float(y))
        self._stroke(self._last or point, point)
        self._last = point
        self.update(force=False)

    def on_mouse_up(self, x: float, y: float) -> None:
        if not self.drawing:
            return
        self.drawing = False
        self._last = None
        self.update(force=True)
        self.strokes += 1

    # -- public ---------------------------------------------------------------------------
    def clear(self) -> None:
        """Wipe the pad and the chart."""
        self.drawing = False
        self._last = None
        self._canvas_fresh = False
        self._shadow, self._pen = self._blank_shadow()
        self._prepare_canvas()
        self._show(np.zeros((28, 28), dtype=np.float32), None)
        self.strokes = 0

    def pixels(self) -> np.ndarray:
        """The pad's picture: the canvas's own pixels when the front end synced them, else
        the Python copy of the strokes (uint8, white on black)."""
        if self._canvas_fresh and self.canvas.image_data is not None:
            return self.canvas.get_image_data()
        return np.asarray(self._shadow)

    def update(self, force: bool = True) -> np.ndarray | None:
        """Predict the pad's picture; unless ``force``, at most once per ``interval`` seconds.

        Returns the probabilities, or None when throttled.
        """
        now = time.perf_counter()
        if not force and now - self._last_update < self.interval:
            return None
        self._last_update = now
        return self.predict_image(self.pixels())

    def predict_image(self, picture: np.ndarray) -> np.ndarray:
        """Preprocess ``picture`` with ``to_mnist``, predict it and show the result.

        Any size, grey or RGB(A), white on black or dark on light. Returns the ten
        probabilities (all zero for a blank picture, which is not predicted).
        """
        digit = to_mnist(np.asarray(picture))
        if digit.max() <= 0 or self.model is None:  # blank, or the pad was released
            probabilities = np.zeros(NUM_CLASSES, dtype=np.float32)
        else:
            probabilities = predict_probabilities(self.model, digit[None])[0]
        self._show(digit, probabilities)
        return probabilities

    def set_image(self, picture: np.ndarray) -> np.ndarray:
        """Put a picture on the pad (scaled to fill it) and predict it, like a drawing."""
        from PIL import Image

        picture = np.asarray(picture)
        if picture.ndim not in (2, 3) or min(picture.shape[:2]) < 1:
            raise DataError(f"expected a 2-D picture, got an array of shape {picture.shape}")
        grey = to_uint8_grey(picture)
        self._shadow = Image.fromarray(grey).resize((self.size, self.size), Image.BILINEAR)
        self._pen = _pen_for(self._shadow)
        self._canvas_fresh = False
        self._prepare_canvas()
        self._put_shadow()
        probabilities = self.update(force=True)
        self.strokes += 1
        return probabilities

    # -- drawing --------------------------------------------------------------------------
    def _blank_shadow(self):
        from PIL import Image

        shadow = Image.new("L", (self.size, self.size), 0)
        return shadow, _pen_for(shadow)

    def _stroke(self, start: tuple[float, float], end: tuple[float, float]) -> None:
        from ipycanvas import hold_canvas

        self._canvas_fresh = False
        r = self.line_width / 2
        self._pen.line([start, end], fill=255, width=round(self.line_width))
        for px, py in (start, end):  # round caps and joints, as the canvas draws them
            self._pen.ellipse([px - r, py - r, px + r, py + r], fill=255)
        with hold_canvas():
            if start == end:
                self.canvas.fill_circle(end[0], end[1], r)
            else:
                self.canvas.stroke_line(start[0], start[1], end[0], end[1])

    def _prepare_canvas(self) -> None:
        from ipycanvas import hold_canvas

        with hold_canvas():
            self.canvas.clear()
            self.canvas.fill_style = "black"
            self.canvas.fill_rect(0, 0, self.size, self.size)
            self.canvas.fill_style = "white"
            self.canvas.stroke_style = "white"
            self.canvas.line_width = self.line_width
            self.canvas.line_cap = "round"
            self.canvas.line_join = "round"

    def _put_shadow(self) -> None:
        grey = np.asarray(self._shadow)
        rgba = np.dstack([grey, grey, grey, np.full_like(grey, 255)])
        self.canvas.put_image_data(rgba, 0, 0)

    def _replay(self, *_) -> None:
        """A new view starts blank: repaint it from the Python copy."""
        self._prepare_canvas()
        self._put_shadow()

    def _on_image_data(self, change) -> None:
        if change["new"] is None:
            return
        self._canvas_fresh = True
        self.update(force=not self.drawing)

    # -- showing --------------------------------------------------------------------------
    def _show(self, digit: np.ndarray, probabilities: np.ndarray | None) -> None:
        self.preprocessed = digit
        blank = probabilities is None or not np.any(probabilities)
        values = np.zeros(NUM_CLASSES) if blank else np.asarray(probabilities, dtype=float)
        top = None if blank else int(np.argmax(values))
        colours = [TOP_COLOUR if i == top else BAR_COLOUR for i in range(NUM_CLASSES)]
        with self.bars.hold_sync():
            self.bars.y = values
            self.bars.colors = colours
        self.preview.value = digit_png(digit)
        self.probabilities = [float(v) for v in values]
        self.prediction = top
        self.answer.value = self._answer_html()

    def _answer_html(self) -> str:
        if self.prediction is None:
            return "<span class='mnist-drawing-hint'>draw a digit</span>"
        p = self.probabilities[self.prediction]
        return (
            f"<span class='mnist-drawing-answer'>It's a <b>{self.prediction}</b></span> ({p:.0%})"
        )


def _pen_for(image):
    from PIL import ImageDraw

    return ImageDraw.Draw(image)


def to_uint8_grey(picture: np.ndarray) -> np.ndarray:
    """A picture as uint8 grey: RGB(A) averaged, floats in [0, 1] scaled to 0-255."""
    picture = np.asarray(picture)
    a = picture.astype(np.float32)
    if a.ndim == 3:
        a = a[..., :3].mean(axis=2)
    if not np.issubdtype(picture.dtype, np.integer) and a.size and a.max() <= 1.0:
        a = a * 255.0
    return np.clip(np.round(a), 0, 255).astype(np.uint8)
