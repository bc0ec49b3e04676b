"""The training settings beside the layers: one control per field of the builder's training
recipe, and one per parameter of its learning-rate schedule, each tied to the recipe by
``ipywidgets.link`` (the recipe is the one source; the controls are views of it)."""

from __future__ import annotations

import dataclasses
import html
import re
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets
import traitlets as t

from ...errors import ModelSpecError
from ...models.recipe import OPTIMIZERS
from ...models.schedules import Schedule
from .params import SETTING_BOUNDS, with_setting

NO_SCHEDULE = "none"


def schedule_kinds() -> dict[str, type[Schedule] | None]:
    """The schedules a user can pick, by label (``epoch decay``, ``one cycle``, ...); ``none``
    (the learning rate throughout) first."""
    kinds: dict[str, type[Schedule] | None] = {NO_SCHEDULE: None}
    for cls in Schedule.__subclasses__():
        if dataclasses.is_dataclass(cls):
            kinds[re.sub(r"(?<!^)(?=[A-Z])", " ", cls.__name__).lower()] = cls
    return kinds


def schedule_kind(schedule: Schedule | None) -> str:
    """The label of a schedule's kind (``none`` for None)."""
    if schedule is None:
        return NO_SCHEDULE
    for label, cls in schedule_kinds().items():
        if type(schedule) is cls:
            return label
    raise ModelSpecError(f"the builder cannot edit a {type(schedule).__name__} schedule")


def default_schedule(kind: str, recipe: Any) -> Any:
    """A schedule of ``kind`` that starts at the recipe's rate and spans its epochs."""
    cls = schedule_kinds()[kind]
    if cls is None:
        return None
    names = {f.name for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    if "epochs" in names:
        values["epochs"] = recipe.epochs
    return cls(**values)


FIELD_TYPES = {"int": int, "float": float, "bool": bool, int: int, float: float, bool: bool}
FIELD_CONTROLS = {int: widgets.IntText, float: widgets.FloatText, bool: widgets.Checkbox}


def schedule_fields(schedule: Schedule) -> dict[str, type]:
    """The parameters of a schedule a control can edit and their types, in declaration order."""
    return {
        f.name: FIELD_TYPES[f.type]
        for f in dataclasses.fields(schedule)
        if f.init and f.type in FIELD_TYPES
    }


class SettingsPanel:
    """Controls for ``owner.recipe``: optimizer, rate, schedule (and its parameters), batch
    size, epochs. A value the recipe refuses leaves the recipe as it was and shows why."""

    def __init__(self, owner: t.HasTraits) -> None:
        self.owner = owner
        self.controls: dict[str, widgets.ValueWidget] = {}
        self.schedule_controls: dict[str, widgets.ValueWidget] = {}
        self._links: list[widgets.link | widgets.dlink] = []
        self._schedule_links: list[widgets.link] = []
        low, high = SETTING_BOUNDS["learning_rate"]
        self._add("optimizer", widgets.Dropdown(options=OPTIMIZERS, description="optimizer"))
        self._add(
            "learning_rate",
            widgets.BoundedFloatText(min=low, max=high, description="learning rate"),
        )
        self.controls["schedule"] = self._control(
            widgets.Dropdown(options=list(schedule_kinds()), description="schedule")
        )
        self._links.append(
            widgets.link(
                (owner, "recipe"),
                (self.controls["schedule"], "value"),
                transform=(lambda r: schedule_kind(r.schedule), self._with_kind),
            )
        )
        self._add(
            "batch_size",
            widgets.BoundedIntText(
                min=1, max=SETTING_BOUNDS["batch_size"][1], description="batch size"
            ),
        )
        self._add(
            "epochs",
            widgets.BoundedIntText(min=1, max=SETTING_BOUNDS["epochs"][1], description="epochs"),
        )
        self._links.append(
            widgets.dlink(
                (owner, "recipe"),
                (self.controls["learning_rate"], "disabled"),
                transform=lambda r: r.schedule is not None,
            )
        )
        self.schedule_box = widgets.VBox()
        self.schedule_box.add_class("mnist-schedule")
        self.message = widgets.HTML()
        self.message.add_class("mnist-error-text")
        title = widgets.HTML("<b>Training</b>")
        order = ["optimizer", "learning_rate", "schedule"]
        self.box = widgets.VBox(
            [
                title,
                *(self.controls[n] for n in order),
                self.schedule_box,
                self.controls["batch_size"],
                self.controls["epochs"],
                self.message,
            ]
        )
        self.box.add_class("mnist-settings")
        self._shown_kind: str | None = None
        owner.observe(self._on_recipe, "recipe")
        self._show_schedule(owner.recipe)

    @property
    def all_controls(self) -> dict[str, widgets.ValueWidget]:
        """Every settings control by name; the schedule's parameters as ``schedule.<name>``."""
        extra = {f"schedule.{n}": c for n, c in self.schedule_controls.items()}
        return {**self.controls, **extra}

    # -- building --------------------------------------------------------------------------
    @staticmethod
    def _control(control: widgets.ValueWidget) -> widgets.ValueWidget:
        control.style.description_width = "8em"
        control.add_class("mnist-setting")
        return control

    def _add(self, name: str, control: widgets.ValueWidget) -> None:
        self.controls[name] = self._control(control)
        self._links.append(
            widgets.link(
                (self.owner, "recipe"),
                (control, "value"),
                transform=(
                    lambda r: getattr(r, name),
                    lambda value: self._checked(lambda r: with_setting(r, name, value)),
                ),
            )
        )

    def _checked(self, change: Callable[[Any], Any]) -> Any:
        """``change(recipe)``, or the recipe unchanged (and the reason shown) if refused."""
        recipe = self.owner.recipe
        try:
            new = change(recipe)
        except (ModelSpecError, ValueError, TypeError) as exc:
            self.message.value = f"&#9888; {html.escape(str(exc))}"
            return recipe
        self.message.value = ""
        return new

    def _with_kind(self, kind: str) -> Any:
        def change(recipe: Any) -> Any:
            if schedule_kind(recipe.schedule) == kind:
                return recipe
            return dataclasses.replace(recipe, schedule=default_schedule(kind, recipe))

        return self._checked(change)

    # -- the schedule's parameters ---------------------------------------------------------
    def _on_recipe(self, change: t.Bunch) -> None:
        self._show_schedule(change.new)

    def _show_schedule(self, recipe: Any) -> None:
        """Rebuild the schedule's controls when its kind changes (values follow by links)."""
        kind = schedule_kind(recipe.schedule)
        if kind == self._shown_kind:
            return
        self._shown_kind = kind
        for link in self._schedule_links:
            link.unlink()
        for control in self.schedule_controls.values():
            control.close()
        self._schedule_links, self.schedule_controls = [], {}
        if recipe.schedule is not None:
            for name, kind in schedule_fields(recipe.schedule).items():
                self._add_schedule_control(name, kind)
        self.schedule_box.children = list(self.schedule_controls.values())

    def _add_schedule_control(self, name: str, kind: type) -> None:
        control = self._control(FIELD_CONTROLS[kind](description=name.replace("_", " ")))
        self.schedule_controls[name] = control

        def forward(recipe: Any) -> Any:
            return getattr(recipe.schedule, name, control.value)

        def backward(value: Any) -> Any:
            return self._checked(
                lambda r: dataclasses.replace(
                    r, schedule=dataclasses.replace(r.schedule, **{name: value})
                )
            )

        self._schedule_links.append(
            widgets.link((self.owner, "recipe"), (control, "value"), transform=(forward, backward))
        )

    def close(self) -> None:
        """Untie the controls from the recipe and close them."""
        self.owner.unobserve(self._on_recipe, "recipe")
        for link in [*self._links, *self._schedule_links]:
            link.unlink()
        self._links, self._schedule_links = [], []
        for control in self.all_controls.values():
            control.close()
