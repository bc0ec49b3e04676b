"""The layer explorer and the gallery's saliency in a real JupyterLab: a click on a feature
map (through ipyevents) shows its kernels and top digits; a click on a digit in the gallery
shows its saliency and moves the explorer to it."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SETUP = """\
import keras
from mnist_widgets.data import load_data
from mnist_widgets.models import build_model
from mnist_widgets.widgets import LayerExplorer, PredictionGallery

keras.utils.set_random_seed(0)
(x_train, y_train), (x_test, y_test) = load_data(download=False)
model = build_model("cnn-batchnorm")
model.fit(x_train[:3000, ..., None] / 255.0, y_train[:3000], epochs=1, batch_size=64, verbose=0)
data = (x_test[:1000], y_test[:1000])
explorer = LayerExplorer(model, data)
explorer.show(0)
explorer"""
GALLERY = """\
gallery = PredictionGallery(model, data, draw=False, page_size=20)
explorer.follow(gallery)
gallery"""
STATE = "print('STATE', explorer.selected, explorer.digit_index, gallery.selected_index)"


def state(nb, index: int = 2) -> list[str]:
    nb.run_cell(index)
    nb.wait_until(lambda: "STATE" in nb.output_text(index), 30, "the explorer's state")
    return nb.output_text(index).split("STATE", 1)[1].split()


def test_clicking_a_feature_map_and_a_gallery_digit(notebook):
    nb = notebook("explorer", [SETUP, GALLERY, STATE])
    nb.run_cell(0, timeout=240)
    view = nb.wait_for_widgets(0)
    grid = view.locator("img.mnist-explorer-maps").first
    # cell 3 of the first convolution's grid: cells of 56 px with 3 px gaps (pictures.py)
    nb.click_image(grid, 3 + 3 * 59 + 28, 3 + 28)
    kernels = view.locator("img.mnist-explorer-kernels")
    nb.wait_until(lambda: kernels.is_visible(), 60, "the kernels of the clicked map")
    nb.wait_until(
        lambda: "test digits that excite it most" in view.inner_text(), 60, "the top digits"
    )
    assert "channel 3" in view.locator(".mnist-explorer-detail").inner_text()

    nb.run_cell(1, timeout=120)
    gallery = nb.wait_for_widgets(1)
    # the second digit of the page: cells 60 px wide, digits start 2 px in (sprites.py)
    nb.click_image(gallery.locator("img.mnist-gallery-page"), 60 + 30, 30)
    saliency = gallery.locator(".mnist-saliency")
    nb.wait_until(lambda: saliency.is_visible(), 60, "the saliency of the clicked digit")
    assert "toward" in saliency.inner_text()
    selected, channel, digit, chosen = state(nb)
    assert channel.rstrip(")") == "3"
    assert digit == chosen and digit != "None"
    nb.wait_until(lambda: f"test digit {digit}" in view.inner_text(), 30, "the explorer to follow")
    nb.screenshot(view, "explorer")
    nb.screenshot(gallery, "gallery-saliency")
    nb.assert_no_errors()
