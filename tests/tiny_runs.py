"""Tiny saved runs for the run tests: models trained for a few batches on a small subset."""

from __future__ import annotations

from pathlib import Path

from mnist_widgets.models import build, get_preset
from mnist_widgets.models.spec import LayerSpec
from mnist_widgets.training import Trainer

TRAIN_IMAGES = 512  # 4 batches of 128 (the dense preset's batch size) an epoch
TEST_IMAGES = 200


def tiny_data(mnist):
    (x_train, y_train), (x_test, y_test) = mnist
    return (x_train[:TRAIN_IMAGES], y_train[:TRAIN_IMAGES]), (
        x_test[:TEST_IMAGES],
        y_test[:TEST_IMAGES],
    )


def narrower_dense() -> list[LayerSpec]:
    """The ``dense`` preset with its 60-unit layer cut to 30 units: a custom model."""
    layers = get_preset("dense").layer_copies()
    layers[2] = LayerSpec("Dense", {"units": 30, "activation": "relu"})
    return layers


def train_run(
    folder: str | Path | None,
    data,
    layers: list[LayerSpec] | None = None,
    preset: str = "dense",
    epochs: int = 2,
    **trainer_args,
) -> Trainer:
    """Train ``layers`` (default: the preset's) with the preset's recipe for ``epochs``
    epochs, saving the run into ``folder``; return the trainer (``result`` set)."""
    recipe = get_preset(preset).recipe
    model = build(layers or get_preset(preset).layers, name="tiny")
    trainer = Trainer(
        model,
        recipe,
        data=data,
        epochs=epochs,
        seed=1,
        runs=folder,
        **trainer_args,
    )
    trainer.run()
    return trainer


def two_runs(folder: str | Path, mnist) -> list[Trainer]:
    """The ``dense`` preset and its narrower custom variant, saved into ``folder``."""
    data = tiny_data(mnist)
    return [train_run(folder, data), train_run(folder, data, layers=narrower_dense())]
