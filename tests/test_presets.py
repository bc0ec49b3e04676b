"""The codelab's ladder: every preset builds with the right parameter count and settings."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from mnist_widgets.errors import PresetError
from mnist_widgets.models import (
    PRESETS,
    ExponentialDecay,
    build_model,
    get_preset,
    schedule_values,
)

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
    assert isinstance(model.optimizer, expected_optimizer[preset.compile.optimizer])


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
    assert preset.compile.batch_size == 64
    assert preset.compile.schedule == ExponentialDecay(0.01, 0.666)
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
    decay = get_preset("dense-lr-decay").compile.schedule
    assert decay.values(3) == pytest.approx([0.01, 0.006, 0.0036])
    assert schedule_values(None, 0.001, 2) == [0.001, 0.001]
    assert "0.6 ** epoch" in decay.code()
    assert eval(decay.code())(2) == pytest.approx(0.0036)


def test_unknown_preset_is_a_clear_error():
    with pytest.raises(PresetError, match="unknown preset 'resnet'; choose one of softmax"):
        get_preset("resnet")
