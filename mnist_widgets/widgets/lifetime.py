"""When a widget holding large arrays lets them go: a re-run cell replaces it, or ``close()``.

Re-running a notebook cell replaces its output on the page, but ipywidgets keeps every widget
it made alive in the kernel (with all it refers to: model, predictions, scores) until the
widget is closed. A widget that calls ``replace_earlier(self)`` when it is made closes the
widgets of its own class that earlier runs of the same cell made. Widgets made in other
cells, or twice in one run of a cell, stay.
"""

from __future__ import annotations

import weakref

import ipywidgets as widgets

from .styles import STYLESHEET_CLASS

# cell id -> [(id of the run that made it, the widget)]
_made: dict[str, list[tuple[str, weakref.ref]]] = {}


def running_cell() -> tuple[str, str] | None:
    """``(cell id, run id)`` of the notebook cell the kernel is running, else None.

    JupyterLab, Notebook 7 and VS Code send the cell's id with each execute request; the run
    id is that request's message id, new at each run.
    """
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    kernel = getattr(get_ipython(), "kernel", None)
    if kernel is None or not hasattr(kernel, "get_parent"):
        return None
    parent = kernel.get_parent("shell") or {}
    header = parent.get("header") or {}
    cell = (parent.get("metadata") or {}).get("cellId")
    if header.get("msg_type") != "execute_request" or not cell:
        return None
    return str(cell), str(header.get("msg_id"))


def replace_earlier(widget, where: tuple[str, str] | None = None) -> int:
    """Close the widgets of ``widget``'s class made by earlier runs of the cell running now
    (``where``: ``(cell id, run id)``, by default ``running_cell()``); returns how many."""
    where = where or running_cell()
    if where is None:
        return 0
    cell, run = where
    kept, closed = [], 0
    for earlier_run, ref in _made.get(cell, []):
        old = ref()
        if old is None:
            continue
        if earlier_run != run and type(old) is type(widget):
            old.close()
            closed += 1
        else:
            kept.append((earlier_run, ref))
    kept.append((run, weakref.ref(widget)))
    _made[cell] = kept
    return closed


def held_widgets(widget: widgets.Widget) -> list[widgets.Widget]:
    """The widgets ``widget`` holds in its public synced traits: children, marks, axes,
    scales, layout... (private ones, such as ipycanvas' ``_canvas_manager``, can be shared by
    every widget of a kernel and are left out)."""
    found = []
    for name in widget.keys:
        if name.startswith("_"):
            continue
        value = getattr(widget, name, None)
        values = value.values() if isinstance(value, dict) else value
        if not isinstance(values, (list, tuple, type({}.values()))):
            values = (values,)
        found.extend(v for v in values if isinstance(v, widgets.Widget))
    return found


def close_parts(root: widgets.Widget) -> None:
    """Close every widget ``root`` holds, directly or deeper (not ``root`` itself, nor the
    kit's shared stylesheet)."""
    seen = {id(root)}
    stack = held_widgets(root)
    while stack:
        widget = stack.pop()
        if id(widget) in seen or STYLESHEET_CLASS in getattr(widget, "_dom_classes", ()):
            continue
        seen.add(id(widget))
        stack.extend(held_widgets(widget))
        widget.close()
