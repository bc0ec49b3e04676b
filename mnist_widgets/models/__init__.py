"""Models: what to train. Layer specs, the codelab's ladder as presets, training recipes,
learning-rate schedules, and the one place that builds and compiles them."""

from .analyse import analyse
from .build import build, compile_model
from .codegen import to_code
from .presets import PRESETS, Preset, build_model, get_preset, list_presets
from .recipe import TrainingRecipe
from .schedules import Constant, EpochDecay, OneCycle, Schedule, schedule_values
from .spec import LayerSpec

__all__ = [
    "PRESETS",
    "Constant",
    "EpochDecay",
    "LayerSpec",
    "OneCycle",
    "Preset",
    "Schedule",
    "TrainingRecipe",
    "analyse",
    "build",
    "build_model",
    "compile_model",
    "get_preset",
    "list_presets",
    "schedule_values",
    "to_code",
]
