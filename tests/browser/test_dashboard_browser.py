"""The training dashboard in a real JupyterLab: Pause and Resume clicked in the page hold and
release a fit on its worker thread; the zoom buttons change the accuracy axis; the learning
rate chart shows the planned schedule and the rates used; the charts take their sizes from
the kit's stylesheet, and the marks the page draws are the ones built at the start."""

from __future__ import annotations

import re

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SETUP = """\
import time
import keras
from mnist_widgets.data import load_data
from mnist_widgets.models import get_preset
from mnist_widgets.models import build
from mnist_widgets.training import Trainer
from mnist_widgets.widgets import TrainingDashboard

class Slow(keras.callbacks.Callback):  # a few seconds per epoch, time enough to click
    def on_train_batch_end(self, batch, logs=None):
        time.sleep(0.03)

(x_train, y_train), (x_test, y_test) = load_data(download=False)
preset = get_preset("dense-lr-decay")
data = ((x_train[:6000], y_train[:6000]), (x_test[:2000], y_test[:2000]))
trainer = Trainer(build(preset.layers), preset.recipe, data=data, epochs=3, batch_size=100,
                  callbacks=[Slow()], evaluate=False, seed=0)
dashboard = TrainingDashboard(update_interval=0.2)
dashboard.train_in_background(trainer)
dashboard"""
RESULT = """\
result = trainer.wait(timeout=120)
print('RESULT', result.stop_reason, result.epochs_run, dashboard.state,
      len(dashboard.batch_series()['loss']))"""


def test_pause_and_resume_clicked_in_the_page(notebook):
    nb = notebook("dashboard-pause", [SETUP, RESULT])
    nb.run_cell(0, timeout=240)
    view = nb.wait_for_widgets(0, timeout=120)
    figures = view.locator(".bqplot.figure")
    nb.wait_until(lambda: figures.count() == 3, 30, "the loss, accuracy and rate charts")
    # sizes come from the stylesheet's dashboard rules, not from inline layouts
    heights = [round(figures.nth(i).bounding_box()["height"]) for i in range(3)]
    assert heights == [300, 300, 200], heights
    widths = [figures.nth(i).bounding_box()["width"] for i in range(2)]
    assert abs(widths[0] - widths[1]) <= 2 and widths[0] >= 320
    progress = view.locator(".mnist-dashboard-progress")
    status = view.locator(".mnist-dashboard-status")
    pause = view.locator("button", has_text="Pause")
    nb.wait_until(lambda: "batch" in progress.inner_text(), 120, "the first progress line")
    # one training line, updated in place: the same path element grows while the fit runs
    line = figures.first.locator("path.line").first
    line.evaluate("path => { path.dataset.first = '1'; }")
    first_d = line.get_attribute("d")
    nb.wait_until(lambda: line.get_attribute("d") != first_d, 60, "the training line to grow")
    assert line.get_attribute("data-first") == "1"  # not a new element
    nb.wait_until(lambda: pause.is_enabled(), 30, "the Pause button")

    pause.click()
    nb.wait_until(lambda: "paused after" in status.inner_text(), 30, "the status to say paused")
    held = progress.inner_text()
    assert re.search(r"epoch 1/3 · batch \d+/60", held), held
    nb.page.wait_for_timeout(1500)
    assert progress.inner_text() == held  # no batch while paused
    assert nb.kernel_state() == "idle"  # the kernel waits for clicks, the worker waits for it
    rate = figures.nth(2)  # the first epoch's rate shows from its start
    nb.wait_until(lambda: rate.locator(".dot").count() == 1, 30, "the first learning-rate dot")
    nb.screenshot(view, "dashboard-paused")

    view.locator("button", has_text="Resume").click()
    nb.wait_until(lambda: progress.inner_text() != held, 30, "training to go on")

    # zoom the accuracy axis to 0.9-1: ticks between 0.9 and 1 replace 0, 0.1, ... 0.5
    ticks = figures.nth(1).locator(".tick text")
    assert "0.5" in ticks.all_text_contents()
    view.locator("button", has_text="0.9-1").click()
    nb.wait_until(
        lambda: "0.95" in (texts := ticks.all_text_contents()) and "0.5" not in texts,
        30,
        "the zoomed accuracy axis",
    )

    nb.run_cell(1, timeout=150)
    reason, epochs_run, state, batches = nb.output_text(1).split("RESULT", 1)[1].split()
    assert reason == "None" and epochs_run == "3" and state == "finished" and batches == "180"
    nb.wait_until(lambda: "finished" in status.inner_text(), 30, "the status to say finished")
    # the rate chart: the planned schedule (a dashed line) and one dot per epoch used
    assert rate.locator("path.line").count() >= 1
    nb.wait_until(lambda: rate.locator(".dot").count() == 3, 30, "three learning-rate dots")
    nb.screenshot(view, "dashboard-finished")
    nb.assert_no_errors()


# -- histograms (#15 part 3) ------------------------------------------------------------------
HISTOGRAMS = """\
from mnist_widgets.data import load_data
from mnist_widgets.models import build, get_preset
from mnist_widgets.training import Trainer
from mnist_widgets.training.probes import WeightProbe
from mnist_widgets.widgets import TrainingDashboard

(x_train, y_train), (x_test, y_test) = load_data(download=False)
preset = get_preset("cnn-batchnorm")
data = ((x_train[:4000], y_train[:4000]), (x_test[:1000], y_test[:1000]))
trainer = Trainer(build(preset.layers), preset.recipe, data=data, epochs=2, batch_size=100,
                  evaluate=False, seed=0)
dashboard = TrainingDashboard(histograms=WeightProbe(every=10))
dashboard.train_in_background(trainer)
dashboard"""
HISTOGRAMS_RESULT = """\
result = trainer.wait(timeout=300)
print('RESULT', result.stop_reason, dashboard.state, len(dashboard.histogram_panel.rows),
      dashboard.probe.last.epoch, dashboard.probe.last.at_epoch_end)"""


def test_histograms_per_layer_with_the_dead_relu_badge(notebook):
    nb = notebook("dashboard-histograms", [HISTOGRAMS, HISTOGRAMS_RESULT])
    nb.run_cell(0, timeout=240)
    view = nb.wait_for_widgets(0, timeout=120)
    charts = view.locator(".bqplot.mnist-dashboard-histogram-chart")
    # laid out from the model when attached: cnn-batchnorm has five layers with a kernel
    nb.wait_until(lambda: charts.count() == 10, 60, "a weights and a gradients chart per layer")
    badges = view.locator(".mnist-dashboard-dead")
    assert badges.count() == 5
    weights = charts.first
    nb.wait_until(lambda: weights.locator(".bar").count() == 31, 120, "the first weight bars")
    # the figure drawn first is the one updated: the page keeps its element
    weights.evaluate("figure => { figure.dataset.first = '1'; }")
    caption = view.locator(".mnist-dashboard-histogram-caption")
    first_caption = caption.inner_text()
    nb.wait_until(lambda: caption.inner_text() != first_caption, 120, "a later probe")
    assert weights.get_attribute("data-first") == "1"
    nb.run_cell(1, timeout=300)
    reason, state, rows, epoch, at_end = nb.output_text(1).split("RESULT", 1)[1].split()
    assert (reason, state, rows, epoch, at_end) == ("None", "finished", "5", "1", "True")
    nb.wait_until(lambda: "end of epoch 2" in caption.inner_text(), 30, "the last probe")
    for i in range(10):
        assert charts.nth(i).locator(".bar").count() == 31
    texts = badges.all_inner_texts()
    assert sum("dead ReLU" in t for t in texts) == 4 and texts[-1].strip() == "no ReLU", texts
    box = charts.first.bounding_box()
    assert round(box["height"]) == 150 and round(box["width"]) == 300  # from the stylesheet
    shot = nb.screenshot(view.locator(".mnist-dashboard-histograms"), "dashboard-histograms")
    assert shot.stat().st_size > 10_000
    nb.assert_no_errors()
