"""The prediction gallery and the drawing pad, driven headless through their traits and handlers.

One small real model (the ``dense`` preset, 3,000 images, 1 epoch: about 85% right, so
there are plenty of mistakes) serves every test.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from mnist_widgets.data.fonts import font_paths
from mnist_widgets.data.preprocess import to_mnist
from mnist_widgets.errors import DataError, ModelSpecError
from mnist_widgets.training.evaluate import Predictions, confusion_matrix, per_class_accuracy
from mnist_widgets.widgets.drawing import DrawingPad
from mnist_widgets.widgets.gallery import PredictionGallery
from mnist_widgets.widgets.sprites import label_tiles, layout_for


@pytest.fixture(scope="module")
def model(mnist):
    from mnist_widgets.models.presets import build_model, get_preset
    from mnist_widgets.training.engine import Trainer

    model = build_model("dense")
    Trainer(
        model,
        get_preset("dense").recipe,
        data=mnist,
        limit=3000,
        epochs=1,
        seed=0,
        validate=False,
        evaluate=False,
    ).run()
    return model


@pytest.fixture(scope="module")
def expected(model, mnist):
    """The model's classes on the test set, computed here independently of the gallery."""
    x_test, y_test = mnist[1]
    x = x_test.reshape(-1, 784).astype(np.float32) / 255.0
    predicted = model.predict(x, batch_size=1000, verbose=0).argmax(axis=1)
    return y_test.astype(np.int64), predicted


@pytest.fixture(scope="module")
def shared_gallery(model, mnist):
    return PredictionGallery(model, mnist)


@pytest.fixture
def gallery(shared_gallery):
    shared_gallery.reset_filters()
    shared_gallery.page = 0
    return shared_gallery


def all_pages(gallery) -> list[list[int]]:
    """Walk the pages with the Next button's method, from the first."""
    gallery.page = 0
    pages = [list(gallery.shown_indices)]
    while gallery.page < gallery.pages - 1:
        gallery.next_page()
        pages.append(list(gallery.shown_indices))
    return pages


def decode(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def red_pixels(pixels: np.ndarray) -> int:
    r, g, b = (pixels[..., i].astype(int) for i in range(3))
    return int(((r > 150) & (g < 100) & (b < 100)).sum())


# -- predictions, ordering, paging ------------------------------------------------------------
def test_gallery_predictions_match_the_model(gallery, expected):
    labels, predicted = expected
    assert len(gallery.predictions) == 10_000
    np.testing.assert_array_equal(gallery.predictions.labels, labels)
    assert (gallery.predictions.predicted == predicted).mean() > 0.999
    assert gallery.accuracy == pytest.approx(gallery.predictions.correct.mean())
    assert 0.6 < gallery.accuracy < 0.99  # a real, imperfect model: there are mistakes to show


def test_mistakes_come_first_across_all_pages(gallery):
    correct = gallery.predictions.correct
    order = np.concatenate(all_pages(gallery))
    flags = correct[order]
    n_wrong = int((~correct).sum())
    assert n_wrong > 0
    assert not flags[:n_wrong].any() and flags[n_wrong:].all()


def test_paging_covers_every_index_exactly_once(gallery):
    pages = all_pages(gallery)
    assert gallery.pages == len(pages) == 100
    assert all(len(p) == 100 for p in pages)
    flat = np.concatenate(pages)
    np.testing.assert_array_equal(np.sort(flat), np.arange(10_000))
    gallery.page = 10_000  # out of range: clamped like a slider
    assert gallery.page == gallery.pages - 1
    gallery.previous_page()
    assert gallery.page == gallery.pages - 2
    assert gallery.page_slider.value == gallery.page + 1


def test_filtered_paging_covers_the_selection_once(gallery, expected):
    labels, _ = expected
    gallery.filter_true = 8
    want = set(np.flatnonzero(labels == 8))
    pages = all_pages(gallery)
    assert gallery.pages == -(-len(want) // 100)
    flat = [i for p in pages for i in p]
    assert len(flat) == len(set(flat)) == len(want) and set(flat) == want


def test_predictions_are_computed_once_paging_never_calls_the_model(model, gallery, monkeypatch):
    def boom(*args, **kwargs):
        raise AssertionError("the model was called while paging")

    monkeypatch.setattr(model, "predict", boom)
    monkeypatch.setattr(model, "predict_on_batch", boom)
    all_pages(gallery)
    gallery.selected_cell = (3, 5)
    gallery.filter_correct = "right"


# -- the sprite: one PNG per page, labels red when wrong ---------------------------------------
def test_sprite_draws_wrong_labels_red_and_right_labels_not(gallery):
    p = gallery.predictions
    n_wrong = int((~p.correct).sum())
    gallery.page = n_wrong // gallery.page_size  # the page where mistakes end and rights begin
    shown = np.array(gallery.shown_indices)
    assert not p.correct[shown].all() and p.correct[shown].any()
    pixels = decode(gallery.sprite.value)
    layout = gallery.layout_of_page
    assert pixels.shape[:2] == (layout.size[1], layout.size[0])
    for position, index in enumerate(shown):
        left, top, right, bottom = layout.label_box(position)
        label = pixels[top:bottom, left:right]
        dark = int((label.max(axis=2) < 120).sum())
        if p.correct[index]:
            assert red_pixels(label) == 0 and dark > 10, index
        else:
            assert red_pixels(label) > 10, index
        # the label drawn is the predicted class, the digit above it is the test image
        tile = label_tiles(layout.cell_width, layout.label_height)[int(not p.correct[index])]
        np.testing.assert_array_equal(label, tile[p.predicted[index]])
        left, top, right, bottom = layout.digit_box(position)
        digit = pixels[top:bottom:2, left:right:2, 0]
        np.testing.assert_array_equal(digit, 255 - p.images[index])


def test_sprite_is_one_image_per_page(gallery):
    before = bytes(gallery.sprite.value)
    gallery.next_page()
    sprite = bytes(gallery.sprite.value)
    assert sprite != before and sprite.startswith(b"\x89PNG")
    assert sprite == gallery.render_page()


# -- confusion matrix, per-class accuracy, filters ---------------------------------------------
def test_confusion_matrix_and_per_class_accuracy(gallery, expected):
    labels, predicted = expected
    matrix = gallery.predictions.confusion
    assert matrix.shape == (10, 10) and matrix.sum() == 10_000
    independent = np.zeros((10, 10), dtype=int)
    np.add.at(independent, (labels, predicted), 1)
    assert np.abs(matrix - independent).sum() <= 4  # at most a couple of float ties differ
    np.testing.assert_allclose(
        gallery.predictions.class_accuracy, np.diag(matrix) / matrix.sum(axis=1)
    )
    np.testing.assert_array_equal(gallery.heatmap.color, matrix)
    np.testing.assert_allclose(gallery.class_bars.y, np.diag(matrix) / matrix.sum(axis=1))
    assert np.trace(matrix) / 10_000 == pytest.approx(gallery.accuracy)


def _cells(gallery):
    matrix = gallery.predictions.confusion
    off = np.where(~np.eye(10, dtype=bool), matrix, 0)
    worst = tuple(int(v) for v in np.unravel_index(off.argmax(), off.shape))
    return [worst, (1, 1), (int(worst[0]), int(worst[0]))]


def test_selecting_a_cell_shows_exactly_its_digits(gallery):
    p = gallery.predictions
    for cell in _cells(gallery):
        gallery.selected_cell = cell
        shown = [i for page in all_pages(gallery) for i in page]
        want = np.flatnonzero((p.labels == cell[0]) & (p.predicted == cell[1]))
        assert sorted(shown) == sorted(want.tolist()) and len(shown) == len(set(shown))
        assert gallery.matching == p.confusion[cell] > 0
        assert (gallery.filter_true, gallery.filter_pred) == cell
        np.testing.assert_array_equal(gallery.heatmap.selected, [cell])
    gallery.heatmap.set_state({"selected": [[0, 1], [6, 5]]})  # ctrl-click: the last cell counts
    assert gallery.selected_cell == (6, 5)


def test_clicking_a_heatmap_cell_selects_it(gallery):
    p = gallery.predictions
    cell = _cells(gallery)[0]
    gallery.tabs.selected_index = 1
    # a click, as the front end sends it: a JSON list of [row, column] (bqplot/bqplot#1632)
    gallery.heatmap.set_state({"selected": [list(cell)]})
    assert gallery.selected_cell == cell
    assert gallery.tabs.selected_index == 0  # the grid is shown
    assert set(gallery.shown_indices) <= set(
        np.flatnonzero((p.labels == cell[0]) & (p.predicted == cell[1]))
    )
    gallery.heatmap.set_state({"selected": None})  # click again: unselected, all digits
    assert gallery.selected_cell is None and gallery.matching == 10_000
    assert gallery.filter_true is None and gallery.filter_pred is None


def test_filters_combine(gallery):
    p = gallery.predictions
    gallery.filter_true = 3
    gallery.filter_correct = "wrong"
    want = np.flatnonzero((p.labels == 3) & (p.predicted != 3))
    assert gallery.matching == len(want)
    shown = [i for page in all_pages(gallery) for i in page]
    assert sorted(shown) == want.tolist()
    assert gallery.selected_cell is None

    gallery.filter_correct = "right"
    assert gallery.matching == p.confusion[3, 3]
    gallery.filter_pred = 5  # true 3, predicted 5, right: nothing can match
    assert gallery.selected_cell == (3, 5) and gallery.filter_correct == "right"
    assert gallery.matching == 0 and gallery.shown_indices == []
    assert "no digit" in gallery.status.value
    gallery.selected_cell = (5, 3)  # choosing a cell shows all of its digits
    assert gallery.filter_correct == "all"
    assert gallery.matching == gallery.predictions.confusion[5, 3]

    gallery.reset_filters()
    gallery.filter_pred = 7
    gallery.filter_correct = "wrong"
    want = np.flatnonzero((p.predicted == 7) & (p.labels != 7))
    assert gallery.matching == len(want)
    assert set(gallery.shown_indices) <= set(want)


def test_setting_both_class_filters_selects_the_cell_and_back(gallery):
    gallery.filter_true = 4
    gallery.filter_pred = 9
    assert gallery.selected_cell == (4, 9)
    gallery.filter_pred = None
    assert gallery.selected_cell is None and gallery.filter_true == 4
    gallery.selected_cell = (2, 7)
    gallery.selected_cell = None
    assert gallery.filter_true is None and gallery.filter_pred is None


def test_controls_drive_the_traits(gallery):
    gallery.true_dropdown.value = 6
    gallery.correct_buttons.value = "wrong"
    assert gallery.filter_true == 6 and gallery.filter_correct == "wrong"
    gallery.reset_filters()
    assert gallery.true_dropdown.value == -1 and gallery.correct_buttons.value == "all"
    gallery.page_slider.value = 5
    assert gallery.page == 4
    gallery.next_button.click()
    assert gallery.page == 5


def test_bad_filters_are_clear_errors(gallery):
    with pytest.raises(DataError, match="0-9"):
        gallery.filter_true = 10
    with pytest.raises(DataError, match="right"):
        gallery.filter_correct = "maybe"
    with pytest.raises(DataError, match="0-9"):
        gallery.selected_cell = (1, 11)


# -- font digits -------------------------------------------------------------------------------
def test_font_digits_row(gallery, model):
    fonts = len(font_paths())
    f = gallery.fonts
    assert len(f) == 10 * fonts and fonts >= 1
    np.testing.assert_array_equal(f.labels, np.tile(np.arange(10), fonts))
    x = f.images.reshape(-1, 784).astype(np.float32) / 255.0
    np.testing.assert_array_equal(f.predicted, model.predict(x, verbose=0).argmax(axis=1))
    pixels = decode(gallery.font_sprite.value)
    layout = layout_for(len(f), 10)
    assert (layout.columns, layout.rows) == (10, fonts)
    assert pixels.shape[:2] == (layout.size[1], layout.size[0])
    wrong = np.flatnonzero(~f.correct)
    for position in range(len(f)):
        left, top, right, bottom = layout.label_box(position)
        assert (red_pixels(pixels[top:bottom, left:right]) > 0) == (position in wrong)


# -- other models and data ---------------------------------------------------------------------
def test_image_shaped_model_and_small_data(mnist):
    from mnist_widgets.models.presets import build_model

    x_test, y_test = mnist[1]
    cnn = build_model("cnn")  # untrained: only the (28, 28, 1) plumbing is tested
    g = PredictionGallery(cnn, (x_test[:250], y_test[:250]), page_size=60, draw=False)
    assert g.predictions.probabilities.shape == (250, 10)
    np.testing.assert_allclose(g.predictions.probabilities.sum(axis=1), 1.0, atol=1e-5)
    assert g.predictions.confusion.sum() == 250 and g.pages == 5
    assert sorted(i for page in all_pages(g) for i in page) == list(range(250))
    assert len(g.tabs.children) == 2
    g.filter_true = 3
    last = cnn.layers[-1]  # now every digit gets the same scores, so class 0 wins everywhere
    last.set_weights([np.zeros_like(w) for w in last.get_weights()])
    g.update_predictions()
    assert (g.predictions.predicted == 0).all() and (g.fonts.predicted == 0).all()
    assert g.accuracy == pytest.approx((y_test[:250] == 0).mean())
    np.testing.assert_array_equal(np.asarray(g.heatmap.color)[:, 0], np.bincount(y_test[:250]))
    assert g.filter_true == 3 and g.matching == (y_test[:250] == 3).sum()
    assert set(g.predictions.predicted[g.shown_indices]) == {0}
    pad = DrawingPad(build_model("cnn"))
    probabilities = pad.predict_image(x_test[0])
    assert probabilities.shape == (10,) and probabilities.sum() == pytest.approx(1.0, abs=1e-5)


def test_bad_models_and_data_are_clear_errors(model, mnist, monkeypatch):
    import gc
    import sys

    import keras

    unraisable = []  # a half-built gallery's clean-up must not fail when it is collected
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    x_test, y_test = mnist[1]
    odd = keras.Sequential([keras.Input((100,)), keras.layers.Dense(10, activation="softmax")])
    with pytest.raises(ModelSpecError, match="784"):
        PredictionGallery(odd, (x_test[:10], y_test[:10]))
    with pytest.raises(ModelSpecError, match="784"):
        DrawingPad(odd)
    with pytest.raises(DataError, match="labels"):
        PredictionGallery(model, (x_test[:10], y_test[:9]))
    with pytest.raises(DataError, match="28x28"):
        PredictionGallery(model, (np.zeros((5, 10, 10)), np.zeros(5)))
    gc.collect()
    assert [repr(u.exc_value) for u in unraisable] == []


def test_float_digits_are_taken_as_scaled(model, mnist):
    x_test, y_test = mnist[1]
    as_uint8 = Predictions.of(model, x_test[:200], y_test[:200])
    as_float = Predictions.of(model, x_test[:200].astype(np.float32) / 255.0, y_test[:200])
    np.testing.assert_array_equal(as_float.images, as_uint8.images)
    np.testing.assert_allclose(as_float.probabilities, as_uint8.probabilities, atol=1e-5)


def test_evaluation_helpers_on_a_known_case():
    labels = np.array([0, 0, 1, 1, 1, 2])
    predicted = np.array([0, 1, 1, 1, 2, 2])
    matrix = confusion_matrix(labels, predicted)
    assert matrix[0, 0] == 1 and matrix[0, 1] == 1 and matrix[1, 1] == 2 and matrix[1, 2] == 1
    acc = per_class_accuracy(matrix)
    np.testing.assert_allclose(acc[:3], [0.5, 2 / 3, 1.0])
    assert np.isnan(acc[3:]).all()
    probabilities = np.eye(10, dtype=np.float32)[predicted]
    p = Predictions(np.zeros((6, 28, 28), np.uint8), labels, probabilities)
    assert p.order.tolist() == [1, 4, 0, 2, 3, 5]
    assert p.select(true_class=1, correct="wrong").tolist() == [4]
    assert p.select(predicted_class=2).tolist() == [4, 5]


# -- the drawing pad ---------------------------------------------------------------------------
def mouse(pad: DrawingPad, event: str, x: float, y: float) -> None:
    """Send a mouse event the way ipycanvas' front end does."""
    pad.canvas._handle_frontend_event(None, {"event": event, "x": x, "y": y}, [])


def draw_one(pad: DrawingPad, x: float = 150, top: float = 50, bottom: float = 230) -> None:
    mouse(pad, "mouse_down", x, top)
    for y in np.linspace(top, bottom, 25)[1:]:
        mouse(pad, "mouse_move", x - (y - top) * 0.08, y)
    mouse(pad, "mouse_up", x - (bottom - top) * 0.08, bottom)


def test_a_drawn_stroke_is_centred_and_predicted(model):
    pad = DrawingPad(model)
    assert pad.prediction is None and not any(pad.probabilities)
    mouse(pad, "mouse_move", 10, 10)  # moving without pressing draws nothing
    assert not np.asarray(pad.pixels()).any()
    draw_one(pad, x=60, top=20, bottom=150)  # off-centre on the pad, centred by to_mnist
    digit = pad.preprocessed
    assert digit.shape == (28, 28) and digit.max() == pytest.approx(1.0)
    ys, xs = np.indices(digit.shape)
    assert abs((ys * digit).sum() / digit.sum() - 13.5) < 1.0
    assert abs((xs * digit).sum() / digit.sum() - 13.5) < 1.0
    assert digit[:3].sum() == 0 and digit[-3:].sum() == 0  # fitted in the 20x20 box
    probabilities = np.array(pad.probabilities)
    assert probabilities.shape == (10,) and probabilities.sum() == pytest.approx(1.0, abs=1e-5)
    assert pad.prediction == int(probabilities.argmax())
    np.testing.assert_allclose(pad.bars.y, probabilities)
    assert f"<b>{pad.prediction}</b>" in pad.answer.value
    np.testing.assert_array_equal(pad.preprocessed, to_mnist(pad.pixels()))


def test_a_finger_draws_like_the_mouse(model):
    pad = DrawingPad(model)
    events = [("touch_start", [(150, 50)])]
    events += [("touch_move", [(150 - i, 50 + 9 * i)]) for i in range(1, 21)]
    events += [("touch_end", [])]
    for event, touches in events:
        content = {"event": event, "touches": [{"x": x, "y": y} for x, y in touches]}
        pad.canvas._handle_frontend_event(None, content, [])
    assert not pad.drawing and pad.prediction is not None
    mouse_pad = DrawingPad(model)
    draw_one(mouse_pad, x=150, top=50, bottom=230)
    assert abs(np.asarray(pad.pixels(), float).mean() - mouse_pad.pixels().mean()) < 10


def test_clear_resets_the_pad(model):
    pad = DrawingPad(model)
    blank_preview = pad.preview.value
    draw_one(pad)
    assert pad.prediction is not None and pad.preview.value != blank_preview
    pad.clear_button.click()
    assert pad.prediction is None and pad.probabilities == [0.0] * 10
    assert not np.asarray(pad.pixels()).any() and not pad.preprocessed.any()
    assert not np.asarray(pad.bars.y).any() and pad.preview.value == blank_preview


def test_predictions_are_throttled_while_drawing(model):
    pad = DrawingPad(model, interval=60.0)
    mouse(pad, "mouse_down", 140, 40)
    after_dot = list(pad.probabilities)
    dot = pad.preprocessed.copy()
    for y in range(50, 240, 10):
        mouse(pad, "mouse_move", 140, y)
    assert pad.probabilities == after_dot  # throttled: no prediction within the interval
    np.testing.assert_array_equal(pad.preprocessed, dot)
    mouse(pad, "mouse_up", 140, 240)  # lifting the pen always predicts
    assert not np.array_equal(pad.preprocessed, dot)


def test_test_digits_through_the_pad_get_the_models_class(model, mnist, expected):
    x_test = mnist[1][0]
    _, predicted = expected
    pad = DrawingPad(model)
    indices = np.arange(0, 2000, 40)  # 50 digits
    same = [int(np.argmax(pad.predict_image(x_test[i]))) == predicted[i] for i in indices]
    assert np.mean(same) >= 0.85, np.mean(same)
    i = int(indices[0])
    probabilities = pad.set_image(x_test[i])  # scaled to the pad, then the same preprocessing
    assert probabilities.sum() == pytest.approx(1.0, abs=1e-5)
    assert pad.pixels().shape == (pad.size, pad.size)


def test_the_front_ends_pixels_are_used_when_synced(model, mnist):
    x_test = mnist[1][0]
    pad = DrawingPad(model)
    draw_one(pad)
    drawn = pad.prediction
    big = np.asarray(Image.fromarray(x_test[7]).resize((pad.size, pad.size), Image.BILINEAR))
    rgba = np.dstack([big, big, big, np.full_like(big, 255)])
    buffer = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buffer, format="PNG")
    pad.canvas.set_trait("image_data", buffer.getvalue())  # what sync_image_data sends
    assert pad.pixels().shape == (pad.size, pad.size, 4)
    np.testing.assert_array_equal(pad.preprocessed, to_mnist(rgba))
    assert pad.prediction == int(np.argmax(pad.predict_image(rgba)))
    assert drawn is not None
    draw_one(pad, x=100)  # a new stroke: the Python copy again until the front end syncs
    assert pad.pixels().ndim == 2


def test_the_gallery_embeds_a_drawing_pad(gallery):
    assert isinstance(gallery.pad, DrawingPad)
    assert gallery.tabs.titles[-1] == "Draw" and gallery.tabs.children[-1] is gallery.pad
    assert gallery.pad.model is gallery.model
    with pytest.raises(DataError, match="2-D"):
        gallery.pad.set_image(np.zeros(5))
