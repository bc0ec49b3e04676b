"""A preset's layers with the tuned hyperparameters put in, and its optimizer.

The model comes from the preset's ``LayerSpec`` list (``mnist_widgets.models.spec``); the
hyperparameters the codelab tunes in the cloud replace values in those specs, so the
ladder is written once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import keras

from ..errors import PresetError
from ..models.build import build
from ..models.presets import Preset
from ..models.schedules import EpochDecay
from ..models.spec import LayerSpec
from .schedule import DecayToFloor


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


def learning_rate(preset: Preset, hp: Hyperparameters, steps_per_epoch: int) -> DecayToFloor:
    """The step schedule: the flags where given, else the preset's per-epoch decay in steps.

    A preset rate ``r`` per epoch becomes ``decay_steps = steps_per_epoch / ln(1 / r)``.
    """
    spec = preset.recipe
    schedule = spec.schedule
    if schedule is not None and not isinstance(schedule, EpochDecay):
        if hp.lr_start is None or hp.lr_decay_steps is None:
            raise PresetError(
                f"preset {preset.name} uses {schedule.describe()}, not an exponential decay: "
                "give --lr-start and --lr-decay-steps"
            )
        schedule = None
    start = hp.lr_start if hp.lr_start is not None else spec.start_rate()
    end = hp.lr_end if hp.lr_end is not None else (schedule.floor if schedule else 0.0)
    decay = hp.lr_decay_steps
    if decay is None and schedule is not None and 0 < schedule.rate < 1:
        decay = steps_per_epoch / math.log(1.0 / schedule.rate)
    if decay is None and hp.lr_end is not None:
        raise PresetError(
            f"--lr-end needs --lr-decay-steps: preset {preset.name} keeps its rate constant"
        )
    if not start > 0 or end < 0 or (decay is not None and not decay > 0):
        raise PresetError("learning rates must be positive (end may be 0), decay steps above 0")
    return DecayToFloor(start, end, decay)


def optimizer_class(name: str):
    """The Keras optimizer class of a ``TrainingRecipe.optimizer`` name ("adam", "sgd", ...)."""
    special = {"sgd": "SGD", "rmsprop": "RMSprop", "adamw": "AdamW"}
    return getattr(keras.optimizers, special.get(name, name.capitalize()))


def build_compiled(
    preset: Preset, hp: Hyperparameters, schedule: DecayToFloor, multi_worker: bool = False
):
    """The Keras model for ``preset`` with ``hp``, compiled with the preset's kind of optimizer
    on ``schedule``; call it inside ``strategy.scope()``. ``multi_worker`` gives the
    ``MultiWorkerSequential`` that ``fit`` needs with two or more workers."""
    model = build(layers_with(preset, hp), name=preset.name.replace("-", "_"))
    if multi_worker:
        from .multiworker import MultiWorkerSequential

        model = MultiWorkerSequential(
            [keras.Input(shape=model.input_shape[1:]), *model.layers], name=model.name
        )
    optimizer = optimizer_class(preset.recipe.optimizer)(learning_rate=schedule)
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model
