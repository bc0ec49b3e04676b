"""A model as plain data: a list of layer specs, each a Keras layer kind and its parameters.

The layer builder widget edits these specs; the same specs build the model (``build.py``),
are checked layer by layer (``analyse.py``) and print as code (``codegen.py``), so the three
never disagree.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from ..errors import ModelSpecError

ACTIVATIONS = ("relu", "sigmoid", "tanh", "softmax", "linear", "elu", "gelu", "swish")
PADDINGS = ("same", "valid")


@dataclass(frozen=True)
class ParamInfo:
    """One editable parameter of a layer kind: its default and what values it takes."""

    default: Any
    kind: str  # "int", "float", "bool", "choice", "shape"
    choices: tuple = ()
    minimum: float | None = None
    maximum: float | None = None


LAYER_KINDS: dict[str, dict[str, ParamInfo]] = {
    "Input": {"shape": ParamInfo((28, 28, 1), "shape")},
    "Reshape": {"target_shape": ParamInfo((28, 28, 1), "shape")},
    "Flatten": {},
    "Dense": {
        "units": ParamInfo(200, "int", minimum=1, maximum=100000),
        "activation": ParamInfo("relu", "choice", ACTIVATIONS),
        "use_bias": ParamInfo(True, "bool"),
    },
    "Conv2D": {
        "filters": ParamInfo(12, "int", minimum=1, maximum=4096),
        "kernel_size": ParamInfo(3, "int", minimum=1, maximum=64),
        "strides": ParamInfo(1, "int", minimum=1, maximum=64),
        "padding": ParamInfo("same", "choice", PADDINGS),
        "activation": ParamInfo("relu", "choice", ACTIVATIONS),
        "use_bias": ParamInfo(True, "bool"),
    },
    "MaxPooling2D": {
        "pool_size": ParamInfo(2, "int", minimum=1, maximum=64),
        "strides": ParamInfo(2, "int", minimum=1, maximum=64),
        "padding": ParamInfo("valid", "choice", PADDINGS),
    },
    "GlobalAveragePooling2D": {},
    "BatchNormalization": {
        "center": ParamInfo(True, "bool"),
        "scale": ParamInfo(False, "bool"),
        "momentum": ParamInfo(0.99, "float", minimum=0.0, maximum=1.0),
    },
    "Dropout": {"rate": ParamInfo(0.25, "float", minimum=0.0, maximum=0.99)},
    "Activation": {"activation": ParamInfo("relu", "choice", ACTIVATIONS)},
}
IMAGE_LAYERS = ("Conv2D", "MaxPooling2D", "GlobalAveragePooling2D")


@dataclass
class LayerSpec:
    """One layer: its Keras class name and the parameters that differ from the defaults."""

    kind: str
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in LAYER_KINDS:
            raise ModelSpecError(
                f"unknown layer kind {self.kind!r}; choose one of {', '.join(LAYER_KINDS)}"
            )
        unknown = set(self.params) - set(LAYER_KINDS[self.kind])
        if unknown:
            raise ModelSpecError(f"{self.kind} has no parameter {', '.join(sorted(unknown))}")

    def full_params(self) -> dict[str, Any]:
        """Every parameter, defaults filled in."""
        merged = {name: info.default for name, info in LAYER_KINDS[self.kind].items()}
        merged.update(self.params)
        return merged

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "params": dict(self.params)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LayerSpec:
        params = {
            k: tuple(v) if isinstance(v, list) else v for k, v in data.get("params", {}).items()
        }
        return cls(data["kind"], params)

    def copy(self) -> LayerSpec:
        return copy.deepcopy(self)


def ints(value: Any) -> tuple[int, ...]:
    """A shape parameter (one int, or a list or tuple of them) as a tuple of ints."""
    return tuple(int(v) for v in (value if isinstance(value, (tuple, list)) else (value,)))
