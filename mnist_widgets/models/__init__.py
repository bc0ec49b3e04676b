"""Models: the codelab's ladder as presets, layer specs, learning-rate schedules."""

from .presets import PRESETS, Preset, build_model, get_preset, list_presets
from .schedules import ExponentialDecay, schedule_values
from .spec import CompileSpec, LayerSpec, analyse, build, compile_model, to_code

__all__ = [
    "PRESETS",
    "CompileSpec",
    "ExponentialDecay",
    "LayerSpec",
    "Preset",
    "analyse",
    "build",
    "build_model",
    "compile_model",
    "get_preset",
    "list_presets",
    "schedule_values",
    "to_code",
]
