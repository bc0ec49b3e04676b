"""One editor row per layer: a control per parameter, the layer's output shape and parameter
count, its error message, and buttons to move or remove it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ipywidgets as widgets

from ...errors import ModelSpecError
from ...models.spec import LAYER_KINDS, LayerSpec, ParamInfo
from .params import format_shape, parse_shape
from .summary import row_message_html, row_status_html

ParamHandler = Callable[[int, str, Any], None]
IndexHandler = Callable[[int], None]


def make_control(name: str, info: ParamInfo, value: Any) -> widgets.ValueWidget:
    """The ipywidgets control for one parameter, chosen by ``ParamInfo.kind``."""
    label = name.replace("_", " ")
    common: dict[str, Any] = {
        "description": label,
        "tooltip": name,
        "style": {"description_width": "initial"},
    }

    def width(extra: float) -> dict[str, str]:  # the label's length decides the width
        return {"width": f"{len(label) * 0.62 + extra:.1f}em"}

    if info.kind == "int":
        low = int(info.minimum) if info.minimum is not None else -(2**31)
        high = int(info.maximum) if info.maximum is not None else 2**31 - 1
        control = widgets.BoundedIntText(
            value=int(value), min=low, max=high, layout=width(6.5), **common
        )
    elif info.kind == "float":
        low = info.minimum if info.minimum is not None else -1e12
        high = info.maximum if info.maximum is not None else 1e12
        control = widgets.BoundedFloatText(
            value=float(value),
            min=low,
            max=high,
            step=0.01 if high <= 1 else None,
            layout=width(6.5),
            **common,
        )
    elif info.kind == "bool":
        control = widgets.Checkbox(value=bool(value), indent=False, layout=width(2.5), **common)
    elif info.kind == "choice":
        control = widgets.Dropdown(
            options=list(info.choices), value=value, layout=width(7.5), **common
        )
    elif info.kind == "shape":
        control = widgets.Text(
            value=format_shape(value),
            placeholder="28, 28, 1",
            continuous_update=False,
            layout=width(11),
            **common,
        )
    else:
        raise ModelSpecError(f"parameter {name} has an unknown kind {info.kind!r}")
    control.add_class("mnist-layer-param")
    return control


def control_value(info: ParamInfo, value: Any) -> Any:
    """What a control shows for a spec value."""
    return format_shape(value) if info.kind == "shape" else value


def _button(text: str, tooltip: str, on_click: Callable[[], None]) -> widgets.Button:
    button = widgets.Button(description=text, tooltip=tooltip)
    button.add_class("mnist-layer-button")
    button.on_click(lambda _button: on_click())
    return button


def _html(css_class: str, value: str = "") -> widgets.HTML:
    view = widgets.HTML(value)
    view.add_class(css_class)
    return view


class LayerRow:
    """The editor of layer ``index`` of ``count``; built once per layer kind sequence.

    A control's change calls ``on_param(index, name, value)``; the buttons call ``on_move(index,
    -1 or +1)`` and ``on_remove(index)``. ``show`` writes a summary row into the labels;
    ``set_values`` puts a spec's values into the controls.
    """

    def __init__(
        self,
        index: int,
        layer: dict[str, Any],
        count: int,
        *,
        on_param: ParamHandler,
        on_move: Callable[[int, int], None],
        on_remove: IndexHandler,
    ) -> None:
        self.index = index
        self.kind = layer["kind"]
        spec = LayerSpec.from_dict(layer)
        self.controls: dict[str, widgets.ValueWidget] = {}
        for name, value in spec.full_params().items():
            control = make_control(name, LAYER_KINDS[self.kind][name], value)
            control.observe(lambda change, n=name: on_param(index, n, change.new), "value")
            self.controls[name] = control
        head = _html(
            "mnist-layer-head", f'<span class="mnist-layer-index">{index}</span> <b>{self.kind}</b>'
        )
        params = widgets.HBox(list(self.controls.values()))
        params.add_class("mnist-layer-params")
        self.status = _html("mnist-layer-status")
        self.up = _button("\u25b2", f"move layer {index} up", lambda: on_move(index, -1))
        self.down = _button("\u25bc", f"move layer {index} down", lambda: on_move(index, 1))
        self.remove = _button("\u2715", f"remove layer {index}", lambda: on_remove(index))
        self.up.disabled = index == 0
        self.down.disabled = index == count - 1
        line = widgets.HBox([head, params, self.status, self.up, self.down, self.remove])
        line.add_class("mnist-layer-line")
        self.message = _html("mnist-layer-message")
        self.message.layout.display = "none"
        self.box = widgets.VBox([line, self.message])
        self.box.add_class("mnist-layer")
        self._parts: list[widgets.Widget] = [
            *self.controls.values(),
            head,
            params,
            self.status,
            self.up,
            self.down,
            self.remove,
            line,
            self.message,
            self.box,
        ]

    def show(self, row: dict[str, Any]) -> None:
        """Write one summary row (shape, parameters, error) into this editor's labels."""
        self.status.value = row_status_html(row)
        self.message.value = row_message_html(row["error"])
        if row["error"]:
            self.message.layout.display = None
            self.box.box_style = "danger"
            self.box.add_class("mnist-layer-error")
        else:
            self.message.layout.display = "none"
            self.box.box_style = ""
            self.box.remove_class("mnist-layer-error")

    def set_values(self, spec: LayerSpec) -> bool:
        """Put ``spec``'s values into the controls; True if a typed shape was replaced."""
        replaced = False
        for name, value in spec.full_params().items():
            control, info = self.controls[name], LAYER_KINDS[self.kind][name]
            if info.kind == "shape":
                try:
                    if parse_shape(control.value) == tuple(value):
                        continue  # the same shape, however it was typed
                except ModelSpecError:
                    pass
                replaced = True
            control.value = control_value(info, value)
        return replaced

    def close(self) -> None:
        """Close every widget of the row, with the layout and style widgets each one made."""
        for part in self._parts:
            for extra in (getattr(part, "layout", None), getattr(part, "style", None)):
                if isinstance(extra, widgets.Widget):
                    extra.close()
            part.close()
