"""The drawing pad in a real JupyterLab: a digit drawn with the mouse is predicted from the
canvas pixels the front end sends back (``sync_image_data``), and Clear wipes it."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.browser]

CELLS = [
    "from mnist_widgets.models import build_model\n"
    "from mnist_widgets.widgets import DrawingPad\n"
    "pad = DrawingPad(build_model('dense'))  # untrained: only the plumbing is tested here\n"
    "pad",
    "print('PAD', pad.prediction, pad._canvas_fresh, pad.canvas.image_data is not None,\n"
    "      round(sum(pad.probabilities), 3), int(pad.preprocessed.sum() > 0))",
]


def pad_state(nb, index: int = 1) -> list[str]:
    nb.run_cell(index)
    text = nb.wait_until(lambda: "PAD" in nb.output_text(index), 30, "the pad's state")
    assert text
    return nb.output_text(index).split("PAD", 1)[1].split()


def test_a_digit_drawn_with_the_mouse_is_predicted(notebook):
    nb = notebook("drawing", CELLS)
    nb.run_cell(0, timeout=120)
    view = nb.wait_for_widgets(0)
    canvas = view.locator(".mnist-drawing-pad")
    canvas.wait_for(state="visible")
    box = canvas.bounding_box()
    x0, y0 = box["x"], box["y"]
    page = nb.page
    page.mouse.move(x0 + 150, y0 + 50)
    page.mouse.down()
    for step in range(1, 21):  # a slanted "1"
        page.mouse.move(x0 + 150 - step * 0.8, y0 + 50 + step * 9)
        page.wait_for_timeout(20)
    page.mouse.up()
    nb.wait_until(lambda: "It's a" in view.inner_text(), 30, "the pad's answer")
    prediction, fresh, synced, total, inked = pad_state(nb)
    assert prediction != "None" and inked == "1" and float(total) == pytest.approx(1.0)
    assert fresh == "True" and synced == "True"  # predicted from canvas.get_image_data()
    nb.screenshot(view, "drawing-pad")

    view.locator("button", has_text="Clear").click()
    nb.wait_until(lambda: "draw a digit" in view.inner_text(), 30, "the cleared pad")
    prediction, _, _, total, inked = pad_state(nb)
    assert prediction == "None" and inked == "0" and float(total) == 0.0
    nb.assert_no_errors()
