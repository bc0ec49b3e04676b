"""The codelab's ladder: every preset builds with the right parameter count and settings."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from mnist_widgets.errors import PresetError
from mnist_widgets.models import (
    PRESETS,
    Constant,
    EpochDecay,
    OneCycle,
    Schedule,
    build_model,
    get_preset,
    schedule_values,
    to_code,
)
from mnist_widgets.models.presets import EXTRA_PRESETS

# parameters (total, trainable), worked out by hand from the layer sizes
EXPECTED_PARAMS = {
    "softmax": (7850, 7850),  # 784*10 + 10
    "dense": (169670, 169670),  # 784*200+200 + 200*60+60 + 60*10+10
    "dense-lr-decay": (169670, 169670),
    "dense-dropout": (183770, 183770),  # 784*200+200 + 200*100+100 + 100*60+60 + 60*10+10
    "cnn": (354002, 354002),
    "cnn-dropout": (354002, 354002),
    "cnn-batchnorm": (354538, 354002),  # as the codelab's
}


def trainable_count(model) -> int:
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_builds_compiled_with_its_parameter_count(name):
    model = build_model(name)
    assert (model.count_params(), trainable_count(model)) == EXPECTED_PARAMS[name]
    assert model.optimizer is not None and model.output_shape == (None, 10)
    preset = get_preset(name)
    assert model.input_shape[1:] == preset.input_shape
    expected_optimizer = {"sgd": keras.optimizers.SGD, "adam": keras.optimizers.Adam}
    assert isinstance(model.optimizer, expected_optimizer[preset.recipe.optimizer])


def test_the_ladder_is_in_the_codelabs_order_with_its_accuracies():
    names = list(PRESETS)
    assert names == [
        "softmax",
        "dense",
        "dense-lr-decay",
        "dense-dropout",
        "cnn",
        "cnn-dropout",
        "cnn-batchnorm",
    ]
    accuracies = [PRESETS[n].expected_accuracy for n in names]
    assert accuracies == sorted(accuracies) and accuracies[0] == 0.92 and accuracies[-1] == 0.995


def test_batchnorm_preset_follows_the_codelab():
    preset = get_preset("cnn-batchnorm")
    assert preset.recipe.batch_size == 64
    assert preset.recipe.schedule == EpochDecay(0.01, 0.666)
    model = build_model("cnn-batchnorm")
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [(c.filters, c.kernel_size, c.strides) for c in convs] == [
        (12, (3, 3), (1, 1)),
        (24, (6, 6), (2, 2)),
        (32, (6, 6), (2, 2)),
    ]
    assert not any(c.use_bias for c in convs)
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(norms) == 4 and all(n.center and not n.scale for n in norms)
    dropout = [layer for layer in model.layers if isinstance(layer, keras.layers.Dropout)]
    assert [d.rate for d in dropout] == [0.3]


def test_schedules_give_the_per_epoch_values():
    decay = get_preset("dense-lr-decay").recipe.schedule
    assert decay.values(3) == pytest.approx([0.01, 0.006, 0.0036])
    assert schedule_values(None, 0.001, 2) == [0.001, 0.001]
    assert "0.6 ** epoch" in decay.to_code()
    assert eval(decay.to_code())(2) == pytest.approx(0.0036)


ALL_PRESETS = [*PRESETS, *EXTRA_PRESETS]
SCHEDULES = [
    Constant(0.002),
    EpochDecay(0.01, 0.6),
    EpochDecay(0.02, 0.5, floor=1e-4, staircase=False),
    OneCycle(0.01, 5, warmup=0.2, start_div=25, opening=0.67),
]


@pytest.mark.parametrize("schedule", SCHEDULES, ids=lambda s: type(s).__name__)
def test_every_schedule_keeps_one_interface(schedule):
    import math

    assert isinstance(schedule, Schedule) and schedule.describe()
    steps = 100  # the opening cycle, 0.67 epochs, is then a whole number of steps
    per_step = schedule.keras_schedule(steps)
    rate = eval(schedule.to_code(), {"math": math})  # noqa: S307 - our own generated code
    for epoch in range(4):
        assert rate(epoch) == pytest.approx(schedule.rate_at(epoch), rel=1e-6)
        for step in (epoch * steps, epoch * steps + 13):
            got = per_step if isinstance(per_step, float) else float(per_step(step))
            assert got == pytest.approx(schedule.rate_at(step / steps), rel=1e-5)
    assert schedule.values(3) == [schedule.rate_at(e) for e in range(3)]


def test_epoch_decay_holds_each_epochs_rate_unless_smooth():
    stairs, smooth = EpochDecay(0.01, 0.5), EpochDecay(0.01, 0.5, staircase=False)
    assert stairs.rate_at(1.5) == pytest.approx(0.005)
    assert smooth.rate_at(1.5) == pytest.approx(0.01 * 0.5**1.5)
    assert type(stairs.keras_schedule(10)).__module__.startswith("keras")  # loads anywhere


@pytest.mark.parametrize("name", ALL_PRESETS)
def test_every_preset_recipe_plans_its_rates_and_prints_as_code(name):
    recipe = get_preset(name).recipe
    planned = schedule_values(recipe.schedule, recipe.learning_rate, recipe.epochs)
    assert len(planned) == recipe.epochs and all(r > 0 for r in planned)
    assert planned[0] == pytest.approx(recipe.start_rate())
    code = to_code(get_preset(name).layers, recipe)
    compile(code, name, "exec")  # valid Python
    if recipe.schedule is not None:
        assert "LearningRateScheduler(lambda epoch:" in code
        assert ("import math" in code) == ("math." in recipe.schedule.to_code())


def test_unknown_preset_is_a_clear_error():
    with pytest.raises(PresetError, match="unknown preset 'resnet'; choose one of softmax"):
        get_preset("resnet")
