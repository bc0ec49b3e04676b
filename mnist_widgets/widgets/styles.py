"""The kit's one stylesheet: ``mnist_widgets.css``, shipped with the package.

Widgets name their parts with CSS classes (``add_class``, or ``class="..."`` in HTML they
write) and never style them inline. ``stylesheet()`` is one hidden ``HTML`` widget holding the
rules in a ``<style>`` block; every kit widget carries that same widget as a child, so the
rules reach the page with the first kit widget shown and stay in saved widget state.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

import ipywidgets as widgets

CSS_FILE = "mnist_widgets.css"
STYLESHEET_CLASS = "mnist-stylesheet"

_sheet: widgets.HTML | None = None


@cache
def css() -> str:
    """The text of the package's stylesheet."""
    return resources.files(__package__).joinpath(CSS_FILE).read_text(encoding="utf-8")


def stylesheet() -> widgets.HTML:
    """The hidden widget that puts the stylesheet into the page: one per kernel, shared."""
    global _sheet
    if _sheet is None or _sheet.comm is None:  # first use, or closed since
        _sheet = widgets.HTML(f"<style>\n{css()}</style>", layout={"display": "none"})
        _sheet.add_class(STYLESHEET_CLASS)
    return _sheet


def with_stylesheet(children: list[widgets.Widget]) -> list[widgets.Widget]:
    """``children`` with the stylesheet widget first, for a kit widget's box."""
    return [stylesheet(), *children]
