"""The Python (tf.keras) source of a layer stack and its training recipe."""

from __future__ import annotations

from .build import OPTIMIZER_CLASSES
from .recipe import TrainingRecipe
from .spec import LAYER_KINDS, LayerSpec, ints

# parameters whose default here differs from Keras' own default: the code always spells them out
_ALWAYS_WRITTEN = {("Conv2D", "padding"), ("MaxPooling2D", "strides")}


def _layer_code(spec: LayerSpec) -> str:
    p = spec.full_params()
    defaults = {n: i.default for n, i in LAYER_KINDS[spec.kind].items()}
    if spec.kind == "Input":
        return f"tf.keras.Input(shape={ints(p['shape'])!r})"
    if spec.kind == "Reshape":
        return f"tf.keras.layers.Reshape({ints(p['target_shape'])!r})"
    positional = {
        "Dense": ["units"],
        "Conv2D": ["filters", "kernel_size"],
        "MaxPooling2D": ["pool_size"],
        "Dropout": ["rate"],
        "Activation": ["activation"],
    }
    args = [repr(p[n]) for n in positional.get(spec.kind, [])]
    for name, value in p.items():
        if name in positional.get(spec.kind, []):
            continue
        keep = (
            value != defaults[name]
            or name == "activation"
            or spec.kind == "BatchNormalization"
            or (spec.kind, name) in _ALWAYS_WRITTEN
        )
        if spec.kind == "BatchNormalization" and name == "momentum" and value == 0.99:
            keep = False
        if keep:
            args.append(f"{name}={value!r}")
    return f"tf.keras.layers.{spec.kind}({', '.join(args)})"


def to_code(layers: list[LayerSpec], recipe: TrainingRecipe | None = None) -> str:
    """Python (tf.keras) source that defines ``model`` with the same layers, and compiles it
    with ``recipe``'s optimizer, loss and schedule when one is given."""
    schedule_code = recipe.schedule.to_code() if recipe and recipe.schedule else None
    imports = ["import math"] if schedule_code and "math." in schedule_code else []
    lines = [*imports, "import tensorflow as tf", "", "model = tf.keras.Sequential(["]
    lines += [f"    {_layer_code(s)}," for s in layers]
    lines.append("])")
    if recipe is not None:
        c = recipe
        loss = "'sparse_categorical_crossentropy'"
        if c.label_smoothing:
            lines.append(
                f"# label smoothing {c.label_smoothing:g}: train on tf.one_hot(labels, 10)"
            )
            loss = f"tf.keras.losses.CategoricalCrossentropy(label_smoothing={c.label_smoothing!r})"
        betas = f", beta_1={c.betas[0]!r}, beta_2={c.betas[1]!r}" if c.betas else ""
        lines += [
            "model.compile(",
            f"    optimizer=tf.keras.optimizers.{OPTIMIZER_CLASSES[c.optimizer]}("
            f"learning_rate={c.start_rate()!r}{betas}),",
            f"    loss={loss},",
            "    metrics=['accuracy'],",
            ")",
        ]
        if schedule_code is not None:
            lines += [
                "",
                f"# learning rate: {c.schedule.describe()}; pass callbacks=[lr_schedule] to fit",
                f"lr_schedule = tf.keras.callbacks.LearningRateScheduler({schedule_code})",
            ]
        if c.shift:
            lines.append(f"# augmentation: move each training image by up to {c.shift} pixel(s)")
        lines += [f"BATCH_SIZE = {c.batch_size}", f"EPOCHS = {c.epochs}"]
    return "\n".join(lines) + "\n"
