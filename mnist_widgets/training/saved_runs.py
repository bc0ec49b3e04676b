"""A finished (or stopped) ``Trainer`` run as a saved run: its manifest, curves and code."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..models.codegen import to_code
from ..models.identify import preset_of, specs_of_model
from ..runs import RunCurves, RunManifest, SavedRun, save_run
from ..runs.store import now

if TYPE_CHECKING:
    from .engine import Trainer, TrainingResult

STATUS_OF_STOP = {None: "finished", "user": "stopped", "nan": "nan"}


def images_trained(trainer: Trainer) -> float:
    """How many training images the run went through (its last batch's position in epochs
    times the images of one epoch)."""
    x = trainer.history.batch_series()["x"]
    samples = trainer.emitter.samples or 0
    return float(np.max(x)) * samples if len(x) else 0.0


def run_manifest(trainer: Trainer, result: TrainingResult) -> RunManifest:
    """The manifest of ``trainer``'s last run: its recipe as trained (the run's epochs and
    batch size), the layers and preset its model stands for, and how the run went."""
    recipe = dataclasses.replace(
        trainer.recipe, epochs=trainer.epochs, batch_size=trainer.batch_size
    )
    layers = specs_of_model(trainer.model)
    seconds = float(result.seconds)
    images = images_trained(trainer)
    return RunManifest(
        preset=preset_of(layers, recipe),
        layers=layers,
        recipe=recipe,
        parameters=int(trainer.model.count_params()),
        epochs=trainer.epochs,
        epochs_run=result.epochs_run,
        status=STATUS_OF_STOP.get(result.stop_reason, "stopped"),
        message=result.message,
        seconds=seconds,
        images_per_second=images / seconds if seconds > 0 and images else None,
        test_accuracy=result.test_accuracy,
        test_loss=result.test_loss,
        created=now(),
        dataset=trainer.dataset,
        train_images=trainer.emitter.samples,
        device=result.device,
        seed=trainer.seed,
    )


def run_code(manifest: RunManifest) -> str:
    """The generated Keras code of the run, or a note when its layers have no specs."""
    if manifest.layers is None:
        return (
            "# This model has layers beyond the kit's layer kinds: no code was generated.\n"
            "# model.keras holds the trained model: keras.saving.load_model('model.keras')\n"
        )
    return to_code(manifest.layers, manifest.recipe)


def save_training_run(
    folder: str | Path,
    trainer: Trainer,
    result: TrainingResult,
    extras: dict[str, Callable[[Path], object]] | None = None,
) -> SavedRun:
    """Save ``trainer``'s last run (``result``) as a new run folder inside ``folder``."""
    manifest = run_manifest(trainer, result)
    curves = RunCurves.from_history(trainer.history, result.learning_rates)
    return save_run(folder, manifest, curves, run_code(manifest), trainer.model, extras)
