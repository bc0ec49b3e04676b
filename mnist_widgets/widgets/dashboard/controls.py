"""The dashboard's status line, progress bar and Stop/Pause buttons.

Every part follows a trait of the run it shows through ``ipywidgets.dlink``: the buttons
are enabled while ``running``, Pause reads Resume while ``paused``, the status line turns
into a warning when ``state`` is "nan".
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from html import escape

import ipywidgets as widgets
from traitlets import HasTraits

STATUS_CLASS = "mnist-dashboard-status"
WARNING_CLASS = "mnist-dashboard-warning"


def _status_classes(state: str) -> tuple[str, ...]:
    return (STATUS_CLASS, WARNING_CLASS) if state == "nan" else (STATUS_CLASS,)


class RunControls(widgets.VBox):
    """Status, progress, Pause/Resume and Stop for ``run``.

    ``run`` has the traits ``status``, ``state``, ``running``, ``paused``, ``done``
    (epochs done, fractional), ``epochs`` and ``progress_text``; clicks call ``on_pause``
    (which toggles Pause and Resume) and ``on_stop``.
    """

    def __init__(
        self, run: HasTraits, on_pause: Callable[[], None], on_stop: Callable[[], None]
    ) -> None:
        super().__init__()
        self.status = widgets.Label()
        self.progress = widgets.FloatProgress(value=0.0, min=0.0, max=1.0)
        self.progress_label = widgets.HTML()
        self.pause_button = widgets.Button(description="Pause", icon="pause")
        self.stop_button = widgets.Button(description="Stop", icon="stop")
        self.progress.add_class("mnist-dashboard-bar")
        self.progress_label.add_class("mnist-dashboard-progress")
        self.pause_button.on_click(lambda _: on_pause())
        self.stop_button.on_click(lambda _: on_stop())

        dlink = widgets.dlink
        dlink((run, "status"), (self.status, "value"))
        dlink((run, "state"), (self.status, "_dom_classes"), _status_classes)
        dlink((run, "progress_text"), (self.progress_label, "value"), escape)
        dlink((run, "epochs"), (self.progress, "max"), lambda epochs: float(max(epochs, 1)))
        dlink((run, "done"), (self.progress, "value"))
        for button in (self.pause_button, self.stop_button):
            dlink((run, "running"), (button, "disabled"), operator.not_)
        dlink((run, "running"), (self.stop_button, "button_style"), _danger_while)
        dlink((run, "paused"), (self.pause_button, "description"), _pause_label)
        dlink((run, "paused"), (self.pause_button, "icon"), _pause_icon)

        line = widgets.HBox(
            [self.progress, self.progress_label, self.pause_button, self.stop_button]
        )
        line.add_class("mnist-dashboard-controls")
        self.children = [self.status, line]


def _danger_while(running: bool) -> str:
    return "danger" if running else ""


def _pause_label(paused: bool) -> str:
    return "Resume" if paused else "Pause"


def _pause_icon(paused: bool) -> str:
    return "play" if paused else "pause"
