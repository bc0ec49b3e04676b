"""The prediction gallery: every test digit with the model's answer under it, red when wrong.

As in the codelab, the font digits come first and the mistakes come first. Predictions
are computed once (``training.evaluate.Predictions``); a page is then numpy slicing plus one
PNG sprite (``sprites.render_sprite``).
The confusion matrix filters the grid: selecting a cell shows exactly the digits of that
(true, predicted) pair.
"""

from __future__ import annotations

from contextlib import contextmanager

import ipywidgets as widgets
import numpy as np
import traitlets
from ipyevents import Event

from ..data.fonts import font_digits
from ..errors import DataError
from ..inspection import as_digit
from ..training.evaluate import CORRECT_CHOICES, NUM_CLASSES, Predictions, check_filters
from .lifetime import close_parts, replace_earlier
from .saliency import SaliencyView
from .sprites import SpriteLayout, layout_for, render_sprite
from .styles import with_stylesheet

ANY = -1  # the dropdowns' value for "no filter" (a Dropdown cannot hold None)
DIGITS_TAB, CONFUSION_TAB, DRAW_TAB = 0, 1, 2


def labelled_digits(data) -> tuple[np.ndarray, np.ndarray]:
    """``(images, labels)`` from None (MNIST's test split), a split or ``load_data``'s pair."""
    if data is None:
        from ..data import load_data

        return load_data()[1]
    if isinstance(data, (tuple, list)) and len(data) == 2:
        first, second = data
        if isinstance(first, (tuple, list)) and isinstance(second, (tuple, list)):
            return tuple(second)  # ((x_train, y_train), (x_test, y_test))
        return first, second
    raise DataError("data must be (images, labels) or ((x_train, y_train), (x_test, y_test))")


def _cells_from_json(value, obj=None):
    """The front end sends a click's cells as ``[[row, column], ...]``: an int array."""
    if isinstance(value, list):
        return np.asarray(value, dtype=np.int32).reshape(-1, 2)
    from bqplot.traits import array_from_json

    return array_from_json(value, obj)


def _cell_heatmap_class():
    """A bqplot ``GridHeatMap`` whose click selection reaches Python.

    bqplot 0.13 turns the front end's ``[[row, column]]`` into an object array that it then
    cannot send back, so the observers never run (bqplot/bqplot#1632); this one reads it
    as integers. Same front-end model, only the Python deserialiser differs.
    """
    from bqplot import GridHeatMap
    from bqplot.traits import array_serialization
    from traittypes import Array

    class CellHeatMap(GridHeatMap):
        selected = Array(None, allow_none=True).tag(
            sync=True, to_json=array_serialization["to_json"], from_json=_cells_from_json
        )

    return CellHeatMap


class PredictionGallery(widgets.VBox):
    """Test digits with their predicted class, filters, paging, a confusion matrix and a pad.

    Traits (the public interface): ``page`` (0-based) of ``pages``, ``page_size``,
    ``filter_true`` / ``filter_pred`` (a class or None), ``filter_correct`` ("all", "right",
    "wrong"), ``selected_cell`` ((true, predicted) or None: the same as setting both class
    filters), ``shown_indices`` (indices into the test set on this page), ``matching``
    (how many digits pass the filters) and ``accuracy``.

    The gallery holds the model and its predictions until ``release()`` or ``close()``, or
    until a re-run of the cell that made it makes a new gallery.
    """

    page = traitlets.Int(0)
    pages = traitlets.Int(1, read_only=True)
    page_size = traitlets.Int(100)
    filter_true = traitlets.Int(None, allow_none=True)
    filter_pred = traitlets.Int(None, allow_none=True)
    filter_correct = traitlets.Unicode("all")
    selected_cell = traitlets.Tuple(
        traitlets.Int(), traitlets.Int(), default_value=None, allow_none=True
    )
    selected_index = traitlets.Int(None, allow_none=True)
    shown_indices = traitlets.List(traitlets.Int(), read_only=True)
    matching = traitlets.Int(0, read_only=True)
    accuracy = traitlets.Float(0.0, read_only=True)

    def __init__(
        self,
        model,
        data=None,
        *,
        page_size: int = 100,
        columns: int = 10,
        fonts: int | None = None,
        draw: bool = True,
        batch_size: int = 250,
        **kwargs,
    ) -> None:
        if page_size < 1 or columns < 1:
            raise DataError("page_size and columns must be at least 1")
        self.model = model
        self.columns = int(columns)
        self.batch_size = int(batch_size)
        self.predictions = Predictions.of(model, *labelled_digits(data), batch_size=batch_size)
        self.fonts = Predictions.of(model, *font_digits(fonts))
        self._hold = 0
        self._syncing = False  # pushing state into the controls: ignore their echoes
        self._applying_cell = False
        self._ready = False
        self._filtered = self.predictions.order
        super().__init__(**kwargs)
        self.set_trait("accuracy", self.predictions.accuracy)
        self.page_size = int(page_size)

        self.digits_tab = self._build_digits()
        self.confusion_tab = self._build_confusion()
        self.pad = None
        children = [self.digits_tab, self.confusion_tab]
        titles = ["Digits", "Confusion matrix"]
        if draw:
            from .drawing import DrawingPad

            self.pad = DrawingPad(model)
            children.append(self.pad)
            titles.append("Draw")
        self.tabs = widgets.Tab(children=children, titles=titles)
        self.header = widgets.HTML(self._header_html())
        self.children = with_stylesheet([self.header, self.tabs])
        self.add_class("mnist-widget")
        self._ready = True
        self._refresh()
        replace_earlier(self)

    # -- public ---------------------------------------------------------------------------
    @property
    def released(self) -> bool:
        """True once ``release()`` or ``close()`` dropped the model and the predictions."""
        return getattr(self, "predictions", None) is None  # None too if __init__ failed

    def release(self) -> None:
        """Drop the model, the predictions and the attributions; the page shown stays as a
        picture and the controls stop (make a new gallery to browse again)."""
        if self.released:
            return
        self._ready = False
        self.predictions = self.fonts = self.model = None
        self._filtered = np.zeros(0, np.intp)
        self.saliency.model = None
        self.saliency.clear()
        if self.pad is not None:
            self.pad.model = None
        for control in (
            self.true_dropdown,
            self.pred_dropdown,
            self.correct_buttons,
            self.reset_button,
            self.prev_button,
            self.next_button,
            self.page_slider,
        ):
            control.disabled = True
        self.status.value = "<i>released: run the cell again to browse the digits</i>"

    def close(self) -> None:
        """``release()``, then close every widget of the gallery."""
        if hasattr(self, "sprite_clicks"):  # not when __init__ stopped early (a bad model)
            self.release()
            self.sprite_clicks.close()
            close_parts(self)
        super().close()

    def update_predictions(self) -> None:
        """Predict every digit again (after more training); the filters and page stay."""
        self._check_live()
        p, f = self.predictions, self.fonts
        self.predictions = Predictions.of(self.model, p.images, p.labels, self.batch_size)
        self.fonts = Predictions.of(self.model, f.images, f.labels)
        self.set_trait("accuracy", self.predictions.accuracy)
        self.header.value = self._header_html()
        self.fonts_title.value = self._fonts_title_html()
        self.font_sprite.value = self._font_png()
        with self.heatmap.hold_sync(), self.class_bars.hold_sync():
            self.heatmap.color = self.predictions.confusion.astype(float)
            self.class_bars.y = np.nan_to_num(self.predictions.class_accuracy)
        self.accuracy_table.value = self._accuracy_table_html()
        self._refresh()
        if self.selected_index is not None:
            self._digit_selected({"new": self.selected_index})

    @property
    def layout_of_page(self) -> SpriteLayout:
        """Where each digit of the current page sits in ``sprite.value``."""
        return layout_for(len(self.shown_indices), self.columns)

    def next_page(self) -> None:
        self.page = min(self.page + 1, self.pages - 1)

    def previous_page(self) -> None:
        self.page = max(self.page - 1, 0)

    def reset_filters(self) -> None:
        with self._batch():
            self.filter_true = self.filter_pred = None
            self.filter_correct = "all"

    def select_at(self, x: float, y: float) -> int | None:
        """Select the digit under pixel (x, y) of the page's picture; returns its test index."""
        position = self.layout_of_page.cell_at(x, y)
        if position is None or position >= len(self.shown_indices):
            return None
        self.selected_index = self.shown_indices[position]
        return self.selected_index

    def page_indices(self, page: int) -> np.ndarray:
        """Indices into the test set shown on ``page`` with the current filters."""
        start = page * self.page_size
        return self._filtered[start : start + self.page_size]

    def render_page(self, page: int | None = None) -> bytes:
        """PNG bytes of one page of the current selection (the current page by default)."""
        self._check_live()
        idx = self.page_indices(self.page if page is None else page)
        p = self.predictions
        layout = layout_for(len(idx), self.columns)
        return render_sprite(p.images[idx], p.predicted[idx], p.correct[idx], layout)

    def _check_live(self) -> None:
        if self.released:
            raise DataError("this gallery was released: make a new PredictionGallery")

    # -- validation -----------------------------------------------------------------------
    @traitlets.validate("filter_true", "filter_pred")
    def _valid_class(self, proposal):
        value = proposal["value"]
        if value is not None and not 0 <= value < NUM_CLASSES:
            raise DataError(f"{proposal['trait'].name} must be a class 0-9 or None, got {value}")
        return value

    @traitlets.validate("filter_correct")
    def _valid_correct(self, proposal):
        check_filters(None, None, proposal["value"])
        return proposal["value"]

    @traitlets.validate("selected_cell")
    def _valid_cell(self, proposal):
        cell = proposal["value"]
        if cell is not None:
            check_filters(*cell)
        return cell

    @traitlets.validate("selected_index")
    def _valid_index(self, proposal):
        index = proposal["value"]
        if index is not None:
            self._check_live()
        if index is not None and not 0 <= index < len(self.predictions):
            raise DataError(f"selected_index must be 0-{len(self.predictions) - 1} or None")
        return index

    @traitlets.validate("page_size")
    def _valid_page_size(self, proposal):
        if proposal["value"] < 1:
            raise DataError("page_size must be at least 1")
        return proposal["value"]

    @traitlets.validate("page")
    def _valid_page(self, proposal):
        return int(np.clip(proposal["value"], 0, max(self.pages - 1, 0)))

    # -- reacting -------------------------------------------------------------------------
    @contextmanager
    def _batch(self):
        """Several trait changes, one refresh."""
        self._hold += 1
        try:
            yield
        finally:
            self._hold -= 1
            if self._hold == 0:
                self._refresh()

    @traitlets.observe("filter_true", "filter_pred", "filter_correct", "page_size")
    def _filters_changed(self, change) -> None:
        with self._batch():
            self.page = 0
            if change["name"] in ("filter_true", "filter_pred") and not self._applying_cell:
                both = self.filter_true is not None and self.filter_pred is not None
                self._applying_cell = True  # the cell follows the filters, nothing else changes
                try:
                    self.selected_cell = (self.filter_true, self.filter_pred) if both else None
                finally:
                    self._applying_cell = False

    @traitlets.observe("selected_cell")
    def _cell_changed(self, change) -> None:
        old, cell = change["old"], change["new"]
        with self._batch():
            if not self._applying_cell:  # a cell chosen: show all of its digits
                self._applying_cell = True
                try:
                    if cell is not None:
                        self.filter_true, self.filter_pred = cell
                        self.filter_correct = "all"
                    elif old is not None and (self.filter_true, self.filter_pred) == tuple(old):
                        self.filter_true = self.filter_pred = None
                finally:
                    self._applying_cell = False
            if self._ready:
                self._syncing = True
                try:
                    self.heatmap.selected = None if cell is None else np.array([cell])
                finally:
                    self._syncing = False

    @traitlets.observe("page")
    def _page_changed(self, change) -> None:
        self._refresh()

    @traitlets.observe("selected_index")
    def _digit_selected(self, change) -> None:
        index = change["new"]
        if index is None or self.released:
            self.saliency.clear()
            return
        p = self.predictions
        digit = as_digit(index, p.images)
        self.saliency.show(digit, int(p.predicted[index]), int(p.labels[index]), index)

    def _refresh(self) -> None:
        if not self._ready or self._hold:
            return
        p = self.predictions
        self._filtered = p.select(self.filter_true, self.filter_pred, self.filter_correct)
        self.set_trait("matching", len(self._filtered))
        self.set_trait("pages", max(1, -(-len(self._filtered) // self.page_size)))
        if self.page >= self.pages:
            self.page = self.pages - 1  # validated and observed; returns here once
            return
        idx = self.page_indices(self.page)
        self.set_trait("shown_indices", [int(i) for i in idx])
        self.sprite.value = self.render_page()
        self._sync_controls()

    # -- the Digits tab -------------------------------------------------------------------
    def _build_digits(self) -> widgets.VBox:
        self.fonts_title = widgets.HTML(self._fonts_title_html())
        self.font_sprite = widgets.Image(value=self._font_png(), format="png")
        self.font_sprite.layout.width = f"{layout_for(len(self.fonts), self.columns).size[0]}px"
        class_options = [("any", ANY)] + [(str(c), c) for c in range(NUM_CLASSES)]
        self.true_dropdown = widgets.Dropdown(
            options=class_options, value=ANY, description="True class", layout={"width": "170px"}
        )
        self.pred_dropdown = widgets.Dropdown(
            options=class_options, value=ANY, description="Predicted", layout={"width": "170px"}
        )
        self.correct_buttons = widgets.ToggleButtons(
            options=list(CORRECT_CHOICES), value="all", style={"button_width": "72px"}
        )
        self.reset_button = widgets.Button(description="Show all", icon="undo")
        self.prev_button = widgets.Button(description="Prev", icon="arrow-left")
        self.next_button = widgets.Button(description="Next", icon="arrow-right")
        self.page_slider = widgets.IntSlider(
            value=1, min=1, max=1, description="Page", continuous_update=False
        )
        self.status = widgets.HTML()
        self.sprite = widgets.Image(format="png")
        self.sprite.layout.width = f"{layout_for(self.page_size, self.columns).size[0]}px"
        self.sprite.add_class("mnist-gallery-page")
        self.sprite_clicks = Event(source=self.sprite, watched_events=["click"])
        self.sprite_clicks.on_dom_event(
            lambda event: (
                self.select_at(event["dataX"], event["dataY"]) if "dataX" in event else None
            )
        )
        self.saliency = SaliencyView(self.model)

        def from_dropdown(trait):
            def handler(change):
                if not self._syncing:
                    setattr(self, trait, None if change["new"] == ANY else change["new"])

            return handler

        self.true_dropdown.observe(from_dropdown("filter_true"), names="value")
        self.pred_dropdown.observe(from_dropdown("filter_pred"), names="value")
        self.correct_buttons.observe(
            lambda c: None if self._syncing else setattr(self, "filter_correct", c["new"]),
            names="value",
        )
        self.page_slider.observe(
            lambda c: None if self._syncing else setattr(self, "page", c["new"] - 1),
            names="value",
        )
        self.prev_button.on_click(lambda _: self.previous_page())
        self.next_button.on_click(lambda _: self.next_page())
        self.reset_button.on_click(lambda _: self.reset_filters())
        return widgets.VBox(
            [
                self.fonts_title,
                self.font_sprite,
                widgets.HBox(
                    [
                        self.true_dropdown,
                        self.pred_dropdown,
                        self.correct_buttons,
                        self.reset_button,
                    ]
                ),
                widgets.HBox([self.prev_button, self.page_slider, self.next_button]),
                self.status,
                widgets.HBox([self.sprite, self.saliency]),
            ]
        )

    def _font_png(self) -> bytes:
        f = self.fonts
        return render_sprite(f.images, f.predicted, f.correct, layout_for(len(f), self.columns))

    def _fonts_title_html(self) -> str:
        f = self.fonts
        return (
            f"<b>Font digits</b> ({int(f.correct.sum())}/{len(f)} right): "
            "printed digits the model never saw"
        )

    def _sync_controls(self) -> None:
        self._syncing = True
        try:
            self.true_dropdown.value = ANY if self.filter_true is None else self.filter_true
            self.pred_dropdown.value = ANY if self.filter_pred is None else self.filter_pred
            self.correct_buttons.value = self.filter_correct
            with self.page_slider.hold_trait_notifications():
                self.page_slider.max = self.pages
                self.page_slider.value = self.page + 1
            self.prev_button.disabled = self.page == 0
            self.next_button.disabled = self.page >= self.pages - 1
        finally:
            self._syncing = False
        self.status.value = self._status_html()

    def _status_html(self) -> str:
        p = self.predictions
        wrong = int((~p.correct[self._filtered]).sum())
        parts = []
        if self.selected_cell is not None:
            t, q = self.selected_cell
            parts.append(f"cell <b>true {t} &rarr; predicted {q}</b>")
        if not self.matching:
            return " &middot; ".join([*parts, "<i>no digit matches these filters</i>"])
        first = self.page * self.page_size + 1
        last = first + len(self.shown_indices) - 1
        parts.append(
            f"digits {first:,}-{last:,} of {self.matching:,} "
            f"(<span class='mnist-wrong'>{wrong:,} wrong</span>, mistakes first)"
        )
        return " &middot; ".join(parts)

    def _header_html(self) -> str:
        p = self.predictions
        return (
            f"<b>Test accuracy {p.accuracy:.2%}</b>: {int((~p.correct).sum()):,} of "
            f"{len(p):,} digits wrong. The predicted class is under each digit, "
            "<span class='mnist-wrong'>in red when it is wrong</span>."
        )

    # -- the Confusion tab ----------------------------------------------------------------
    def _build_confusion(self) -> widgets.VBox:
        from bqplot import Axis, Bars, ColorAxis, ColorScale, Figure, LinearScale, OrdinalScale

        p = self.predictions
        classes = np.arange(NUM_CLASSES)
        rows, cols = OrdinalScale(reverse=True), OrdinalScale()
        # white to a mid blue: the black counts stay readable on the darkest (diagonal) cells
        colour = ColorScale(colors=["#ffffff", "#6baed6"], min=0)
        self.heatmap = _cell_heatmap_class()(
            row=classes,
            column=classes,
            color=p.confusion.astype(float),
            scales={"row": rows, "column": cols, "color": colour},
            display_format=".0f",
            font_style={"font-size": "11px"},
            interactions={"click": "select"},
            selected_style={"opacity": "1.0", "stroke": "orangered", "stroke-width": "3"},
            unselected_style={"opacity": "0.6"},
        )
        self.heatmap.observe(self._heatmap_selected, names="selected")
        self.confusion_figure = Figure(
            marks=[self.heatmap],
            axes=[
                Axis(scale=cols, label="predicted class"),
                Axis(scale=rows, side="left", label="true class"),
                ColorAxis(scale=colour, visible=False),
            ],
            title="Confusion matrix: click a cell to see its digits",
            padding_y=0.0,
            fig_margin={"top": 50, "bottom": 50, "left": 60, "right": 20},
            layout=widgets.Layout(width="460px", height="460px"),
        )
        acc = np.nan_to_num(p.class_accuracy)
        x, y = OrdinalScale(), LinearScale(min=0.0, max=1.0)
        self.class_bars = Bars(
            x=classes,
            y=acc,
            scales={"x": x, "y": y},
            colors=["steelblue"],
            interactions={"click": "select"},
            selected_style={"fill": "darkorange"},
        )
        self.class_bars.observe(self._bar_selected, names="selected")
        self.accuracy_figure = Figure(
            marks=[self.class_bars],
            axes=[
                Axis(scale=x, label="true class"),
                Axis(scale=y, side="left", tick_format=".0%", label="accuracy"),
            ],
            title="Per-class accuracy: click a bar to see that class",
            fig_margin={"top": 50, "bottom": 50, "left": 60, "right": 20},
            layout=widgets.Layout(width="420px", height="300px"),
        )
        self.accuracy_table = widgets.HTML(self._accuracy_table_html())
        return widgets.HBox(
            [self.confusion_figure, widgets.VBox([self.accuracy_figure, self.accuracy_table])]
        )

    def _heatmap_selected(self, change) -> None:
        if self._syncing:
            return
        selected = change["new"]
        if selected is None or len(selected) == 0:
            self.selected_cell = None
            return
        true, predicted = (int(v) for v in np.asarray(selected)[-1])
        self.selected_cell = (true, predicted)
        self.tabs.selected_index = DIGITS_TAB

    def _bar_selected(self, change) -> None:
        selected = change["new"]
        if selected is None or len(selected) == 0:
            return
        with self._batch():
            self.filter_true = int(np.asarray(selected)[-1])
            self.filter_pred = None
        self.tabs.selected_index = DIGITS_TAB

    def _accuracy_table_html(self) -> str:
        p = self.predictions
        rows = []
        for c in range(NUM_CLASSES):
            total = int(p.confusion[c].sum())
            others = p.confusion[c].copy()
            others[c] = 0
            confused = f"{int(others.argmax())} ({int(others.max())})" if others.any() else "-"
            acc = "-" if total == 0 else f"{p.class_accuracy[c]:.1%}"
            rows.append(
                f"<tr><td>{c}</td><td>{total}</td><td>{int(p.confusion[c, c])}</td>"
                f"<td>{acc}</td><td>{confused}</td></tr>"
            )
        head = (
            "<tr><th>class</th><th>digits</th><th>right</th><th>accuracy</th>"
            "<th>most often taken for</th></tr>"
        )
        return f"<table class='mnist-accuracy-table'>{head}{''.join(rows)}</table>"
