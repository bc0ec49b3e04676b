"""The layer builder: edit a layer stack and its training settings, see ``model.summary()`` live.

The widget edits plain data (a list of ``LayerSpec`` dicts and a ``TrainingRecipe``); the same
data builds the Keras model and writes its code, so the two never disagree. Its public state
is a small set of synced traits; everything else hangs off observers:

- ``layers``: the stack as ``[{"kind": "Dense", "params": {"units": 200}}, ...]``
- ``optimizer``, ``learning_rate``, ``schedule``, ``decay_initial``, ``decay_rate``,
  ``batch_size``, ``epochs``: the training settings
- ``summary``, ``total_params``, ``trainable_params``, ``non_trainable_params``, ``valid``,
  ``error``, ``error_index``, ``code``: read-only results, updated on every change

``builder.model`` is a fresh compiled model of the last valid stack, so a broken edit never
loses it; train it with ``Trainer(builder.model, builder.compile_spec)``, which applies the
schedule, batch size and epochs.

A control change re-analyses the stack and rewrites the table and labels in place; the
per-layer editors are rebuilt only when the sequence of layer kinds changes (add, remove,
move, load a preset).
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import ipywidgets as widgets
import traitlets as t

from ..errors import ModelSpecError
from ..models.analyse import LayerReport, analyse
from ..models.build import build, compile_model
from ..models.codegen import to_code
from ..models.presets import PRESETS, get_preset
from ..models.recipe import OPTIMIZERS, TrainingRecipe
from ..models.schedules import EpochDecay
from ..models.spec import LAYER_KINDS, LayerSpec, ParamInfo

# bounds shared by the training-settings traits and their controls, so neither clamps the other
RATE_BOUNDS = (1e-6, 10.0)
DECAY_BOUNDS = (1e-3, 1.0)
BATCH_BOUNDS = (1, 65536)
EPOCH_BOUNDS = (1, 1000)
SCHEDULES = ("none", "exponential")

EMPTY_MESSAGE = "the model has no layers: add an Input layer first, or load a preset"
ERROR_COLOUR = "#d32f2f"
ERROR_BACKGROUND = "rgba(229, 57, 53, 0.12)"
MONO = "var(--jp-code-font-family, monospace)"


# -- values: parse, check and show layer parameters --------------------------------------------
def parse_shape(value: Any) -> tuple[int, ...]:
    """``"28, 28, 1"``, ``"(784,)"``, ``[28, 28, 1]`` or ``784`` -> a tuple of ints."""
    if isinstance(value, str):
        parts = [p for p in re.split(r"[\s,()\[\]]+", value) if p]
        if not parts or not all(re.fullmatch(r"[+-]?\d+", p) for p in parts):
            raise ModelSpecError(
                f"shape {value.strip()!r} is not a list of whole numbers: write e.g. 28, 28, 1"
            )
        return tuple(int(p) for p in parts)
    items = value if isinstance(value, (tuple, list)) else (value,)
    if not items or not all(_is_int(v) for v in items):
        raise ModelSpecError(
            f"shape {value!r} is not a list of whole numbers: write e.g. 28, 28, 1"
        )
    return tuple(int(v) for v in items)


def format_shape(shape: Any) -> str:
    return ", ".join(str(d) for d in shape)


def _is_int(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    try:
        return int(value) == value
    except (TypeError, ValueError):
        return False


def check_param(kind: str, name: str, value: Any) -> Any:
    """``value`` converted to the type ``LAYER_KINDS[kind][name]`` takes, or ModelSpecError."""
    if kind not in LAYER_KINDS:
        raise ModelSpecError(f"unknown layer kind {kind!r}; choose one of {', '.join(LAYER_KINDS)}")
    info = LAYER_KINDS[kind].get(name)
    if info is None:
        known = ", ".join(LAYER_KINDS[kind]) or "no parameters"
        raise ModelSpecError(f"{kind} has no parameter {name!r} (it has {known})")
    if info.kind == "shape":
        return parse_shape(value)
    if info.kind == "bool":
        if not isinstance(value, (bool, int)) or value not in (0, 1):
            raise ModelSpecError(f"{kind} {name} must be True or False, got {value!r}")
        return bool(value)
    if info.kind == "choice":
        if value not in info.choices:
            raise ModelSpecError(
                f"{kind} {name} must be one of {', '.join(info.choices)}, got {value!r}"
            )
        return value
    if info.kind == "int":
        if not _is_int(value):
            raise ModelSpecError(f"{kind} {name} must be a whole number, got {value!r}")
        number: float = int(value)
    else:
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ModelSpecError(f"{kind} {name} must be a number, got {value!r}") from None
    low, high = info.minimum, info.maximum
    if (low is not None and number < low) or (high is not None and number > high):
        raise ModelSpecError(f"{kind} {name} must be between {low:g} and {high:g}, got {value!r}")
    return number


def checked_layer(data: LayerSpec | dict[str, Any]) -> LayerSpec:
    """A LayerSpec from a spec or its dict, every parameter value checked."""
    spec = data.copy() if isinstance(data, LayerSpec) else LayerSpec.from_dict(data)
    spec.params = {name: check_param(spec.kind, name, v) for name, v in spec.params.items()}
    return spec


# -- the summary, the way Keras prints it ----------------------------------------------------
def _snake(kind: str) -> str:
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", kind)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def layer_names(kinds: list[str]) -> list[str]:
    """Keras-style names: ``input_layer``, ``conv2d``, ``conv2d_1``, ``dense``, ..."""
    seen: dict[str, int] = {}
    names = []
    for kind in kinds:
        base = "input_layer" if kind == "Input" else _snake(kind)
        count = seen.get(base, 0)
        seen[base] = count + 1
        names.append(base if count == 0 else f"{base}_{count}")
    return names


def keras_shape(shape: tuple | None) -> str:
    if shape is None:
        return "?"
    return "(" + ", ".join(["None", *(str(d) for d in shape)]) + ")"


def readable_size(params: int) -> str:
    """The memory of ``params`` float32 weights, as Keras' summary writes it."""
    size = params * 4.0
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024:
            return f"{size:.2f} {unit}"
        size /= 1024
    return f"{size:.2f} TB"


def _cell(text: str, *, right: bool = False, extra: str = "") -> str:
    align = "right" if right else "left"
    return f'<td style="padding:2px 14px 2px 4px;text-align:{align};{extra}">{text}</td>'


def summary_html(title: str, rows: list[dict[str, Any]], totals: tuple[int, int, int]) -> str:
    """``model.summary()`` as an HTML table; error rows in red with their message below."""
    e = html.escape
    head = (
        "".join(
            f'<th style="padding:2px 14px 2px 4px;text-align:{a}">{h}</th>'
            for h, a in (("#", "left"), ("Layer (type)", "left"), ("Output Shape", "left"))
        )
        + '<th style="padding:2px 4px;text-align:right">Param #</th>'
    )
    body = []
    for row in rows:
        bad = bool(row["error"])
        style = f' style="background:{ERROR_BACKGROUND};color:{ERROR_COLOUR}"' if bad else ""
        params = f"{row['params']:,}" if row["output_shape"] is not None else "?"
        cells = [
            _cell(str(row["index"])),
            _cell(f"{e(row['name'])} ({e(row['type'])})"),
            _cell(e(keras_shape(row["output_shape"]))),
            _cell(params, right=True),
        ]
        body.append(f"<tr{style}>{''.join(cells)}</tr>")
        if bad:
            body.append(
                f'<tr{style}><td></td><td colspan="3" style="padding:0 4px 4px 4px;'
                f'white-space:normal">&#9888; {e(row["error"])}</td></tr>'
            )
    if not rows:
        body.append('<tr><td colspan="4" style="padding:4px;opacity:0.7">(no layers)</td></tr>')
    total, trainable, frozen = totals
    foot = (
        f"<b>Total params:</b> {total:,} ({readable_size(total)})<br>"
        f"<b>Trainable params:</b> {trainable:,} ({readable_size(trainable)})<br>"
        f"<b>Non-trainable params:</b> {frozen:,} ({readable_size(frozen)})"
    )
    return (
        f'<div style="font-family:{MONO};font-size:12px;line-height:1.5">'
        f'<div>Model: "<b>{e(title)}</b>"</div>'
        '<table style="border-collapse:collapse;margin:4px 0">'
        f'<thead><tr style="border-top:2px solid #888;border-bottom:1px solid #888">{head}</tr>'
        f"</thead><tbody>{''.join(body)}</tbody></table>"
        f'<div style="border-top:2px solid #888;padding-top:4px">{foot}</div></div>'
    )


# -- one editor row per layer ----------------------------------------------------------------
@dataclass
class LayerRow:
    """The widgets of one layer's editor (rebuilt only when the layer kinds change)."""

    kind: str
    box: widgets.VBox
    controls: dict[str, widgets.ValueWidget]
    status: widgets.HTML
    message: widgets.HTML
    up: widgets.Button
    down: widgets.Button
    remove: widgets.Button
    parts: list[widgets.Widget] = field(default_factory=list)

    def close(self) -> None:
        for part in self.parts:
            for extra in (getattr(part, "layout", None), getattr(part, "style", None)):
                if isinstance(extra, widgets.Widget):
                    extra.close()
            part.close()


def _control_width(label: str, extra: float) -> widgets.Layout:
    return widgets.Layout(width=f"{len(label) * 0.62 + extra:.1f}em", margin="2px 6px 2px 0")


def make_control(name: str, info: ParamInfo, value: Any) -> widgets.ValueWidget:
    """The ipywidgets control for one parameter, chosen by ``ParamInfo.kind``."""
    label = name.replace("_", " ")
    common: dict[str, Any] = {
        "description": label,
        "tooltip": name,
        "style": {"description_width": "initial"},
    }
    if info.kind == "int":
        low = int(info.minimum) if info.minimum is not None else -(2**31)
        high = int(info.maximum) if info.maximum is not None else 2**31 - 1
        return widgets.BoundedIntText(
            value=int(value), min=low, max=high, layout=_control_width(label, 6.5), **common
        )
    if info.kind == "float":
        low = info.minimum if info.minimum is not None else -1e12
        high = info.maximum if info.maximum is not None else 1e12
        return widgets.BoundedFloatText(
            value=float(value),
            min=low,
            max=high,
            step=0.01 if high <= 1 else None,
            layout=_control_width(label, 6.5),
            **common,
        )
    if info.kind == "bool":
        return widgets.Checkbox(
            value=bool(value), indent=False, layout=_control_width(label, 2.5), **common
        )
    if info.kind == "choice":
        return widgets.Dropdown(
            options=list(info.choices), value=value, layout=_control_width(label, 7.5), **common
        )
    if info.kind == "shape":
        return widgets.Text(
            value=format_shape(value),
            placeholder="28, 28, 1",
            continuous_update=False,
            layout=_control_width(label, 11),
            **common,
        )
    raise ModelSpecError(f"parameter {name} has an unknown kind {info.kind!r}")


def control_value(info: ParamInfo, value: Any) -> Any:
    """What a control shows for a spec value."""
    return format_shape(value) if info.kind == "shape" else value


# -- the widget --------------------------------------------------------------------------------
class LayerBuilder(widgets.VBox):
    """Build a Keras model layer by layer and see its summary, errors and code live.

    ``LayerBuilder()`` starts empty; ``LayerBuilder(preset="cnn-batchnorm")`` starts from a rung
    of the ladder. ``builder.model`` is a fresh compiled model of the last valid stack and
    ``builder.code`` its tf.keras source.
    """

    layers = t.List(t.Dict(), help="the stack: [{'kind': ..., 'params': {...}}, ...]").tag(
        sync=True
    )
    preset = t.Unicode("", help="the preset loaded and not edited since, or ''").tag(sync=True)
    optimizer = t.Enum(OPTIMIZERS, "adam").tag(sync=True)
    learning_rate = t.Float(0.001).tag(sync=True)
    schedule = t.Enum(SCHEDULES, "none", help="'none' or 'exponential' decay").tag(sync=True)
    decay_initial = t.Float(0.01, help="learning rate of epoch 0 under the schedule").tag(sync=True)
    decay_rate = t.Float(0.6, help="factor applied to the rate each epoch").tag(sync=True)
    batch_size = t.Int(128).tag(sync=True)
    epochs = t.Int(10).tag(sync=True)

    summary = t.List(t.Dict(), read_only=True, help="one row per layer").tag(sync=True)
    total_params = t.Int(0, read_only=True).tag(sync=True)
    trainable_params = t.Int(0, read_only=True).tag(sync=True)
    non_trainable_params = t.Int(0, read_only=True).tag(sync=True)
    valid = t.Bool(False, read_only=True).tag(sync=True)
    error = t.Unicode("", read_only=True, help="what is wrong, '' when valid").tag(sync=True)
    error_index = t.Int(-1, read_only=True, help="the offending layer, -1 if none").tag(sync=True)
    code = t.Unicode("", read_only=True, help="tf.keras source of the last valid model").tag(
        sync=True
    )

    _COMPILE_TRAITS = (
        "optimizer",
        "learning_rate",
        "schedule",
        "decay_initial",
        "decay_rate",
        "batch_size",
        "epochs",
    )
    _ready = False

    def __init__(
        self,
        preset: str | None = None,
        layers: list[LayerSpec | dict[str, Any]] | None = None,
        **kwargs: Any,
    ) -> None:
        settings = {name: kwargs.pop(name) for name in self._COMPILE_TRAITS if name in kwargs}
        super().__init__(**kwargs)
        self._rows: list[LayerRow] = []
        self._reports: list[LayerReport] = []
        self._input_errors: dict[int, str] = {}
        self._last_valid: list[LayerSpec] | None = None
        self._loading = False
        self._syncing = False
        self._build_ui()
        self._ready = True
        if preset:
            self.load_preset(preset)
        if layers is not None:
            self.layers = [checked_layer(layer).to_dict() for layer in layers]
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
        schedule = None
        if self.schedule == "exponential":
            schedule = EpochDecay(self.decay_initial, self.decay_rate)
        return TrainingRecipe(
            self.optimizer, self.learning_rate, schedule, self.batch_size, self.epochs
        )

    @property
    def model(self):
        """A fresh compiled ``keras.Model`` of the last valid stack (the current one if valid)."""
        if self._last_valid is None:
            raise ModelSpecError(f"no valid model yet: {self.error}")
        name = self.preset.replace("-", "_") if self.valid and self.preset else "model"
        return compile_model(build(self._last_valid, name=name), self.compile_spec)

    @property
    def rows(self) -> tuple[LayerRow, ...]:
        """The editor of each layer: its controls, status label, message and buttons."""
        return tuple(self._rows)

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
        if layer["params"].get(name, None) == value and name in layer["params"]:
            return
        stack = list(self.layers)
        stack[i] = {"kind": layer["kind"], "params": {**layer["params"], name: value}}
        self.layers = stack

    def load_preset(self, name: str) -> None:
        """Replace the layers and training settings with those of a preset."""
        preset = get_preset(name)
        c = preset.recipe
        self._loading = True
        try:
            with self.hold_sync():
                self.layers = [layer.to_dict() for layer in preset.layer_copies()]
                self.optimizer = c.optimizer
                self.learning_rate = c.learning_rate
                self.schedule = "exponential" if c.schedule else "none"
                if c.schedule is not None:
                    self.decay_initial = c.schedule.initial
                    self.decay_rate = c.schedule.rate
                self.batch_size = c.batch_size
                self.epochs = c.epochs
                self.preset = name
        finally:
            self._loading = False
        self._render()

    # -- trait validation ----------------------------------------------------------------
    @t.validate("layers")
    def _check_layers(self, proposal: t.Bunch) -> list[dict[str, Any]]:
        try:
            return [checked_layer(layer).to_dict() for layer in proposal.value]
        except (ModelSpecError, KeyError, TypeError, AttributeError) as exc:
            raise t.TraitError(f"bad layer list: {exc}") from None

    @t.validate("preset")
    def _check_preset(self, proposal: t.Bunch) -> str:
        if proposal.value and proposal.value not in PRESETS:
            raise t.TraitError(
                f"unknown preset {proposal.value!r}; choose one of {', '.join(PRESETS)}"
            )
        return proposal.value

    @t.validate("learning_rate", "decay_initial", "decay_rate", "batch_size", "epochs")
    def _check_setting(self, proposal: t.Bunch) -> Any:
        name = proposal.trait.name
        low, high = {
            "learning_rate": RATE_BOUNDS,
            "decay_initial": RATE_BOUNDS,
            "decay_rate": DECAY_BOUNDS,
            "batch_size": BATCH_BOUNDS,
            "epochs": EPOCH_BOUNDS,
        }[name]
        if not low <= proposal.value <= high:
            raise t.TraitError(f"{name} must be between {low:g} and {high:g}, got {proposal.value}")
        return proposal.value

    # -- observers -----------------------------------------------------------------------
    @t.observe("layers")
    def _on_layers(self, change: t.Bunch) -> None:
        if not self._ready:
            return
        if [row.kind for row in self._rows] != [layer["kind"] for layer in change.new]:
            self._rebuild_rows()
        else:
            self._sync_rows()
        self._mark_edited()
        self._refresh()

    @t.observe(*_COMPILE_TRAITS)
    def _on_setting(self, change: t.Bunch) -> None:
        if not self._ready:
            return
        self._show_schedule()
        if not self._loading:
            self._mark_edited()
            self._render()

    @t.observe("preset")
    def _on_preset(self, change: t.Bunch) -> None:
        if not self._ready:
            return
        self.preset_menu.value = change.new
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

    def _row_summaries(self) -> list[dict[str, Any]]:
        kinds = [layer["kind"] for layer in self.layers]
        rows = []
        for report, name in zip(self._reports, layer_names(kinds), strict=True):
            error = self._input_errors.get(report.index) or report.error
            rows.append(
                {
                    "index": report.index,
                    "name": name,
                    "type": "InputLayer" if report.kind == "Input" else report.kind,
                    "output_shape": report.output_shape,
                    "params": report.params,
                    "trainable": report.trainable,
                    "error": error or "",
                }
            )
        return rows

    def _render(self) -> None:
        """Write the analysis into the traits, the table, the row labels and the code."""
        rows = self._row_summaries()
        total = sum(r["params"] for r in rows)
        trainable = sum(r["trainable"] for r in rows)
        bad = next((r for r in rows if r["error"]), None)
        if bad is not None:
            error, error_index = (
                f"layer {bad['index']} ({bad['type']}): {bad['error']}",
                bad["index"],
            )
        elif not rows:
            error, error_index = EMPTY_MESSAGE, -1
        else:
            error, error_index = "", -1
        if not error:
            self._last_valid = self.specs
        code = to_code(self._last_valid, self.compile_spec) if self._last_valid else ""
        title = self.preset.replace("-", "_") if self.preset else "sequential"
        with self.hold_sync():
            self.set_trait("summary", rows)
            self.set_trait("total_params", total)
            self.set_trait("trainable_params", trainable)
            self.set_trait("non_trainable_params", total - trainable)
            self.set_trait("error", error)
            self.set_trait("error_index", error_index)
            self.set_trait("valid", not error)
            self.set_trait("code", code)
        self.table_view.value = summary_html(title, rows, (total, trainable, total - trainable))
        for row, summary in zip(self._rows, rows, strict=True):
            self._render_row(row, summary)
        self._render_status()
        self._render_code()

    def _render_row(self, row: LayerRow, summary: dict[str, Any]) -> None:
        if summary["output_shape"] is None:
            status = '<span style="opacity:0.6">&mdash;</span>'
        else:
            shape = html.escape(keras_shape(summary["output_shape"]))
            status = (
                f'<div style="line-height:1.3;font-size:12px"><span style="font-family:{MONO}">'
                f'{shape}</span><br><span style="opacity:0.75">{summary["params"]:,} params</span>'
                "</div>"
            )
        row.status.value = status
        if summary["error"]:
            row.message.value = (
                f'<div style="color:{ERROR_COLOUR};white-space:normal">'
                f"&#9888; {html.escape(summary['error'])}</div>"
            )
            row.message.layout.display = None
            row.box.box_style = "danger"
            row.box.layout.border = f"1px solid {ERROR_COLOUR}"
        else:
            row.message.value = ""
            row.message.layout.display = "none"
            row.box.box_style = ""
            row.box.layout.border = "1px solid transparent"

    def _render_status(self) -> None:
        if self.valid:
            schedule = (
                f", rate {self.compile_spec.schedule.describe()}"
                if self.schedule == "exponential"
                else f", rate {self.learning_rate:g}"
            )
            self.status_view.value = (
                f'<div style="color:#2e7d32">&#10004; {len(self.layers)} layers, '
                f"{self.total_params:,} parameters ({self.trainable_params:,} trainable); "
                f"{self.optimizer}{schedule}, batch {self.batch_size}, {self.epochs} epochs"
                "</div>"
            )
            return
        fallback = (
            " <span style='opacity:0.8'>builder.model still gives the last valid model.</span>"
            if self._last_valid
            else ""
        )
        self.status_view.value = (
            f'<div style="color:{ERROR_COLOUR};background:{ERROR_BACKGROUND};padding:2px 6px;'
            f'border-radius:3px;white-space:normal">&#10008; {html.escape(self.error)}'
            f"{fallback}</div>"
        )

    def _render_code(self) -> None:
        note = ""
        if not self.valid and self.code:
            note = (
                f'<div style="color:{ERROR_COLOUR}">The stack has an error: this is the code of '
                "the last valid model.</div>"
            )
        body = html.escape(self.code) if self.code else "# no valid model yet"
        self.code_view.value = (
            f'{note}<pre style="font-family:{MONO};font-size:12px;line-height:1.4;'
            f'user-select:text;margin:4px 0">{body}</pre>'
        )

    # -- the editor rows -----------------------------------------------------------------
    def _rebuild_rows(self) -> None:
        for row in self._rows:
            row.close()
        self._input_errors.clear()
        count = len(self.layers)
        self._rows = [self._make_row(i, layer, count) for i, layer in enumerate(self.layers)]
        if self._rows:
            self._layer_list.children = [row.box for row in self._rows]
            if self.add_menu.value == "Input":
                self.add_menu.value = "Dense"
        else:
            self._layer_list.children = [self._empty_note]
            self.add_menu.value = "Input"  # what an empty stack needs first

    def _make_row(self, index: int, layer: dict[str, Any], count: int) -> LayerRow:
        kind = layer["kind"]
        spec = LayerSpec.from_dict(layer)
        controls: dict[str, widgets.ValueWidget] = {}
        for name, value in spec.full_params().items():
            info = LAYER_KINDS[kind][name]
            control = make_control(name, info, value)
            control.observe(self._control_handler(index, name), "value")
            controls[name] = control
        head = widgets.HTML(
            f'<span style="opacity:0.6;font-family:{MONO}">{index}</span> <b>{kind}</b>',
            layout=widgets.Layout(width="13.5em", flex="0 0 auto"),
        )
        params = widgets.HBox(
            list(controls.values()), layout=widgets.Layout(flex="1 1 auto", flex_flow="row wrap")
        )
        status = widgets.HTML(layout=widgets.Layout(width="12em", flex="0 0 auto"))
        up = self._button("\u25b2", f"move layer {index} up", lambda _: self._safe_move(index, -1))
        down = self._button(
            "\u25bc", f"move layer {index} down", lambda _: self._safe_move(index, 1)
        )
        remove = self._button("\u2715", f"remove layer {index}", lambda _: self._safe_remove(index))
        up.disabled = index == 0
        down.disabled = index == count - 1
        line = widgets.HBox(
            [head, params, status, up, down, remove],
            layout=widgets.Layout(align_items="center", width="100%"),
        )
        message = widgets.HTML(layout=widgets.Layout(display="none", margin="0 0 2px 14em"))
        box = widgets.VBox(
            [line, message],
            layout=widgets.Layout(
                padding="2px 4px", margin="1px 0", border="1px solid transparent"
            ),
        )
        row = LayerRow(kind, box, controls, status, message, up, down, remove)
        row.parts = [*controls.values(), head, params, status, up, down, remove, line, message, box]
        return row

    @staticmethod
    def _button(text: str, tooltip: str, on_click: Callable) -> widgets.Button:
        button = widgets.Button(
            description=text,
            tooltip=tooltip,
            layout=widgets.Layout(width="2.2em", padding="0", margin="0 1px", flex="0 0 auto"),
        )
        button.on_click(on_click)
        return button

    def _control_handler(self, index: int, name: str) -> Callable[[t.Bunch], None]:
        def on_change(change: t.Bunch) -> None:
            if self._syncing:
                return
            had_input_error = self._input_errors.pop(index, None) is not None
            before = self.layers
            try:
                self.set_param(index, name, change.new)
            except ModelSpecError as exc:  # a bad typed value: show it on the row, never raise
                self._input_errors[index] = str(exc)
                self._render()
                return
            if had_input_error and self.layers is before:
                self._render()

        return on_change

    def _sync_rows(self) -> None:
        """Put the spec's values into the existing controls (same kinds, new values)."""
        self._syncing = True
        try:
            for index, (row, layer) in enumerate(zip(self._rows, self.layers, strict=True)):
                spec = LayerSpec.from_dict(layer)
                for name, value in spec.full_params().items():
                    control = row.controls[name]
                    info = LAYER_KINDS[spec.kind][name]
                    if info.kind == "shape":
                        try:
                            if parse_shape(control.value) == tuple(value):
                                continue
                        except ModelSpecError:
                            pass
                        self._input_errors.pop(index, None)
                    control.value = control_value(info, value)
        finally:
            self._syncing = False

    def _safe_move(self, index: int, delta: int) -> None:
        try:
            self.move_layer(index, delta)
        except ModelSpecError as exc:
            self.status_view.value = html.escape(str(exc))

    def _safe_remove(self, index: int) -> None:
        try:
            self.remove_layer(index)
        except ModelSpecError as exc:
            self.status_view.value = html.escape(str(exc))

    def _safe_add(self, _button: widgets.Button | None = None) -> None:
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
        try:
            self.add_layer(kind, index)
        except ModelSpecError as exc:
            self.status_view.value = html.escape(str(exc))

    def _index(self, index: int) -> int:
        count = len(self.layers)
        if not -count <= index < count:
            raise ModelSpecError(f"there is no layer {index}: the stack has {count} layers")
        return index % count

    # -- layout --------------------------------------------------------------------------
    def _build_ui(self) -> None:
        presets = [("custom", "")] + [(f"{p.name}: {p.title}", p.name) for p in PRESETS.values()]
        self.preset_menu = widgets.Dropdown(
            options=presets,
            value="",
            description="Preset",
            style={"description_width": "initial"},
            layout=widgets.Layout(width="26em"),
        )
        self.preset_menu.observe(self._on_preset_menu, "value")
        self.add_menu = widgets.Dropdown(
            options=list(LAYER_KINDS),
            value="Input",
            description="Add",
            style={"description_width": "initial"},
            layout=widgets.Layout(width="16em"),
        )
        self.add_button = widgets.Button(
            description="Add layer",
            icon="plus",
            tooltip="insert before the final classifier (Input goes first)",
            layout=widgets.Layout(width="8em"),
        )
        self.add_button.on_click(self._safe_add)
        header = widgets.HBox(
            [
                widgets.HTML("<b style='font-size:14px'>Layer builder</b>"),
                self.preset_menu,
                self.add_menu,
                self.add_button,
            ],
            layout=widgets.Layout(align_items="center", flex_flow="row wrap", grid_gap="12px"),
        )
        self.status_view = widgets.HTML()
        self._empty_note = widgets.HTML(
            "<i style='opacity:0.7'>No layers yet: pick a preset, or add an Input layer.</i>"
        )
        self._layer_list = widgets.VBox(
            [self._empty_note], layout=widgets.Layout(flex="3 1 36em", min_width="30em")
        )
        self.table_view = widgets.HTML()
        self.code_view = widgets.HTML()
        tabs = widgets.Tab(children=[self.table_view, self.code_view], titles=("Summary", "Code"))
        body = widgets.HBox(
            [self._layer_list, self._settings_panel()],
            layout=widgets.Layout(flex_flow="row wrap", align_items="flex-start", width="100%"),
        )
        self.children = [header, self.status_view, body, tabs]

    def _settings_panel(self) -> widgets.VBox:
        def bound(name: str, make: type, description: str, **options: Any) -> widgets.Widget:
            control = make(
                value=getattr(self, name),
                description=description,
                style={"description_width": "8em"},
                layout=widgets.Layout(width="18em"),  # one each: display is toggled per control
                **options,
            )
            control.observe(lambda change: setattr(self, name, change.new), "value")
            self.observe(lambda change: setattr(control, "value", change.new), name)
            return control

        rates = {"min": RATE_BOUNDS[0], "max": RATE_BOUNDS[1]}
        self.setting_controls = {
            "optimizer": bound("optimizer", widgets.Dropdown, "optimizer", options=OPTIMIZERS),
            "learning_rate": bound(
                "learning_rate", widgets.BoundedFloatText, "learning rate", **rates
            ),
            "schedule": bound("schedule", widgets.Dropdown, "schedule", options=SCHEDULES),
            "decay_initial": bound(
                "decay_initial", widgets.BoundedFloatText, "initial rate", **rates
            ),
            "decay_rate": bound(
                "decay_rate",
                widgets.BoundedFloatText,
                "decay / epoch",
                min=DECAY_BOUNDS[0],
                max=DECAY_BOUNDS[1],
                step=0.01,
            ),
            "batch_size": bound(
                "batch_size", widgets.BoundedIntText, "batch size", min=1, max=BATCH_BOUNDS[1]
            ),
            "epochs": bound("epochs", widgets.BoundedIntText, "epochs", min=1, max=EPOCH_BOUNDS[1]),
        }
        self._show_schedule()
        return widgets.VBox(
            [widgets.HTML("<b>Training</b>"), *self.setting_controls.values()],
            layout=widgets.Layout(flex="1 0 18em", padding="0 0 0 12px"),
        )

    def _show_schedule(self) -> None:
        decaying = self.schedule == "exponential"
        for name in ("decay_initial", "decay_rate"):
            self.setting_controls[name].layout.display = None if decaying else "none"
        lr = self.setting_controls["learning_rate"]
        lr.disabled = decaying
        lr.tooltip = "the schedule's initial rate is used" if decaying else "learning rate"

    def _on_preset_menu(self, change: t.Bunch) -> None:
        if change.new != self.preset:
            self.preset = change.new
