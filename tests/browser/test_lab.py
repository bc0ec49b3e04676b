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


# -- the layer builder -------------------------------------------------------------------------
BUILDER = [
    "from mnist_widgets.widgets import LayerBuilder\n"
    "builder = LayerBuilder(preset='cnn-batchnorm')\n"
    "builder",
    "print('BUILDER', builder.total_params, len(builder.layers), repr(builder.preset))",
]


def summary_rows(view) -> list[list[str]]:
    """The summary table's rows as lists of cell texts."""
    rows = view.locator("table").first.locator("tbody tr")
    return [row.locator("td").all_inner_texts() for row in rows.all()]


def params_of(rows: list[list[str]], layer: str) -> int:
    """The Param # of the first row whose name contains ``layer``."""
    row = next(r for r in rows if any(layer in cell for cell in r))
    return int(row[-1].replace(",", ""))


def test_builder_summary_follows_edits(notebook):
    nb = notebook("builder", BUILDER)
    nb.run_cell(0, timeout=240)
    view = nb.wait_for_widgets(0, timeout=120)
    nb.assert_no_errors()

    table = view.locator("table").first
    table.wait_for(state="visible")
    rows = summary_rows(view)
    names = " ".join(r[1] for r in rows if len(r) > 1)
    assert "(Conv2D)" in names and "(BatchNormalization)" in names, names
    # the codelab's first convolution: 3x3 kernels, 1 input channel, 12 filters, no bias
    assert params_of(rows, "(Conv2D)") == 3 * 3 * 1 * 12
    assert any("(None, 28, 28, 12)" in cell for r in rows for cell in r)
    nb.screenshot(view, "builder-cnn-batchnorm")

    # load another rung of the ladder from the preset menu: the table follows
    preset = view.locator(".widget-dropdown", has=nb.page.locator("label", has_text="Preset"))
    select = preset.locator("select").first
    dense_label = next(
        o for o in select.locator("option").all_inner_texts() if o.startswith("dense:")
    )
    select.select_option(label=dense_label)
    nb.wait_until(
        lambda: "(Conv2D)" not in table.inner_text() and "(Dense)" in table.inner_text(),
        30,
        "the summary of the dense preset",
    )
    assert params_of(summary_rows(view), "(Dense)") == 784 * 200 + 200

    # edit the first Dense layer's units: its parameter count and the next layer's change
    units = view.locator(".widget-text", has=nb.page.locator("label", has_text="units"))
    field = units.first.locator("input")
    field.fill("100")
    field.press("Enter")
    nb.wait_until(
        lambda: params_of(summary_rows(view), "(Dense)") == 784 * 100 + 100,
        30,
        "the first Dense layer to have 78,500 parameters",
    )
    rows = summary_rows(view)
    dense_params = [int(r[-1].replace(",", "")) for r in rows if "(Dense)" in r[1]]
    assert dense_params == [784 * 100 + 100, 100 * 60 + 60, 60 * 10 + 10]
    nb.screenshot(view, "builder-dense")

    nb.run_cell(1)
    total, layers, name = nb.output_text(1).split("BUILDER", 1)[1].split()
    assert int(total) == sum(dense_params) and int(layers) == 4
    assert name == "''"  # edited: no longer the preset as loaded
    nb.assert_no_errors()


# -- the training dashboard ------------------------------------------------------------------
DASHBOARD = [
    "from mnist_widgets.data import load_data\n"
    "from mnist_widgets.models import build_model, get_preset\n"
    "from mnist_widgets.training import Trainer\n"
    "from mnist_widgets.widgets import TrainingDashboard\n"
    "(x_train, y_train), (x_test, y_test) = load_data(download=False)\n"
    "preset = get_preset('dense')\n"
    "model = build_model('dense')\n"
    "dashboard = TrainingDashboard(update_interval=0.2)\n"
    "dashboard",
    # far more epochs than the test waits for: only Stop ends this fit early
    "EPOCHS = 200\n"
    "data = ((x_train[:3000], y_train[:3000]), (x_test[:1000], y_test[:1000]))\n"
    "trainer = Trainer(model, preset.recipe, data=data, epochs=EPOCHS, seed=0)\n"
    "dashboard.train_in_background(trainer)\n"
    "print('started', trainer.running)",
    "result = trainer.wait(timeout=120)\n"
    "print('RESULT', result.stop_reason, result.epochs_run, EPOCHS, dashboard.state)",
]


def test_dashboard_curves_grow_and_stop_ends_the_fit(notebook):
    nb = notebook("dashboard", DASHBOARD)
    nb.run_cell(0, timeout=240)
    view = nb.wait_for_widgets(0, timeout=120)
    figures = view.locator(".bqplot.figure")
    nb.wait_until(lambda: figures.count() >= 3, 30, "the loss, accuracy and rate charts")
    stop = view.locator("button", has_text="Stop")
    assert stop.is_disabled()  # nothing to stop yet

    nb.run_cell(1, timeout=120)
    assert "started True" in nb.output_text(1)
    # the per-batch training loss line of the first chart
    line = figures.first.locator("path.line").first
    label = view.locator(".widget-html", has_text="epoch").first

    def points() -> int:
        return path_points(line.get_attribute("d"))

    first = nb.wait_until(points, 120, "the first points of the training curve")
    first_label = label.inner_text()
    second = nb.wait_until(lambda: points() > first and points(), 60, "the curve to grow")
    nb.wait_until(lambda: label.inner_text() != first_label, 30, "the progress line to move")
    assert second > first and stop.is_enabled()  # still training
    # the kernel is free while the fit runs on its worker thread: that is what lets Stop work
    nb.wait_until(lambda: nb.kernel_state() == "idle", 30, "an idle kernel during the fit")
    nb.wait_until(lambda: points() > 30, 60, "a few epochs of curve for the screenshot")
    nb.screenshot(view, "dashboard")
    nb.screenshot_page("lab")

    stop.click()
    status = view.locator(".mnist-dashboard-status")
    nb.wait_until(lambda: "stopped" in status.inner_text(), 60, "the status to say stopped")
    assert stop.is_disabled()
    stopped_at = points()
    nb.page.wait_for_timeout(1000)
    assert points() == stopped_at  # no more batches after the stop

    nb.run_cell(2, timeout=150)
    reason, epochs_run, asked, state = nb.output_text(2).split("RESULT", 1)[1].split()
    assert reason == "user" and state == "stopped"
    assert 1 <= int(epochs_run) < int(asked) == 200
    nb.screenshot(view, "dashboard-stopped")
    nb.assert_no_errors()


# -- the prediction gallery ------------------------------------------------------------------
GALLERY = [
    "from mnist_widgets.data import load_data\n"
    "from mnist_widgets.models import build_model, get_preset\n"
    "from mnist_widgets.training import Trainer\n"
    "from mnist_widgets.widgets import PredictionGallery\n"
    "(x_train, y_train), (x_test, y_test) = load_data(download=False)\n"
    "model = build_model('dense')\n"
    "Trainer(model, get_preset('dense').recipe, data=((x_train, y_train), (x_test, y_test)),\n"
    "        limit=2000, epochs=1, seed=0, validate=False, evaluate=False).run()\n"
    "gallery = PredictionGallery(model, data=(x_test[:2000], y_test[:2000]))\n"
    "gallery",
    "import numpy as np\n"
    "shown = np.array(gallery.shown_indices)\n"
    "t, q = gallery.selected_cell\n"
    "labels = set(y_test[:2000][shown].tolist())\n"
    "answers = set(gallery.predictions.predicted[shown].tolist())\n"
    "print('GALLERY', t, q, gallery.matching, len(shown), labels == {t}, answers == {q})",
]


def test_gallery_confusion_click_filters_the_digits(notebook):
    nb = notebook("gallery", GALLERY)
    nb.run_cell(0, timeout=240)
    view = nb.wait_for_widgets(0, timeout=120)
    nb.assert_no_errors()
    assert "Test accuracy" in view.inner_text()

    sprite = view.locator("img.widget-image").nth(1)  # the font digits come first
    nb.wait_until(lambda: sprite.evaluate("i => i.complete && i.naturalWidth > 0"), 30, "sprite")
    status = view.locator(".widget-html", has_text="mistakes first").first
    before_src, before_status = sprite.get_attribute("src"), status.inner_text()
    assert "of 2,000" in before_status, before_status
    nb.screenshot(view, "gallery")

    view.locator(".lm-TabBar-tab", has_text="Confusion").click()
    cells, labels = view.locator("rect.heatmapcell"), view.locator("text.heatmapcell_label")
    nb.wait_until(lambda: cells.count() == 100 and labels.count() == 100, 30, "100 cells")
    nb.wait_until(lambda: (cells.first.bounding_box() or {}).get("width", 0) > 5, 30, "drawn")
    counts = [int(float(text)) for text in labels.all_text_contents()]
    assert sum(counts) == 2000  # every test digit is counted once
    nb.screenshot(view, "gallery-confusion")
    # a small non-empty cell whose count is unique, so the page can prove which was clicked
    target = min(
        (i for i, c in enumerate(counts) if c > 0 and counts.count(c) == 1),
        key=lambda i: counts[i],
    )
    cells.nth(target).click()

    # the gallery goes back to the digits, filtered to the clicked cell
    nb.wait_until(lambda: sprite.is_visible(), 30, "the Digits tab")
    nb.wait_until(lambda: sprite.get_attribute("src") != before_src, 30, "a new sprite")
    text = nb.wait_until(
        lambda: "cell" in status.inner_text() and status.inner_text(),
        30,
        "the caption of the clicked cell",
    )
    match = re.search(r"true (\d) \S+ predicted (\d)", text)
    assert match, text
    assert f"of {counts[target]} " in text, (text, counts[target])

    nb.run_cell(1)
    t, q, matching, shown, labels_ok, answers_ok = nb.output_text(1).split("GALLERY")[1].split()
    assert (t, q) == match.groups()
    assert int(matching) == int(shown) == counts[target]
    assert labels_ok == answers_ok == "True"  # the page shows exactly that cell's digits
    nb.screenshot(view, "gallery-filtered")
    nb.assert_no_errors()


# -- the self-study tour -----------------------------------------------------------------------
def test_tour_first_steps_in_jupyterlab(notebook, tour):
    """The tour's first three rungs, run with Run All: every widget renders, training finishes."""
    cells = tour(until_step=4, limit=6000, epochs=3)
    code = [c for c in cells if isinstance(c, str)]
    nb = notebook("tour", cells)
    nb.run_all(timeout=300)
    nb.assert_no_errors()

    dashboards = [i for i, c in enumerate(code) if "train_in_background" in c]
    galleries = [i for i, c in enumerate(code) if "PredictionGallery(" in c]
    builders = [i for i, c in enumerate(code) if "LayerBuilder(preset=" in c]
    assert len(dashboards) == len(galleries) == len(builders) == 3
    for index in builders + dashboards + galleries:
        nb.wait_for_widgets(index)
    for index in galleries:
        assert re.search(r"finished after 3 epochs .* test accuracy", nb.output_text(index))
    # the dashboards were left in their final state: every epoch drawn, the run finished
    for index in dashboards:
        status = nb.output(index).locator(".mnist-dashboard-status")
        nb.wait_until(
            lambda s=status: re.search(r"finished\D*3\b", s.inner_text()), 30, "3 epochs done"
        )
    assert nb.page.locator(".jp-MarkdownOutput h2", has_text="More layers").count() == 1

    step2 = nb.page.locator(".jp-MarkdownCell", has_text="More layers: relu and Adam")
    step2.evaluate("cell => cell.scrollIntoView({block: 'start'})")
    nb.screenshot_page("lab-tour")
    nb.screenshot(nb.output(dashboards[2]), "tour-dashboard")  # with the decaying rate
    gallery = nb.output(galleries[2])
    nb.screenshot(gallery, "tour-gallery")
    gallery.locator(".lm-TabBar-tab", has_text="Confusion").click()
    gallery.locator("rect.heatmapcell").first.wait_for(state="visible")
    nb.screenshot(gallery, "tour-gallery-confusion")
