"""The rules for what the builder accepts: layer parameters, shapes and training settings."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from ...errors import ModelSpecError
from ...models.spec import LAYER_KINDS, LayerSpec

# bounds shared by the training-settings controls and the checks, so neither clamps the other
SETTING_BOUNDS: dict[str, tuple[float, float]] = {
    "learning_rate": (1e-6, 10.0),
    "batch_size": (1, 65536),
    "epochs": (1, 1000),
}


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
    if not items or not all(is_whole(v) for v in items):
        raise ModelSpecError(
            f"shape {value!r} is not a list of whole numbers: write e.g. 28, 28, 1"
        )
    return tuple(int(v) for v in items)


def format_shape(shape: Any) -> str:
    """A shape as its editor shows it: ``28, 28, 1``."""
    return ", ".join(str(d) for d in shape)


def is_whole(value: Any) -> bool:
    """True for ints and integral floats, never for bools."""
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
        if not is_whole(value):
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


def check_setting(name: str, value: Any) -> Any:
    """A training setting within its bounds, or ModelSpecError."""
    low, high = SETTING_BOUNDS.get(name, (None, None))
    if low is not None and not low <= value <= high:
        raise ModelSpecError(f"{name} must be between {low:g} and {high:g}, got {value}")
    return value


def with_setting(recipe: Any, name: str, value: Any) -> Any:
    """A copy of the training recipe with ``name`` set to ``value``, checked.

    Switching to an optimizer without Adam's betas drops the betas rather than failing.
    """
    value = check_setting(name, value)
    try:
        return dataclasses.replace(recipe, **{name: value})
    except ModelSpecError:
        if name != "optimizer" or recipe.betas is None:
            raise
        return dataclasses.replace(recipe, optimizer=value, betas=None)
