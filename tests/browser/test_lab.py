"""The three widgets in a real JupyterLab, driven through Debian's Chromium.

Each test writes a small notebook, opens it, runs its cells with JupyterLab's Run menu and
checks what the page shows: widgets rendered (no "Error displaying widget"), training curves
that grow while a fit runs on a worker thread, a Stop button that ends the fit, a confusion
matrix click that changes the gallery. Screenshots go to ``test-output/screenshots/``.
"""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.browser

PLAIN_WIDGETS = [
    ("markdown", "# Smoke test: plain ipywidgets and bqplot"),
    "import ipywidgets as widgets\n"
    "slider = widgets.IntSlider(value=7, max=10, description='n')\n"
    "slider",
    "import bqplot.pyplot as plt\n"
    "figure = plt.figure(title='squares')\n"
    "line = plt.plot([0, 1, 2, 3], [0, 1, 4, 9])\n"
    "figure",
    "print('slider value', slider.value)",
]


def path_points(path_d: str | None) -> int:
    """How many points an SVG path's ``d`` draws (one per M or L command)."""
    return len(re.findall(r"[ML]", path_d or ""))


def test_plain_widgets_render(notebook):
    """The widget manager and bqplot's front end are installed and working."""
    nb = notebook("smoke", PLAIN_WIDGETS)
    nb.run_all(timeout=120)
    slider = nb.wait_for_widgets(0)
    assert "widget-slider" in (slider.get_attribute("class") or "")
    assert slider.locator(".widget-readout").inner_text().strip() == "7"

    figure = nb.wait_for_widgets(1)
    line = figure.locator("path.line").first
    nb.wait_until(lambda: path_points(line.get_attribute("d")) == 4, 30, "the line's 4 points")
    assert "squares" in figure.locator("text.mainheading").text_content()

    # a change made in the page reaches the kernel: move the slider with the keyboard
    slider.locator(".noUi-handle").focus()
    nb.page.keyboard.press("ArrowRight")
    nb.wait_until(lambda: "8" in slider.locator(".widget-readout").inner_text(), 15, "readout 8")
    nb.run_cell(2)
    assert "slider value 8" in nb.output_text(2)
    nb.assert_no_errors()
