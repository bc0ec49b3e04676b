"""From specs and a recipe to a compiled Keras model: the one optimizer table, the loss and
``compile``, used by the engine, the widgets and the cloud trainer alike."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from ..errors import ModelSpecError
from .spec import LayerSpec, ints

if TYPE_CHECKING:
    from .recipe import TrainingRecipe

# recipe.optimizer -> the Keras optimizer class's name
OPTIMIZER_CLASSES = {
    "sgd": "SGD",
    "adam": "Adam",
    "rmsprop": "RMSprop",
    "adamw": "AdamW",
    "nadam": "Nadam",
}


def make_layer(spec: LayerSpec, name: str | None = None):
    """The Keras layer for one (non-Input) spec."""
    import keras

    p = spec.full_params()
    kw: dict[str, Any] = {"name": name} if name else {}
    if spec.kind == "Reshape":
        return keras.layers.Reshape(ints(p["target_shape"]), **kw)
    if spec.kind in ("Dense", "Conv2D"):
        kw.update(activation=p["activation"], use_bias=bool(p["use_bias"]))
        if spec.kind == "Dense":
            return keras.layers.Dense(int(p["units"]), **kw)
        return keras.layers.Conv2D(
            int(p["filters"]),
            int(p["kernel_size"]),
            strides=int(p["strides"]),
            padding=p["padding"],
            **kw,
        )
    if spec.kind == "MaxPooling2D":
        return keras.layers.MaxPooling2D(
            int(p["pool_size"]), strides=int(p["strides"]), padding=p["padding"], **kw
        )
    if spec.kind == "BatchNormalization":
        return keras.layers.BatchNormalization(
            center=bool(p["center"]), scale=bool(p["scale"]), momentum=float(p["momentum"]), **kw
        )
    if spec.kind == "Dropout":
        return keras.layers.Dropout(float(p["rate"]), **kw)
    if spec.kind == "Activation":
        return keras.layers.Activation(p["activation"], **kw)
    return getattr(keras.layers, spec.kind)(**kw)


def build(layers: list[LayerSpec], name: str = "model"):
    """A Keras ``Sequential`` model from specs; raises ModelSpecError on an impossible stack."""
    import keras

    from .analyse import analyse, first_error

    if not layers:
        raise ModelSpecError("the model has no layers: add an Input layer first, or load a preset")
    bad = first_error(analyse(layers))
    if bad:
        raise ModelSpecError(f"layer {bad.index} ({bad.kind}): {bad.error}")
    stack = [keras.Input(shape=ints(layers[0].full_params()["shape"]))]
    stack += [make_layer(s) for s in layers[1:]]
    return keras.Sequential(stack, name=name)


def input_shape(model) -> tuple[int, ...]:
    """The shape one image must have for ``model``: (784,), (28, 28, 1) or any 784-pixel shape."""
    shape = tuple(int(d) for d in model.input_shape[1:])
    if math.prod(shape) != 28 * 28:
        raise ModelSpecError(
            f"the model takes inputs of shape {shape}; a digit needs (784,) or (28, 28, 1)"
        )
    return shape


def make_optimizer(
    recipe: TrainingRecipe, steps_per_epoch: int | None = None, epochs: int | None = None
):
    """The recipe's Keras optimizer.

    With ``steps_per_epoch`` its rate follows the schedule step by step (fitted to ``epochs``,
    default the recipe's); without, it starts at the schedule's first rate and a per-epoch
    ``keras.callbacks.LearningRateScheduler(recipe.rate_schedule())`` must move it.
    """
    import keras

    schedule = recipe.rate_schedule(epochs)
    rate = schedule.keras_schedule(steps_per_epoch) if steps_per_epoch else schedule.rate_at(0)
    extra = {}
    if recipe.betas is not None:
        extra = {"beta_1": recipe.betas[0], "beta_2": recipe.betas[1]}
    optimizer_class = getattr(keras.optimizers, OPTIMIZER_CLASSES[recipe.optimizer])
    return optimizer_class(learning_rate=rate, **extra)


def make_loss(recipe: TrainingRecipe):
    """The loss for integer labels: plain cross-entropy, or smoothed when the recipe says so."""
    if not recipe.label_smoothing:
        return "sparse_categorical_crossentropy"
    from .losses import smoothed_sparse_crossentropy

    return smoothed_sparse_crossentropy(recipe.label_smoothing)


def compile_model(
    model,
    recipe: TrainingRecipe,
    steps_per_epoch: int | None = None,
    epochs: int | None = None,
    **compile_args: Any,
):
    """Compile ``model`` with the recipe's optimizer (see ``make_optimizer``) and loss, and
    accuracy as its metric; ``compile_args`` go to ``model.compile``. Returns ``model``."""
    model.compile(
        optimizer=make_optimizer(recipe, steps_per_epoch, epochs),
        loss=make_loss(recipe),
        metrics=["accuracy"],
        **compile_args,
    )
    return model


def portable_compile(model, target=None) -> bool:
    """Compile ``target`` (default: ``model`` itself) so that its ``.keras`` file loads with
    plain ``keras.models.load_model`` anywhere: ``model``'s optimizer settings, with the
    kit's per-step schedule replaced by the current rate and the kit's smoothed loss by
    Keras' sparse cross-entropy. Returns True when it compiled.

    ``model`` itself is recompiled only when it uses the kit's schedule or loss; its
    optimizer's state then starts afresh (the engine calls this when a run has ended).
    """
    import keras

    def ours(obj) -> bool:
        return type(obj).__module__.startswith("mnist_widgets.")

    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        return False
    schedule = getattr(optimizer, "_learning_rate", None)
    custom_rate = isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule) and ours(
        schedule
    )
    loss = getattr(model, "loss", None)
    custom_loss = loss is not None and not isinstance(loss, str) and ours(loss)
    if (target is None or target is model) and not (custom_rate or custom_loss):
        return False
    config = optimizer.get_config()
    if custom_rate:
        config["learning_rate"] = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
    (target if target is not None else model).compile(
        optimizer=type(optimizer).from_config(config),
        loss="sparse_categorical_crossentropy" if custom_loss else loss,
        metrics=["accuracy"],
        steps_per_execution=model.steps_per_execution,
        jit_compile=model.jit_compile,
    )
    return True
