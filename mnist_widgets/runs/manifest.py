"""A run's manifest (``run.json``): what was trained, how, and how it went, as plain JSON."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from ..errors import ModelSpecError, RunError
from ..models.recipe import TrainingRecipe
from ..models.schedules import Constant, EpochDecay, OneCycle, Schedule
from ..models.spec import LayerSpec

FORMAT = "mnist-widgets run"
FORMAT_VERSION = 1
STATUSES = ("finished", "stopped", "nan")
SCHEDULES: dict[str, type[Schedule]] = {s.__name__: s for s in (Constant, EpochDecay, OneCycle)}


def recipe_to_dict(recipe: TrainingRecipe) -> dict[str, Any]:
    """The recipe as JSON data; the schedule as ``{"kind": class name, **its fields}``."""
    data = dataclasses.asdict(recipe)
    schedule = recipe.schedule
    data["schedule"] = (
        None
        if schedule is None
        else {"kind": type(schedule).__name__, **dataclasses.asdict(schedule)}
    )
    data["betas"] = list(recipe.betas) if recipe.betas is not None else None
    return data


def recipe_from_dict(data: dict[str, Any]) -> TrainingRecipe:
    """The ``TrainingRecipe`` that ``recipe_to_dict`` wrote; RunError when it is not one."""
    try:
        values = dict(data)
        schedule = values.get("schedule")
        if schedule is not None:
            schedule = dict(schedule)
            kind = schedule.pop("kind")
            if kind not in SCHEDULES:
                raise RunError(f"unknown learning-rate schedule {kind!r}")
            values["schedule"] = SCHEDULES[kind](**schedule)
        if values.get("betas") is not None:
            values["betas"] = tuple(values["betas"])
        return TrainingRecipe(**values)
    except (TypeError, KeyError, ValueError, AttributeError, ModelSpecError) as exc:
        raise RunError(f"the recipe does not read back ({exc})") from None


def _number(value: Any) -> float | None:
    """A finite float, or None (JSON has no NaN)."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


@dataclass
class RunManifest:
    """What ``run.json`` holds.

    ``preset`` is the preset whose layers and recipe the run used (any number of epochs),
    else "custom"; ``layers`` is None for a model the kit's layer kinds cannot describe.
    ``recipe`` is the recipe as trained (its epochs and batch size those of the run).
    ``epochs`` were planned, ``epochs_run`` ran; ``status`` is "finished", "stopped" (by
    the user) or "nan" (a NaN loss ended it). ``seconds`` is the wall time of training,
    validation included; ``created`` an ISO 8601 time in UTC.
    """

    preset: str
    layers: list[LayerSpec] | None
    recipe: TrainingRecipe
    parameters: int
    epochs: int
    epochs_run: int
    status: str
    seconds: float
    images_per_second: float | None
    test_accuracy: float | None
    created: str
    test_loss: float | None = None
    message: str = ""
    dataset: str = "mnist"
    train_images: int | None = None
    device: str = ""
    seed: int | None = None
    extra_files: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise RunError(f"unknown run status {self.status!r}; one of {', '.join(STATUSES)}")

    @property
    def stopped_early(self) -> bool:
        return self.status != "finished"

    def to_dict(self) -> dict[str, Any]:
        data = {"format": FORMAT, "format_version": FORMAT_VERSION}
        for item in dataclasses.fields(self):
            data[item.name] = getattr(self, item.name)
        data["layers"] = None if self.layers is None else [s.to_dict() for s in self.layers]
        data["recipe"] = recipe_to_dict(self.recipe)
        for name in ("seconds", "images_per_second", "test_accuracy", "test_loss"):
            data[name] = _number(data[name])
        return data

    @classmethod
    def from_dict(cls, data: Any) -> RunManifest:
        """Read ``to_dict``'s output; RunError with a one-line reason when it is not one."""
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise RunError(f'not a run manifest (no "format": "{FORMAT}")')
        version = data.get("format_version")
        if not isinstance(version, int) or version < 1:
            raise RunError(f"bad format_version {version!r}")
        if version > FORMAT_VERSION:
            raise RunError(
                f"written by a newer mnist-widgets (format {version}, this one reads "
                f"{FORMAT_VERSION}): upgrade the package"
            )
        names = {item.name for item in dataclasses.fields(cls)}
        required = {
            item.name
            for item in dataclasses.fields(cls)
            if item.default is dataclasses.MISSING and item.default_factory is dataclasses.MISSING
        }
        missing = sorted(required - set(data))
        if missing:
            raise RunError(f"the manifest lacks {', '.join(missing)}")
        values = {name: data[name] for name in names if name in data}
        try:
            layers = values["layers"]
            values["layers"] = (
                None if layers is None else [LayerSpec.from_dict(layer) for layer in layers]
            )
        except (TypeError, KeyError, AttributeError, ModelSpecError) as exc:
            raise RunError(f"the layer list does not read back ({exc})") from None
        values["recipe"] = recipe_from_dict(values["recipe"])
        try:
            for name in ("parameters", "epochs", "epochs_run"):
                values[name] = int(values[name])
            for name in ("seconds", "images_per_second", "test_accuracy", "test_loss"):
                values[name] = _number(values.get(name))
        except (TypeError, ValueError) as exc:
            raise RunError(f"a number in the manifest is not one ({exc})") from None
        if values["seconds"] is None:
            raise RunError("the manifest has no wall time (seconds)")
        return cls(**values)
