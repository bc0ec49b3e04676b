"""What a Keras model stands for in the kit's terms: its layer specs (the inverse of
``build.build``) and the preset whose layers and recipe it uses."""

from __future__ import annotations

import dataclasses
from typing import Any

from ..errors import ModelSpecError
from .recipe import TrainingRecipe
from .spec import ACTIVATIONS, LAYER_KINDS, LayerSpec

CUSTOM = "custom"


def _square(value: Any) -> int | None:
    """``3`` for ``3``, ``(3,)`` or ``(3, 3)``; None for a non-square size."""
    if isinstance(value, int):
        return value
    values = {int(v) for v in value}
    return values.pop() if len(values) == 1 else None


def _activation(config: dict) -> str | None:
    name = config.get("activation")
    return name if isinstance(name, str) and name in ACTIVATIONS else None


def _layer_params(kind: str, config: dict) -> dict[str, Any] | None:
    """The spec parameters of a Keras layer's config, or None when a spec cannot hold it."""
    if kind in ("Flatten", "GlobalAveragePooling2D"):
        return {}
    if kind == "Reshape":
        return {"target_shape": tuple(int(d) for d in config["target_shape"])}
    if kind == "Dropout":
        return {"rate": float(config["rate"])}
    if kind == "Activation":
        activation = _activation(config)
        return None if activation is None else {"activation": activation}
    if kind == "BatchNormalization":
        if config.get("axis", -1) not in (-1, [-1], (-1,), 3, [3]):
            return None
        return {
            "center": bool(config["center"]),
            "scale": bool(config["scale"]),
            "momentum": float(config["momentum"]),
        }
    if kind == "Dense":
        activation = _activation(config)
        if activation is None:
            return None
        return {
            "units": int(config["units"]),
            "activation": activation,
            "use_bias": bool(config["use_bias"]),
        }
    if kind == "Conv2D":
        kernel, strides = _square(config["kernel_size"]), _square(config["strides"])
        dilation = _square(config.get("dilation_rate", 1))
        activation = _activation(config)
        if None in (kernel, strides, activation) or dilation != 1 or config.get("groups", 1) != 1:
            return None
        return {
            "filters": int(config["filters"]),
            "kernel_size": kernel,
            "strides": strides,
            "padding": config["padding"],
            "activation": activation,
            "use_bias": bool(config["use_bias"]),
        }
    if kind == "MaxPooling2D":
        pool, strides = _square(config["pool_size"]), _square(config["strides"] or 0)
        if pool is None or strides is None:
            return None
        return {"pool_size": pool, "strides": strides or pool, "padding": config["padding"]}
    return None


def specs_of_model(model) -> list[LayerSpec] | None:
    """The layer specs a ``keras.Sequential`` model stands for (what ``build`` would turn into
    the same stack), or None when one of its layers is beyond the kit's layer kinds."""
    try:
        shape = tuple(int(d) for d in model.input_shape[1:])
        layers = list(model.layers)
    except (AttributeError, TypeError, ValueError):
        return None
    specs = [LayerSpec("Input", {"shape": shape})]
    for layer in layers:
        kind = type(layer).__name__
        if kind not in LAYER_KINDS or kind == "Input":
            return None
        try:
            params = _layer_params(kind, layer.get_config())
            if params is None:
                return None
            specs.append(LayerSpec(kind, params))
        except (KeyError, TypeError, ValueError, ModelSpecError):
            return None
    return specs


def _same_layers(a: list[LayerSpec], b: list[LayerSpec]) -> bool:
    return len(a) == len(b) and all(
        x.kind == y.kind and x.full_params() == y.full_params() for x, y in zip(a, b, strict=True)
    )


def preset_of(layers: list[LayerSpec] | None, recipe: TrainingRecipe) -> str:
    """The name of the preset with these layers and this recipe (any number of epochs), else
    ``"custom"``."""
    from .presets import EXTRA_PRESETS, PRESETS

    if layers is None:
        return CUSTOM
    for name, preset in {**PRESETS, **EXTRA_PRESETS}.items():
        same_recipe = dataclasses.replace(recipe, epochs=preset.recipe.epochs) == preset.recipe
        if same_recipe and _same_layers(layers, preset.layers):
            return name
    return CUSTOM
