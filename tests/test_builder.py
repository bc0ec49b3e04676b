"""The layer builder, headless: driven through its traits, controls and methods like a front end."""

from __future__ import annotations

import dataclasses
from html import unescape

import ipywidgets as widgets
import numpy as np
import pytest
import traitlets

from mnist_widgets.data.pipeline import scale_images
from mnist_widgets.errors import ModelSpecError, PresetError
from mnist_widgets.models import PRESETS, EpochDecay, build, build_model, get_preset
from mnist_widgets.models.presets import EXTRA_PRESETS
from mnist_widgets.models.spec import LAYER_KINDS
from mnist_widgets.widgets.builder import LayerBuilder, parse_shape


def layer_classes(model) -> list[str]:
    return [type(layer).__name__ for layer in model.layers]


def run_code(code: str):
    namespace: dict = {}
    exec(code, namespace)  # noqa: S102 - the builder's own output, the point of the test
    return namespace["model"]


def assert_consistent(builder: LayerBuilder) -> None:
    """Rows, summary, table and totals all describe the same stack."""
    kinds = [layer["kind"] for layer in builder.layers]
    assert [row.kind for row in builder.rows] == kinds
    assert [s["index"] for s in builder.summary] == list(range(len(kinds)))
    assert [s["type"] for s in builder.summary] == [
        "InputLayer" if k == "Input" else k for k in kinds
    ]
    assert builder.total_params == sum(s["params"] for s in builder.summary)
    assert builder.non_trainable_params == builder.total_params - builder.trainable_params
    for index, row in enumerate(builder.rows):
        assert row.up.disabled == (index == 0)
        assert row.down.disabled == (index == len(kinds) - 1)
        assert set(row.controls) == set(LAYER_KINDS[row.kind])
    for summary in builder.summary:
        assert f"{summary['name']} ({summary['type']})" in builder.table_view.value
    assert f"Total params:</b> {builder.total_params:,}" in builder.table_view.value
    if builder.valid:
        assert builder.total_params == build(builder.specs).count_params()


# -- presets -----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", [*PRESETS, *EXTRA_PRESETS])
def test_every_preset_round_trips(name):
    builder = LayerBuilder(preset=name)
    reference = build_model(name)
    trainable = sum(int(np.prod(w.shape)) for w in reference.trainable_weights)

    assert builder.valid and builder.error == "" and builder.error_index == -1
    assert builder.preset == name and builder.preset_menu.value == name
    assert builder.total_params == reference.count_params()
    assert builder.trainable_params == trainable
    assert builder.recipe == get_preset(name).recipe  # betas, smoothing, any schedule
    # per-layer counts agree with Keras (the builder also lists the Input row)
    assert [s["params"] for s in builder.summary[1:]] == [
        layer.count_params() for layer in reference.layers
    ]
    model = builder.model
    assert model.count_params() == reference.count_params()
    assert model.optimizer is not None  # compiled
    from_code = run_code(builder.code)
    assert from_code.count_params() == reference.count_params()
    assert layer_classes(from_code) == layer_classes(model) == layer_classes(reference)
    assert_consistent(builder)


def test_unknown_preset_is_a_clear_error():
    with pytest.raises(PresetError, match="choose one of"):
        LayerBuilder(preset="resnet")
    builder = LayerBuilder()
    with pytest.raises(traitlets.TraitError, match="unknown preset"):
        builder.preset = "resnet"


def test_preset_menu_loads_any_preset_and_shows_custom_after_an_edit():
    builder = LayerBuilder(preset="softmax")
    builder.preset_menu.value = "cnn"  # what a user's pick sends
    assert builder.preset == "cnn"
    assert builder.layers == [layer.to_dict() for layer in PRESETS["cnn"].layers]
    assert builder.total_params == build_model("cnn").count_params()
    assert builder.recipe == PRESETS["cnn"].recipe
    assert 'Model: "<b>cnn</b>"' in builder.table_view.value

    builder.set_param(5, "units", 50)
    assert builder.preset == "" and builder.preset_menu.value == ""
    builder.preset = "dense"  # the synced trait works the same way
    assert builder.preset_menu.value == "dense"
    assert builder.total_params == build_model("dense").count_params()
    assert_consistent(builder)


def test_starts_empty_and_grows_to_a_valid_model():
    builder = LayerBuilder()
    assert isinstance(builder, widgets.VBox)
    assert builder.layers == [] and builder.rows == ()
    assert not builder.valid and "add an Input layer" in builder.error
    assert builder.code == "" and builder.total_params == 0
    with pytest.raises(ModelSpecError, match="no valid model yet"):
        _ = builder.model
    assert builder.add_menu.value == "Input"  # the empty stack offers Input first

    builder.add_button.click()  # Input (28, 28, 1)
    builder.add_menu.value = "Flatten"
    builder.add_button.click()
    builder.add_layer("Dense", units=10, activation="softmax")
    assert [layer["kind"] for layer in builder.layers] == ["Input", "Flatten", "Dense"]
    assert builder.valid and builder.total_params == 7850
    assert run_code(builder.code).count_params() == 7850
    assert_consistent(builder)


# -- controls ----------------------------------------------------------------------------------
def test_controls_follow_the_parameter_kinds():
    builder = LayerBuilder(layers=[{"kind": kind, "params": {}} for kind in LAYER_KINDS])
    expected = {
        "int": widgets.BoundedIntText,
        "float": widgets.BoundedFloatText,
        "bool": widgets.Checkbox,
        "choice": widgets.Dropdown,
        "shape": widgets.Text,
    }
    for index, kind in enumerate(LAYER_KINDS):
        controls = builder.controls(index)
        assert list(controls) == list(LAYER_KINDS[kind])
        for name, info in LAYER_KINDS[kind].items():
            control = controls[name]
            assert isinstance(control, expected[info.kind]), (kind, name)
            if info.kind in ("int", "float"):
                assert (control.min, control.max) == (info.minimum, info.maximum)
                assert control.value == info.default
            if info.kind == "choice":
                assert tuple(control.options) == info.choices
            if info.kind == "shape":
                assert parse_shape(control.value) == info.default


def test_editing_a_control_updates_the_table_at_once_without_rebuilding_editors():
    builder = LayerBuilder(preset="dense")
    rows = builder.rows
    units = builder.controls(1)["units"]

    units.value = 100  # the front end sends the new value
    assert builder.layers[1]["params"]["units"] == 100
    assert builder.total_params == 784 * 100 + 100 + 100 * 60 + 60 + 60 * 10 + 10
    assert builder.trainable_params == builder.total_params
    assert builder.summary[1]["params"] == 78500
    assert "78,500" in builder.table_view.value
    assert "78,500 params" in builder.rows[1].status.value
    assert f"{builder.total_params:,}" in builder.status_view.value
    assert "Dense(100, activation='relu')" in builder.code
    assert builder.rows == rows and builder.controls(1)["units"] is units  # edited in place

    builder.controls(1)["use_bias"].value = False
    assert builder.summary[1]["params"] == 78400
    builder.controls(2)["activation"].value = "tanh"
    assert "Dense(60, activation='tanh')" in builder.code
    assert builder.model.layers[1].activation.__name__ == "tanh"
    assert builder.rows == rows
    assert_consistent(builder)


def test_set_param_moves_the_controls_and_batch_norm_counts_non_trainable():
    builder = LayerBuilder(preset="cnn-batchnorm")
    builder.set_param(2, "scale", True)  # the first BatchNormalization, 12 channels
    assert builder.controls(2)["scale"].value is True
    assert builder.summary[2]["params"] == 4 * 12 and builder.summary[2]["trainable"] == 2 * 12
    assert builder.non_trainable_params == 2 * (12 + 24 + 32 + 200)
    builder.set_param(0, "shape", [28, 28, 1])  # lists are shapes too; nothing changes
    assert builder.controls(0)["shape"].value == "28, 28, 1"
    assert_consistent(builder)


def test_a_mistyped_shape_shows_on_its_row_and_nothing_escapes():
    builder = LayerBuilder(preset="dense")
    before = builder.layers
    shape = builder.controls(0)["shape"]

    shape.value = "28 by 28"
    assert builder.layers == before
    assert not builder.valid and builder.error_index == 0
    assert "not a list of whole numbers" in builder.error
    assert "not a list of whole numbers" in builder.rows[0].message.value
    assert builder.rows[0].message.layout.display != "none"
    assert builder.model.count_params() == build_model("dense").count_params()

    shape.value = "784"
    assert builder.valid and builder.rows[0].message.layout.display == "none"


def test_settings_controls_edit_the_recipe_code_and_model():
    builder = LayerBuilder(preset="dense")
    assert builder.rows[0].box.box_style == ""
    controls = builder.setting_controls
    assert list(controls) == ["optimizer", "learning_rate", "schedule", "batch_size", "epochs"]
    assert controls["schedule"].value == "none" and not controls["learning_rate"].disabled
    assert (controls["batch_size"].value, controls["epochs"].value) == (128, 10)

    controls["optimizer"].value = "sgd"  # what the front end sends
    controls["schedule"].value = "epoch decay"
    controls = builder.setting_controls  # the schedule's parameters appear
    assert controls["learning_rate"].disabled  # the schedule sets the rate
    controls["schedule.initial"].value = 0.05
    controls["schedule.rate"].value = 0.5
    controls["batch_size"].value = 32
    controls["epochs"].value = 3

    assert builder.recipe == dataclasses.replace(
        get_preset("dense").recipe,
        optimizer="sgd",
        schedule=EpochDecay(0.05, 0.5),
        batch_size=32,
        epochs=3,
    )
    assert "SGD(learning_rate=0.05)" in builder.code
    assert "lambda epoch: 0.05 * 0.5 ** epoch" in builder.code
    assert "BATCH_SIZE = 32" in builder.code and "EPOCHS = 3" in builder.code
    model = builder.model
    assert type(model.optimizer).__name__ == "SGD"
    assert float(model.optimizer.learning_rate.numpy()) == pytest.approx(0.05)
    assert builder.preset == ""

    builder.schedule = None  # the recipe and the controls stay in step both ways
    assert builder.setting_controls["schedule"].value == "none"
    assert "schedule.initial" not in builder.setting_controls
    assert not builder.setting_controls["learning_rate"].disabled
    builder.epochs = 7
    assert builder.setting_controls["epochs"].value == 7 and builder.recipe.epochs == 7
    with pytest.raises(traitlets.TraitError, match="learning_rate must be between"):
        builder.learning_rate = 0.0


def test_a_refused_setting_leaves_the_recipe_and_says_why():
    builder = LayerBuilder(preset="cnn-fast")
    before = builder.recipe
    warmup = builder.setting_controls["schedule.warmup"]
    warmup.value = 1.5  # a one-cycle warm-up longer than the cycle
    assert builder.recipe == before
    assert "warmup" in unescape(builder._settings.message.value)
    warmup.value = 0.3
    assert builder.recipe.schedule.warmup == 0.3 and builder._settings.message.value == ""
    builder.setting_controls["optimizer"].value = "sgd"  # SGD has no betas: they go
    assert builder.recipe.optimizer == "sgd" and builder.recipe.betas is None


@pytest.mark.parametrize("name", ["cnn-fast", "dense-lr-decay", "softmax"])
def test_every_kind_of_schedule_shows_its_own_parameters(name):
    builder = LayerBuilder(preset=name)
    schedule = get_preset(name).recipe.schedule
    shown = {k: c for k, c in builder.setting_controls.items() if k.startswith("schedule.")}
    if schedule is None:
        assert shown == {} and builder.setting_controls["schedule"].value == "none"
        return
    fields = [f.name for f in dataclasses.fields(schedule)]
    assert [k.split(".", 1)[1] for k in shown] == fields
    for key, control in shown.items():
        assert control.value == getattr(schedule, key.split(".", 1)[1]), key
    assert schedule.describe() in builder.status_view.value


def test_the_model_is_one_object_until_the_stack_or_the_recipe_changes():
    builder = LayerBuilder(preset="dense")
    model = builder.model
    assert builder.model is model  # fit then evaluate reach the same weights
    builder.set_param(1, "units", 200)  # no change
    builder.preset_menu.value = builder.preset_menu.value
    assert builder.model is model

    builder.set_param(1, "units", 100)
    edited = builder.model
    assert edited is not model and edited.count_params() == builder.total_params
    assert builder.model is edited

    builder.controls(0)["shape"].value = "28 by 28"  # a broken edit keeps the last model
    assert not builder.valid and builder.model is edited
    builder.controls(0)["shape"].value = "784"
    assert builder.valid and builder.model is edited

    builder.batch_size = 64  # the recipe changed: a new model compiled with it
    assert builder.model is not edited
    recompiled = builder.model
    builder.setting_controls["optimizer"].value = "rmsprop"
    assert builder.model is not recompiled
    assert type(builder.model.optimizer).__name__ == "RMSprop"


def test_only_what_a_view_reads_is_synced_to_the_front_end():
    builder = LayerBuilder(preset="dense")
    box_state = set(widgets.VBox().keys)
    assert set(builder.keys) == box_state  # layers, recipe, summary... stay in the kernel
    state = builder.get_state()
    assert "summary" not in state and "layers" not in state


# -- impossible stacks -----------------------------------------------------------------------
def _conv_after_flatten(builder):
    builder.add_layer("Conv2D", 5)
    return 5, "needs an image input"


def _valid_padding(builder):
    builder.controls(3)["padding"].value = "valid"  # still a valid stack: 10x10 out


def _kernel_too_large(builder):
    builder.controls(3)["kernel_size"].value = 15  # its input is 14x14
    return 3, "kernel 15x15 is larger than its 14x14 input"


def _stride_too_large(builder):
    builder.controls(1)["strides"].value = 40
    return 1, "stride 40 is larger than the 28x28 input"


def _no_softmax(builder):
    builder.controls(6)["activation"].value = "relu"
    return 6, "must end with Dense(10, activation='softmax')"


def _no_classifier(builder):
    builder.remove_layer(6)
    return 5, "must end with Dense(10, activation='softmax')"


def _dense_on_the_image(builder):
    builder.remove_layer(4)  # the Flatten
    return 5, "add Flatten"


@pytest.mark.parametrize(
    ("prepare", "break_it"),
    [
        (None, _conv_after_flatten),
        (_valid_padding, _kernel_too_large),
        (None, _stride_too_large),
        (None, _no_softmax),
        (None, _no_classifier),
        (None, _dense_on_the_image),
    ],
)
def test_an_impossible_stack_shows_its_message_on_the_layer_and_keeps_the_last_model(
    prepare, break_it
):
    builder = LayerBuilder(preset="cnn")
    if prepare:
        prepare(builder)
        assert builder.valid
    good = builder.total_params
    good_code = builder.code

    index, message = break_it(builder)  # must not raise

    assert not builder.valid
    assert builder.error_index == index
    assert message in builder.error and builder.error.startswith(f"layer {index} ")
    row = builder.rows[index]
    assert message in unescape(row.message.value) and row.message.layout.display != "none"
    assert row.box.box_style == "danger"
    assert [r.box.box_style for i, r in enumerate(builder.rows) if i != index] == [""] * (
        len(builder.rows) - 1
    )
    assert builder.summary[index]["error"] and message in builder.summary[index]["error"]
    assert message in unescape(builder.table_view.value)
    assert "last valid model" in builder.status_view.value
    assert builder.model.count_params() == good  # the last valid model
    assert builder.code == good_code and run_code(builder.code).count_params() == good
    assert "last valid model" in builder.code_view.value
    assert_consistent(builder)


def test_fixing_the_stack_makes_it_valid_again():
    builder = LayerBuilder(preset="cnn")
    builder.set_param(1, "strides", 40)
    assert not builder.valid
    builder.set_param(1, "strides", 1)
    assert builder.valid and builder.error == "" and builder.error_index == -1
    assert all(r.box.box_style == "" for r in builder.rows)
    assert builder.total_params == build_model("cnn").count_params()


def test_bad_values_through_the_api_are_clear_errors_and_change_nothing():
    builder = LayerBuilder(preset="dense")
    before = builder.layers
    with pytest.raises(ModelSpecError, match="units must be between 1 and 100000"):
        builder.set_param(1, "units", 0)
    with pytest.raises(ModelSpecError, match="has no parameter 'filters'"):
        builder.set_param(1, "filters", 8)
    with pytest.raises(ModelSpecError, match="activation must be one of"):
        builder.set_param(1, "activation", "cube")
    with pytest.raises(ModelSpecError, match="unknown layer kind"):
        builder.add_layer("LSTM")
    with pytest.raises(ModelSpecError, match="there is no layer 9"):
        builder.remove_layer(9)
    with pytest.raises(traitlets.TraitError, match="bad layer list"):
        builder.layers = [{"kind": "Dense", "params": {"units": -3}}]
    assert builder.layers == before and builder.valid


# -- structure ---------------------------------------------------------------------------------
def test_add_move_and_remove_keep_the_table_consistent():
    builder = LayerBuilder(preset="dense")
    kinds = lambda: [layer["kind"] for layer in builder.layers]  # noqa: E731

    assert builder.add_layer("Dropout", 2, rate=0.5) == 2
    assert kinds() == ["Input", "Dense", "Dropout", "Dense", "Dense"]
    assert builder.summary[2]["output_shape"] == (200,) and builder.summary[2]["params"] == 0
    assert builder.valid
    assert_consistent(builder)

    builder.rows[2].down.click()  # the row's button
    assert kinds() == ["Input", "Dense", "Dense", "Dropout", "Dense"]
    assert builder.summary[3]["output_shape"] == (60,)
    assert builder.controls(3)["rate"].value == 0.5
    assert_consistent(builder)

    assert builder.move_layer(3, -10) == 0  # clamped to the top: Dropout before Input
    assert not builder.valid and builder.error_index == 0
    assert_consistent(builder)
    builder.move_layer(0, 3)
    assert kinds() == ["Input", "Dense", "Dense", "Dropout", "Dense"] and builder.valid

    # two layers of one kind swap: the editors stay, their values follow the layers
    rows = builder.rows
    builder.move_layer(1, 1)
    assert builder.rows == rows
    assert [builder.controls(i)["units"].value for i in (1, 2)] == [60, 200]
    assert builder.summary[1]["params"] == 784 * 60 + 60
    assert_consistent(builder)

    builder.rows[3].remove.click()
    assert kinds() == ["Input", "Dense", "Dense", "Dense"]
    builder.add_menu.value = "BatchNormalization"
    builder.add_button.click()  # goes before the final classifier
    assert kinds() == ["Input", "Dense", "Dense", "BatchNormalization", "Dense"]
    assert builder.non_trainable_params == 2 * 200
    assert builder.valid
    assert run_code(builder.code).count_params() == builder.total_params
    assert_consistent(builder)


def test_layers_trait_from_a_front_end_rebuilds_the_editors():
    builder = LayerBuilder(preset="softmax")
    builder.layers = [
        {"kind": "Input", "params": {"shape": [784]}},  # JSON sends lists
        {"kind": "Reshape", "params": {"target_shape": [28, 28, 1]}},
        {"kind": "Conv2D", "params": {"filters": 4, "kernel_size": 5, "padding": "valid"}},
        {"kind": "MaxPooling2D", "params": {}},
        {"kind": "GlobalAveragePooling2D", "params": {}},
        {"kind": "Dense", "params": {"units": 10, "activation": "softmax"}},
    ]
    assert builder.valid, builder.error
    assert builder.summary[2]["output_shape"] == (24, 24, 4)
    assert builder.summary[3]["output_shape"] == (12, 12, 4)
    assert builder.total_params == (5 * 5 * 4 + 4) + (4 * 10 + 10)
    assert builder.controls(1)["target_shape"].value == "28, 28, 1"
    model = run_code(builder.code)
    assert model.count_params() == builder.total_params
    assert layer_classes(model) == layer_classes(builder.model)
    assert_consistent(builder)


# -- training ----------------------------------------------------------------------------------
@pytest.mark.parametrize(("preset", "images"), [("dense", 512), ("cnn-batchnorm", 256)])
def test_the_model_is_compiled_and_learns(small_mnist, preset, images):
    import keras

    keras.utils.set_random_seed(1)
    (x_train, y_train), _ = small_mnist
    builder = LayerBuilder(preset=preset)
    builder.batch_size = 32
    builder.learning_rate = 0.003
    builder.schedule = None
    for index, layer in enumerate(builder.layers):
        if layer["kind"] == "BatchNormalization":  # moving statistics settle in a few steps
            builder.set_param(index, "momentum", 0.5)
    model = builder.model
    x = scale_images(x_train[:images], tuple(model.input_shape[1:]))
    y = y_train[:images]
    before = model.evaluate(x, y, verbose=0, return_dict=True)
    history = model.fit(x, y, epochs=3, batch_size=builder.batch_size, verbose=0)
    after = model.evaluate(x, y, verbose=0, return_dict=True)
    assert len(history.history["loss"]) == 3
    assert after["loss"] < before["loss"] * 0.6
    assert after["accuracy"] > max(0.6, before["accuracy"] + 0.3)


def test_a_control_change_creates_no_widgets_and_rebuilds_leak_nothing():
    from ipywidgets.widgets import widget as widget_module

    def live() -> int:
        return len(widget_module._instances)

    builder = LayerBuilder(preset="cnn-batchnorm")
    before = live()
    units = builder.controls(11)["units"]
    for n in range(10):
        units.value = 101 + n
    assert builder.summary[11]["params"] == 1568 * 110
    assert live() == before  # the table and labels were rewritten, no widget was made

    builder.add_layer("Dropout", 12)
    builder.remove_layer(12)
    assert live() == before  # the editors of a rebuild are closed, not leaked


def test_closing_the_builder_closes_its_editors_and_unties_the_settings():
    builder = LayerBuilder(preset="cnn-fast")
    parts = [*builder.controls(1).values(), *builder.setting_controls.values()]
    builder.close()
    assert all(part.comm is None for part in parts)
    builder.recipe = builder.recipe.__class__()  # no closed control is written to
