"""The ``LayerBuilder`` widget: edit a layer stack and its training recipe, see
``model.summary()``, errors and code live, and get one Keras model for them."""

from __future__ import annotations

import html
import json
from typing import Any

import ipywidgets as widgets
import traitlets as t

from ...errors import ModelSpecError
from ...models.analyse import LayerReport, analyse
from ...models.build import build, compile_model
from ...models.codegen import to_code
from ...models.presets import EXTRA_PRESETS, PRESETS, get_preset
from ...models.recipe import TrainingRecipe
from ...models.spec import LAYER_KINDS, LayerSpec
from ..styles import with_stylesheet
from .params import check_param, checked_layer, with_setting
from .rows import LayerRow
from .settings import SettingsPanel
from .summary import code_html, first_problem, status_html, summary_html, summary_rows

# the ladder, then the presets beyond it (e.g. cnn-fast)
ALL_PRESETS = {**PRESETS, **EXTRA_PRESETS}
SETTINGS = ("optimizer", "learning_rate", "schedule", "batch_size", "epochs")


class LayerBuilder(widgets.VBox):
    """Build a Keras model layer by layer and see its summary, errors and code live.

    ``LayerBuilder()`` starts empty; ``LayerBuilder(preset="cnn-batchnorm")`` starts from a rung
    of the ladder. The public state is plain data in traits (observe them; a front end reads
    only the child widgets):

    - ``layers``: the stack as ``[{"kind": "Dense", "params": {"units": 200}}, ...]``
    - ``recipe``: the ``TrainingRecipe`` (optimizer, rate, schedule, batch size, epochs, ...)
    - ``preset``: the preset loaded and not edited since, or ''
    - read-only results, updated on every change: ``summary``, ``total_params``,
      ``trainable_params``, ``non_trainable_params``, ``valid``, ``error``, ``error_index``,
      ``code``

    ``builder.model`` is one compiled Keras model of the last valid stack: the same object on
    every access until the stack or the recipe changes, so ``builder.model.fit(...)`` then
    ``builder.model.evaluate(...)`` evaluate the trained weights. A broken edit never loses it.
    """

    layers = t.List(t.Dict(), help="the stack: [{'kind': ..., 'params': {...}}, ...]")
    preset = t.Unicode("", help="the preset loaded and not edited since, or ''")
    recipe = t.Instance(TrainingRecipe, help="what to train with: optimizer, rate, schedule...")

    summary = t.List(t.Dict(), read_only=True, help="one row per layer")
    total_params = t.Int(0, read_only=True)
    trainable_params = t.Int(0, read_only=True)
    non_trainable_params = t.Int(0, read_only=True)
    valid = t.Bool(False, read_only=True)
    error = t.Unicode("", read_only=True, help="what is wrong, '' when valid")
    error_index = t.Int(-1, read_only=True, help="the offending layer, -1 if none")
    code = t.Unicode("", read_only=True, help="tf.keras source of the last valid model")

    @t.default("recipe")
    def _default_recipe(self) -> TrainingRecipe:
        return TrainingRecipe()

    def __init__(
        self,
        preset: str | None = None,
        layers: list[LayerSpec | dict[str, Any]] | None = None,
        **kwargs: Any,
    ) -> None:
        settings = {name: kwargs.pop(name) for name in SETTINGS if name in kwargs}
        recipe = kwargs.pop("recipe", None)
        super().__init__(**kwargs)
        self.add_class("mnist-widget")
        self.add_class("mnist-builder")
        self._rows: list[LayerRow] = []
        self._reports: list[LayerReport] = []
        self._input_errors: dict[int, str] = {}
        self._last_valid: list[LayerSpec] | None = None
        self._last_valid_name = "model"
        self._model: Any = None
        self._model_key: tuple | None = None
        self._loading = False
        self._build_ui()
        if preset:
            self.load_preset(preset)
        if layers is not None:
            self.layers = [checked_layer(layer).to_dict() for layer in layers]
        if recipe is not None:
            self.recipe = recipe
        for name, value in settings.items():
            setattr(self, name, value)
        self._refresh()

    # -- public API ----------------------------------------------------------------------
    @property
    def specs(self) -> list[LayerSpec]:
        """The current stack as LayerSpec objects (copies)."""
        return [LayerSpec.from_dict(layer) for layer in self.layers]

    @property
    def reports(self) -> list[LayerReport]:
        """What ``analyse`` said of each layer at the last change."""
        return list(self._reports)

    @property
    def compile_spec(self) -> TrainingRecipe:
        """The training recipe (the older name of ``recipe``)."""
        return self.recipe

    @property
    def model(self):
        """The compiled ``keras.Model`` of the last valid stack and the recipe: one object
        until either changes."""
        if self._last_valid is None:
            raise ModelSpecError(f"no valid model yet: {self.error}")
        key = (
            json.dumps([s.to_dict() for s in self._last_valid], sort_keys=True),
            self._last_valid_name,
            self.recipe,
        )
        if self._model is None or self._model_key != key:
            model = build(self._last_valid, name=self._last_valid_name)
            self._model, self._model_key = compile_model(model, self.recipe), key
        return self._model

    @property
    def rows(self) -> tuple[LayerRow, ...]:
        """The editor of each layer: its controls, status label, message and buttons."""
        return tuple(self._rows)

    @property
    def setting_controls(self) -> dict[str, widgets.ValueWidget]:
        """The training settings' controls by name (the schedule's as ``schedule.<name>``)."""
        return self._settings.all_controls

    def controls(self, index: int) -> dict[str, widgets.ValueWidget]:
        """The parameter controls of layer ``index``, by parameter name."""
        return dict(self._rows[self._index(index)].controls)

    def add_layer(self, kind: str, index: int | None = None, **params: Any) -> int:
        """Insert a ``kind`` layer at ``index`` (the end when None); returns its index."""
        spec = checked_layer(LayerSpec(kind, params))
        stack = list(self.layers)
        position = len(stack) if index is None else index
        if not -len(stack) - 1 <= position <= len(stack):
            raise ModelSpecError(f"cannot insert at {index}: the stack has {len(stack)} layers")
        if position < 0:
            position += len(stack) + 1
        stack.insert(position, spec.to_dict())
        self.layers = stack
        return position

    def remove_layer(self, index: int) -> None:
        i = self._index(index)
        self.layers = self.layers[:i] + self.layers[i + 1 :]

    def move_layer(self, index: int, delta: int) -> int:
        """Move layer ``index`` by ``delta`` places (-1 up, +1 down); returns its new index."""
        i = self._index(index)
        j = min(max(i + int(delta), 0), len(self.layers) - 1)
        if j != i:
            stack = list(self.layers)
            stack.insert(j, stack.pop(i))
            self.layers = stack
        return j

    def set_param(self, index: int, name: str, value: Any) -> None:
        i = self._index(index)
        layer = self.layers[i]
        value = check_param(layer["kind"], name, value)
        if name in layer["params"] and layer["params"][name] == value:
            return
        stack = list(self.layers)
        stack[i] = {"kind": layer["kind"], "params": {**layer["params"], name: value}}
        self.layers = stack

    def load_preset(self, name: str) -> None:
        """Replace the layers and the training recipe with those of a preset."""
        preset = get_preset(name)
        self._loading = True
        try:
            self.recipe = preset.recipe
            self.layers = [layer.to_dict() for layer in preset.layer_copies()]
            self.preset = name
        finally:
            self._loading = False
        self._render()

    # the recipe's main fields, readable and settable one by one
    def _setting(name: str) -> property:  # noqa: N805 - a property factory, not a method
        def get(self: LayerBuilder) -> Any:
            return getattr(self.recipe, name)

        def set_(self: LayerBuilder, value: Any) -> None:
            try:
                self.recipe = with_setting(self.recipe, name, value)
            except ModelSpecError as exc:
                raise t.TraitError(str(exc)) from None

        return property(get, set_, doc=f"The recipe's {name.replace('_', ' ')}.")

    optimizer = _setting("optimizer")
    learning_rate = _setting("learning_rate")
    schedule = _setting("schedule")
    batch_size = _setting("batch_size")
    epochs = _setting("epochs")
    del _setting

    def close(self) -> None:
        """Close the builder with its layer editors and settings controls."""
        for row in getattr(self, "_rows", ()):
            row.close()
        if getattr(self, "_settings", None) is not None:
            self._settings.close()
        super().close()

    # -- trait validation ----------------------------------------------------------------
    @t.validate("layers")
    def _check_layers(self, proposal: t.Bunch) -> list[dict[str, Any]]:
        try:
            return [checked_layer(layer).to_dict() for layer in proposal.value]
        except (ModelSpecError, KeyError, TypeError, AttributeError) as exc:
            raise t.TraitError(f"bad layer list: {exc}") from None

    @t.validate("preset")
    def _check_preset(self, proposal: t.Bunch) -> str:
        if proposal.value and proposal.value not in ALL_PRESETS:
            raise t.TraitError(
                f"unknown preset {proposal.value!r}; choose one of {', '.join(ALL_PRESETS)}"
            )
        return proposal.value

    # -- observers -----------------------------------------------------------------------
    @t.observe("layers")
    def _on_layers(self, change: t.Bunch) -> None:
        if [row.kind for row in self._rows] != [layer["kind"] for layer in change.new]:
            self._rebuild_rows()
        else:
            for index, (row, layer) in enumerate(zip(self._rows, change.new, strict=True)):
                if row.set_values(LayerSpec.from_dict(layer)):
                    self._input_errors.pop(index, None)
        self._mark_edited()
        self._refresh()

    @t.observe("recipe")
    def _on_recipe(self, change: t.Bunch) -> None:
        if not self._loading:
            self._mark_edited()
            self._render()

    @t.observe("preset")
    def _on_preset(self, change: t.Bunch) -> None:
        if change.new and not self._loading:
            self.load_preset(change.new)

    def _mark_edited(self) -> None:
        if not self._loading and self.preset:
            self.preset = ""

    # -- analysis and rendering ----------------------------------------------------------
    def _refresh(self) -> None:
        try:
            self._reports = analyse(self.specs)
        except Exception as exc:  # analyse promises not to raise; never let a notebook see it
            self._reports = [
                LayerReport(
                    i, layer["kind"], None, error=f"could not analyse: {exc}" if i else None
                )
                for i, layer in enumerate(self.layers)
            ]
        self._render()

    def _render(self) -> None:
        """Write the analysis into the result traits, the table, the row labels and the code."""
        kinds = [layer["kind"] for layer in self.layers]
        if len(self._reports) != len(kinds):
            return  # mid-update: the analysis of the new stack follows
        rows = summary_rows(self._reports, kinds, self._input_errors)
        total = sum(r["params"] for r in rows)
        trainable = sum(r["trainable"] for r in rows)
        error, error_index = first_problem(rows)
        if not error:
            self._last_valid = self.specs
            self._last_valid_name = self.preset.replace("-", "_") if self.preset else "model"
        code = to_code(self._last_valid, self.recipe) if self._last_valid else ""
        self.set_trait("summary", rows)
        self.set_trait("total_params", total)
        self.set_trait("trainable_params", trainable)
        self.set_trait("non_trainable_params", total - trainable)
        self.set_trait("error", error)
        self.set_trait("error_index", error_index)
        self.set_trait("valid", not error)
        self.set_trait("code", code)
        title = self.preset.replace("-", "_") if self.preset else "sequential"
        self.table_view.value = summary_html(title, rows, (total, trainable, total - trainable))
        for row, summary in zip(self._rows, rows, strict=True):
            row.show(summary)
        self.status_view.value = status_html(
            error=error,
            layers=len(rows),
            totals=(total, trainable),
            settings=self._describe_recipe(),
            has_fallback=self._last_valid is not None,
        )
        self.code_view.value = code_html(code, stale=bool(error))

    def _describe_recipe(self) -> str:
        r = self.recipe
        rate = r.schedule.describe() if r.schedule is not None else f"{r.learning_rate:g}"
        return f"{r.optimizer}, rate {rate}, batch {r.batch_size}, {r.epochs} epochs"

    # -- the editor rows -----------------------------------------------------------------
    def _rebuild_rows(self) -> None:
        for row in self._rows:
            row.close()
        self._input_errors.clear()
        count = len(self.layers)
        self._rows = [
            LayerRow(
                i,
                layer,
                count,
                on_param=self._on_control,
                on_move=lambda index, delta: self._safely(self.move_layer, index, delta),
                on_remove=lambda index: self._safely(self.remove_layer, index),
            )
            for i, layer in enumerate(self.layers)
        ]
        if self._rows:
            self._layer_list.children = [row.box for row in self._rows]
            if self.add_menu.value == "Input":
                self.add_menu.value = "Dense"
        else:
            self._layer_list.children = [self._empty_note]
            self.add_menu.value = "Input"  # what an empty stack needs first

    def _on_control(self, index: int, name: str, value: Any) -> None:
        """A control changed in the page: set the parameter, or show why it cannot be."""
        had_input_error = self._input_errors.pop(index, None) is not None
        before = self.layers
        try:
            self.set_param(index, name, value)
        except ModelSpecError as exc:  # a bad typed value: show it on the row, never raise
            self._input_errors[index] = str(exc)
            self._render()
            return
        if had_input_error and self.layers is before:
            self._render()

    def _safely(self, action, *args: Any) -> None:
        try:
            action(*args)
        except ModelSpecError as exc:
            self.status_view.value = html.escape(str(exc))

    def _add_from_menu(self, _button: widgets.Button | None = None) -> None:
        kind = self.add_menu.value
        stack = self.layers
        index = len(stack)
        if kind == "Input":
            index = 0
        elif (
            len(stack) > 1
            and LayerSpec.from_dict(stack[-1]).full_params().get("activation") == "softmax"
        ):
            index = len(stack) - 1  # keep the classifier last
        self._safely(self.add_layer, kind, index)

    def _index(self, index: int) -> int:
        count = len(self.layers)
        if not -count <= index < count:
            raise ModelSpecError(f"there is no layer {index}: the stack has {count} layers")
        return index % count

    # -- layout --------------------------------------------------------------------------
    def _build_ui(self) -> None:
        presets = [("custom", "")] + [
            (f"{p.name}: {p.title}", p.name) for p in ALL_PRESETS.values()
        ]
        self.preset_menu = widgets.Dropdown(
            options=presets,
            description="Preset",
            style={"description_width": "initial"},
            layout={"width": "26em"},
        )
        widgets.link((self, "preset"), (self.preset_menu, "value"))
        self.add_menu = widgets.Dropdown(
            options=list(LAYER_KINDS),
            value="Input",
            description="Add",
            style={"description_width": "initial"},
            layout={"width": "16em"},
        )
        self.add_button = widgets.Button(
            description="Add layer",
            icon="plus",
            tooltip="insert before the final classifier (Input goes first)",
            layout={"width": "8em"},
        )
        self.add_button.on_click(self._add_from_menu)
        title = widgets.HTML("Layer builder")
        title.add_class("mnist-builder-title")
        header = widgets.HBox([title, self.preset_menu, self.add_menu, self.add_button])
        header.add_class("mnist-builder-header")
        self.status_view = widgets.HTML()
        self._empty_note = widgets.HTML("No layers yet: pick a preset, or add an Input layer.")
        self._empty_note.add_class("mnist-empty-note")
        self._layer_list = widgets.VBox([self._empty_note])
        self._layer_list.add_class("mnist-layer-list")
        self.table_view = widgets.HTML()
        self.code_view = widgets.HTML()
        self.code_view.add_class("mnist-code")
        tabs = widgets.Tab(children=[self.table_view, self.code_view], titles=("Summary", "Code"))
        self._settings = SettingsPanel(self)
        body = widgets.HBox([self._layer_list, self._settings.box])
        body.add_class("mnist-builder-body")
        self.children = with_stylesheet([header, self.status_view, body, tabs])
