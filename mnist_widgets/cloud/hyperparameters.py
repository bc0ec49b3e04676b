"""The hyperparameters the codelab tunes in the cloud, put into a preset's layers and recipe.

The tuned values replace values in copies of the preset's ``LayerSpec`` list and
``TrainingRecipe``, so the ladder is written once and a run without flags trains exactly
the preset's recipe, as ``mnist-widgets train`` does.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, fields

from ..errors import PresetError
from ..models.presets import Preset
from ..models.recipe import TrainingRecipe
from ..models.schedules import EpochDecay, OneCycle
from ..models.spec import LayerSpec


@dataclass(frozen=True)
class Hyperparameters:
    """What the command line may override; None keeps the preset's value."""

    lr_start: float | None = None
    lr_end: float | None = None
    lr_decay_steps: float | None = None
    dropout: float | None = None
    conv1: int | None = None
    conv2: int | None = None
    conv3: int | None = None
    bn_momentum: float | None = None

    def given(self) -> dict[str, float | int]:
        """The overrides that were set, by name."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return {name: value for name, value in values.items() if value is not None}


def _override(layers: list[LayerSpec], kind: str, param: str, value, flag: str, preset: str):
    targets = [layer for layer in layers if layer.kind == kind]
    if not targets:
        raise PresetError(f"{flag}: preset {preset} has no {kind} layer; pick a preset that does")
    for layer in targets:
        layer.params[param] = value


def layers_with(preset: Preset, hp: Hyperparameters) -> list[LayerSpec]:
    """Copies of the preset's layer specs with the hyperparameters applied."""
    layers = preset.layer_copies()
    if hp.dropout is not None:
        _override(layers, "Dropout", "rate", float(hp.dropout), "--dropout", preset.name)
    if hp.bn_momentum is not None:
        _override(
            layers,
            "BatchNormalization",
            "momentum",
            float(hp.bn_momentum),
            "--bn-momentum",
            preset.name,
        )
    convs = [layer for layer in layers if layer.kind == "Conv2D"]
    for number, width in enumerate((hp.conv1, hp.conv2, hp.conv3), 1):
        if width is None:
            continue
        if len(convs) < number:
            raise PresetError(
                f"--conv{number}: preset {preset.name} has {len(convs)} conv layers; "
                "pick a cnn preset"
            )
        convs[number - 1].params["filters"] = int(width)
    return layers


def recipe_with(preset: Preset, hp: Hyperparameters, steps_per_epoch: int) -> TrainingRecipe:
    """The preset's recipe with the learning-rate flags applied.

    ``--lr-decay-steps N`` makes the rate fall smoothly by a factor e every N steps from
    ``--lr-start`` (default: the preset's first rate) towards ``--lr-end`` (default 0), the
    codelab's cloud schedule. Without it, ``--lr-start`` replaces the preset's initial (or
    peak) rate and ``--lr-end`` the floor of its per-epoch decay.
    """
    recipe = preset.recipe
    schedule = recipe.schedule
    if hp.lr_decay_steps is not None:
        start = hp.lr_start if hp.lr_start is not None else recipe.start_rate()
        end = hp.lr_end if hp.lr_end is not None else 0.0
        if not start > 0 or end < 0 or not hp.lr_decay_steps > 0:
            raise PresetError("learning rates must be positive (end may be 0), decay steps above 0")
        per_epoch = math.exp(-steps_per_epoch / hp.lr_decay_steps)
        decay = EpochDecay(start, per_epoch, floor=end, staircase=False)
        return dataclasses.replace(recipe, schedule=decay)
    if hp.lr_end is not None:
        if not isinstance(schedule, EpochDecay):
            raise PresetError(
                f"--lr-end needs --lr-decay-steps: preset {preset.name} has no decay to a floor"
            )
        if hp.lr_end < 0:
            raise PresetError("--lr-end must be 0 or more")
        schedule = dataclasses.replace(schedule, floor=hp.lr_end)
    if hp.lr_start is not None:
        if isinstance(schedule, EpochDecay):
            schedule = dataclasses.replace(schedule, initial=hp.lr_start)
        elif isinstance(schedule, OneCycle):
            schedule = dataclasses.replace(schedule, peak=hp.lr_start)
        else:
            return dataclasses.replace(recipe, learning_rate=hp.lr_start)
    return dataclasses.replace(recipe, schedule=schedule)
