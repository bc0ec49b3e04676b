"""The widgets in Notebook 7 (the ``notebook`` package), driven through the same Chromium.

Notebook 7 is built from JupyterLab's components but is its own application: one document per
page at ``/notebooks/PATH``, its own shell and menus, the widget managers loaded as federated
extensions. These tests run the tour's first rung (builder, dashboard, gallery) and click
through the layer explorer there, and save ``notebook7-tour`` and ``notebook7-explorer``.
"""

from __future__ import annotations

import re

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_tour_first_rung_in_notebook7(notebook7_page, tour):
    """Run All on the tour's first rung: builder, dashboard and gallery render and finish."""
    cells = tour(until_step=2, limit=6000, epochs=3)
    code = [c for c in cells if isinstance(c, str)]
    nb = notebook7_page("tour", cells)
    assert nb.page.url.split("?")[0].endswith("/notebooks/tour.ipynb")  # Notebook 7, not Lab
    nb.run_all(timeout=240)
    nb.assert_no_errors()

    (builder,) = [i for i, c in enumerate(code) if "LayerBuilder(preset=" in c]
    (dashboard,) = [i for i, c in enumerate(code) if "train_in_background" in c]
    (gallery,) = [i for i, c in enumerate(code) if "PredictionGallery(" in c]
    summary = nb.wait_for_widgets(builder).locator("table").first
    summary.wait_for(state="visible")
    assert "7,850" in summary.inner_text()  # 784 x 10 weights + 10 biases
    status = nb.wait_for_widgets(dashboard).locator(".mnist-dashboard-status")
    nb.wait_until(lambda: "finished" in status.inner_text(), 60, "the dashboard to finish")
    assert nb.wait_for_widgets(dashboard).locator(".bqplot.figure").count() >= 3
    view = nb.wait_for_widgets(gallery)
    assert re.search(r"finished after 3 epochs .* test accuracy", nb.output_text(gallery))
    sprite = view.locator("img.widget-image").nth(1)  # the font digits come first
    nb.wait_until(lambda: sprite.evaluate("i => i.complete && i.naturalWidth > 0"), 30, "sprite")
    assert "of 10,000" in view.inner_text()
    nb.assert_no_errors()

    nb.screenshot_page("notebook7-tour", height=1500, top=nb.code_cell(dashboard))


EXPLORER = [
    "from mnist_widgets.data import load_data\n"
    "from mnist_widgets.models import build_model, get_preset\n"
    "from mnist_widgets.training import Trainer\n"
    "from mnist_widgets.widgets import LayerExplorer\n"
    "(x_train, y_train), (x_test, y_test) = load_data(download=False)\n"
    "model = build_model('cnn')\n"
    "Trainer(model, get_preset('cnn').recipe, data=((x_train, y_train), (x_test, y_test)),\n"
    "        limit=2000, epochs=1, seed=0, validate=False, evaluate=False).run()\n"
    "explorer = LayerExplorer(model, (x_test[:500], y_test[:500]))\n"
    "explorer.show(7)\n"
    "explorer",
    # the first convolution's brightest map for this digit, and where its grid draws it
    "channel = int(explorer.activations[0].max(axis=(0, 1)).argmax())\n"
    "grid = explorer.views[0].grid\n"
    "(left, top), (width, height) = grid.origin(channel), grid.cell\n"
    "print('AT', channel, left + width / 2, top + height / 2, grid.count)",
    "print('STATE', *explorer.selected, explorer.digit_index)",
]


def printed(nb, index: int, tag: str) -> list[str]:
    """Run code cell ``index`` and return the words after ``tag`` in its output."""
    nb.run_cell(index)
    nb.wait_until(lambda: tag in nb.output_text(index), 30, f"the line {tag}")
    return nb.output_text(index).split(tag, 1)[1].split()


def test_explorer_click_in_notebook7(notebook7_page):
    """Show a digit, click a feature map: its kernels and top digits appear, the kernel knows."""
    nb = notebook7_page("explorer", EXPLORER)
    nb.run_cell(0, timeout=240)
    view = nb.wait_for_widgets(0)
    assert "test digit 7" in view.inner_text()
    maps = view.locator("img.mnist-explorer-maps")
    nb.wait_until(lambda: maps.count() == 3, 30, "the three convolutions' feature maps")
    brightest, x, y, count = printed(nb, 1, "AT")
    assert int(count) == 12  # the codelab's first convolution has 12 filters

    nb.click_image(maps.first, float(x), float(y))
    detail = view.locator(".mnist-explorer-detail")
    kernels = view.locator("img.mnist-explorer-kernels")
    nb.wait_until(lambda: kernels.is_visible(), 60, "the kernels of the clicked map")
    nb.wait_until(
        lambda: "test digits that excite it most" in detail.inner_text(), 60, "the top digits"
    )
    assert f"channel {brightest}." in detail.inner_text()
    layer, channel, digit = printed(nb, 2, "STATE")
    assert (channel, digit) == (brightest, "7")
    assert layer in maps.first.locator("xpath=..").inner_text()  # the clicked layer's title
    nb.assert_no_errors()
    nb.screenshot(view, "notebook7-explorer")
