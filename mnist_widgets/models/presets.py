"""The codelab's ladder of models, from one dense layer to a batch-normalised CNN."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import PresetError
from .build import build, compile_model
from .recipe import TrainingRecipe
from .schedules import EpochDecay, OneCycle
from .spec import LayerSpec

L = LayerSpec


@dataclass
class Preset:
    """One rung of the ladder: layers, training settings and the accuracy the codelab reports."""

    name: str
    title: str
    description: str
    layers: list[LayerSpec]
    recipe: TrainingRecipe
    expected_accuracy: float

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.layers[0].full_params()["shape"])

    def layer_copies(self) -> list[LayerSpec]:
        return [layer.copy() for layer in self.layers]


def _dense_input() -> LayerSpec:
    return L("Input", {"shape": (784,)})


def _image_input() -> LayerSpec:
    return L("Input", {"shape": (28, 28, 1)})


def _conv_stack(batchnorm: bool) -> list[LayerSpec]:
    convs = [(12, 3, 1), (24, 6, 2), (32, 6, 2)]
    layers: list[LayerSpec] = [_image_input()]
    for filters, kernel, stride in convs:
        if batchnorm:
            layers += [
                L(
                    "Conv2D",
                    {
                        "filters": filters,
                        "kernel_size": kernel,
                        "strides": stride,
                        "activation": "linear",
                        "use_bias": False,
                    },
                ),
                L("BatchNormalization", {"center": True, "scale": False}),
                L("Activation", {"activation": "relu"}),
            ]
        else:
            layers.append(
                L("Conv2D", {"filters": filters, "kernel_size": kernel, "strides": stride})
            )
    layers.append(L("Flatten"))
    return layers


SOFTMAX_DECAY = EpochDecay(0.01, 0.6)

PRESETS: dict[str, Preset] = {}


def _add(preset: Preset) -> None:
    PRESETS[preset.name] = preset


_add(
    Preset(
        "softmax",
        "One dense softmax layer",
        "A single Dense(10, softmax) layer on the 784 pixels, trained with plain SGD.",
        [_dense_input(), L("Dense", {"units": 10, "activation": "softmax"})],
        TrainingRecipe("sgd", 0.01, None, 128, 10),
        0.92,
    )
)
_add(
    Preset(
        "dense",
        "Three dense layers, relu and Adam",
        "Dense 200 and 60 with relu, then softmax; Adam converges where SGD with sigmoid stalls.",
        [
            _dense_input(),
            L("Dense", {"units": 200}),
            L("Dense", {"units": 60}),
            L("Dense", {"units": 10, "activation": "softmax"}),
        ],
        TrainingRecipe("adam", 0.001, None, 128, 10),
        0.97,
    )
)
_add(
    Preset(
        "dense-lr-decay",
        "Dense layers with learning-rate decay",
        "Start fast (Adam at 0.01) and decay the rate by 0.6 each epoch: the noise goes away.",
        [
            _dense_input(),
            L("Dense", {"units": 200}),
            L("Dense", {"units": 60}),
            L("Dense", {"units": 10, "activation": "softmax"}),
        ],
        TrainingRecipe("adam", 0.01, SOFTMAX_DECAY, 128, 10),
        0.98,
    )
)
_add(
    Preset(
        "dense-dropout",
        "Dense layers with dropout",
        "Dense 200/100/60, each followed by dropout 0.25, with the decaying rate: dropout alone "
        "cannot fix what flattening the image threw away.",
        [
            _dense_input(),
            L("Dense", {"units": 200}),
            L("Dropout", {"rate": 0.25}),
            L("Dense", {"units": 100}),
            L("Dropout", {"rate": 0.25}),
            L("Dense", {"units": 60}),
            L("Dropout", {"rate": 0.25}),
            L("Dense", {"units": 10, "activation": "softmax"}),
        ],
        TrainingRecipe("adam", 0.01, SOFTMAX_DECAY, 128, 10),
        0.98,
    )
)
_add(
    Preset(
        "cnn",
        "Convolutional network",
        "Conv 3x3x12, 6x6x24 stride 2, 6x6x32 stride 2, then dense 200: shapes matter.",
        _conv_stack(False)
        + [L("Dense", {"units": 200}), L("Dense", {"units": 10, "activation": "softmax"})],
        TrainingRecipe("adam", 0.01, SOFTMAX_DECAY, 128, 10),
        0.99,
    )
)
_add(
    Preset(
        "cnn-dropout",
        "Convolutional network with dropout",
        "The CNN with dropout 0.25 on the dense layer: now the validation loss stops rising.",
        _conv_stack(False)
        + [
            L("Dense", {"units": 200}),
            L("Dropout", {"rate": 0.25}),
            L("Dense", {"units": 10, "activation": "softmax"}),
        ],
        TrainingRecipe("adam", 0.01, SOFTMAX_DECAY, 128, 10),
        0.992,
    )
)
_add(
    Preset(
        "cnn-batchnorm",
        "Convolutional network with batch norm",
        "No bias, batch norm (center, no scale), then relu after each conv and the dense 200; "
        "dropout 0.3, batch 64, rate 0.01 x 0.666^epoch.",
        _conv_stack(True)
        + [
            L("Dense", {"units": 200, "activation": "linear", "use_bias": False}),
            L("BatchNormalization", {"center": True, "scale": False}),
            L("Activation", {"activation": "relu"}),
            L("Dropout", {"rate": 0.3}),
            L("Dense", {"units": 10, "activation": "softmax"}),
        ],
        TrainingRecipe("adam", 0.01, EpochDecay(0.01, 0.666), 64, 12),
        0.995,
    )
)


def list_presets() -> list[Preset]:
    return list(PRESETS.values())


def get_preset(name: str) -> Preset:
    if name in EXTRA_PRESETS:
        return EXTRA_PRESETS[name]
    if name not in PRESETS:
        raise PresetError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return PRESETS[name]


def build_model(name: str, compiled: bool = True):
    """The Keras model of a preset, compiled with its optimizer unless ``compiled`` is False."""
    preset = get_preset(name)
    model = build(preset.layers, name=name.replace("-", "_"))
    return compile_model(model, preset.recipe) if compiled else model


def _fast_layers() -> list[LayerSpec]:
    """Three strided conv blocks and a dense block with dropout, each batch-normalised with
    a short memory (momentum 0.9: large batches make few steps, and the test-time averages
    must keep up)."""
    layers: list[LayerSpec] = [_image_input()]
    for filters, kernel in ((24, 5), (48, 3), (64, 3)):
        layers += [
            L(
                "Conv2D",
                {
                    "filters": filters,
                    "kernel_size": kernel,
                    "strides": 2,
                    "activation": "linear",
                    "use_bias": False,
                },
            ),
            L("BatchNormalization", {"momentum": 0.9}),
            L("Activation", {"activation": "relu"}),
        ]
    return layers + [
        L("Flatten"),
        L("Dense", {"units": 256, "activation": "linear", "use_bias": False}),
        L("BatchNormalization", {"momentum": 0.9}),
        L("Activation", {"activation": "relu"}),
        L("Dropout", {"rate": 0.25}),
        L("Dense", {"units": 10, "activation": "softmax"}),
    ]


# Presets beyond the codelab's ladder: found by ``get_preset`` but not listed in ``PRESETS``.
EXTRA_PRESETS: dict[str, Preset] = {}
EXTRA_PRESETS["cnn-fast"] = Preset(
    "cnn-fast",
    "Lean CNN for speed",
    "A third of cnn-batchnorm's work per image: every conv has stride 2; batch 256, Adam "
    "with short memories (betas 0.7, 0.9), label smoothing 0.1, random shifts of 1 pixel, "
    "and a per-step rate: an opening cycle of two thirds of an epoch, then one cycle over the "
    "rest of the five epochs.",
    _fast_layers(),
    TrainingRecipe(
        "adam",
        0.01,
        OneCycle(0.01, 5, warmup=0.2, start_div=25, opening=0.67),
        256,
        5,
        label_smoothing=0.1,
        shift=1,
        betas=(0.7, 0.9),
    ),
    0.995,
)
