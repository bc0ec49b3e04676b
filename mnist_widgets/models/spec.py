"""A model as plain data: a list of layer specs that builds a Keras model and prints its code.

The layer builder widget edits these specs; the same specs build the model and write the
code, so the two never disagree.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from ..errors import ModelSpecError
from .schedules import ExponentialDecay

ACTIVATIONS = ("relu", "sigmoid", "tanh", "softmax", "linear", "elu", "gelu", "swish")
PADDINGS = ("same", "valid")
OPTIMIZERS = ("sgd", "adam", "rmsprop", "adamw", "nadam")
_ADAM_FAMILY = frozenset({"adam", "adamw", "nadam"})  # the ones with beta_1 and beta_2


@dataclass(frozen=True)
class ParamInfo:
    """One editable parameter of a layer kind: its default and what values it takes."""

    default: Any
    kind: str  # "int", "float", "bool", "choice", "shape"
    choices: tuple = ()
    minimum: float | None = None
    maximum: float | None = None


LAYER_KINDS: dict[str, dict[str, ParamInfo]] = {
    "Input": {"shape": ParamInfo((28, 28, 1), "shape")},
    "Reshape": {"target_shape": ParamInfo((28, 28, 1), "shape")},
    "Flatten": {},
    "Dense": {
        "units": ParamInfo(200, "int", minimum=1, maximum=100000),
        "activation": ParamInfo("relu", "choice", ACTIVATIONS),
        "use_bias": ParamInfo(True, "bool"),
    },
    "Conv2D": {
        "filters": ParamInfo(12, "int", minimum=1, maximum=4096),
        "kernel_size": ParamInfo(3, "int", minimum=1, maximum=64),
        "strides": ParamInfo(1, "int", minimum=1, maximum=64),
        "padding": ParamInfo("same", "choice", PADDINGS),
        "activation": ParamInfo("relu", "choice", ACTIVATIONS),
        "use_bias": ParamInfo(True, "bool"),
    },
    "MaxPooling2D": {
        "pool_size": ParamInfo(2, "int", minimum=1, maximum=64),
        "strides": ParamInfo(2, "int", minimum=1, maximum=64),
        "padding": ParamInfo("valid", "choice", PADDINGS),
    },
    "GlobalAveragePooling2D": {},
    "BatchNormalization": {
        "center": ParamInfo(True, "bool"),
        "scale": ParamInfo(False, "bool"),
        "momentum": ParamInfo(0.99, "float", minimum=0.0, maximum=1.0),
    },
    "Dropout": {"rate": ParamInfo(0.25, "float", minimum=0.0, maximum=0.99)},
    "Activation": {"activation": ParamInfo("relu", "choice", ACTIVATIONS)},
}
IMAGE_LAYERS = ("Conv2D", "MaxPooling2D", "GlobalAveragePooling2D")


@dataclass
class LayerSpec:
    """One layer: its Keras class name and the parameters that differ from the defaults."""

    kind: str
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in LAYER_KINDS:
            raise ModelSpecError(
                f"unknown layer kind {self.kind!r}; choose one of {', '.join(LAYER_KINDS)}"
            )
        unknown = set(self.params) - set(LAYER_KINDS[self.kind])
        if unknown:
            raise ModelSpecError(f"{self.kind} has no parameter {', '.join(sorted(unknown))}")

    def full_params(self) -> dict[str, Any]:
        """Every parameter, defaults filled in."""
        merged = {name: info.default for name, info in LAYER_KINDS[self.kind].items()}
        merged.update(self.params)
        return merged

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "params": dict(self.params)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LayerSpec:
        params = {
            k: tuple(v) if isinstance(v, list) else v for k, v in data.get("params", {}).items()
        }
        return cls(data["kind"], params)

    def copy(self) -> LayerSpec:
        return copy.deepcopy(self)


@dataclass
class CompileSpec:
    """Optimizer, learning rate, schedule, batch size and epochs for training."""

    optimizer: str = "adam"
    learning_rate: float = 0.001
    schedule: ExponentialDecay | None = None
    batch_size: int = 128
    epochs: int = 10
    label_smoothing: float = 0.0
    shift: int = 0  # random shifts of the training images, up to this many pixels
    betas: tuple[float, float] | None = None  # Adam's (beta_1, beta_2); None: Keras' defaults

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ModelSpecError(
                f"unknown optimizer {self.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}"
            )
        if self.batch_size < 1 or self.epochs < 1 or not self.learning_rate > 0:
            raise ModelSpecError("batch size, epochs and learning rate must be positive")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ModelSpecError("label smoothing must be at least 0 and below 1")
        if not 0 <= self.shift <= 8:
            raise ModelSpecError("shift must be 0 to 8 pixels")
        if self.betas is not None:
            if self.optimizer not in _ADAM_FAMILY:
                raise ModelSpecError(f"betas are for {', '.join(sorted(_ADAM_FAMILY))}")
            if len(self.betas) != 2 or not all(0.0 <= b < 1.0 for b in self.betas):
                raise ModelSpecError("betas are two numbers at least 0 and below 1")

    def start_rate(self) -> float:
        return self.schedule(0) if self.schedule else self.learning_rate


@dataclass
class LayerReport:
    """What ``model.summary()`` says of one layer, or why it cannot be built."""

    index: int
    kind: str
    output_shape: tuple | None
    params: int = 0
    trainable: int = 0
    error: str | None = None


def _ints(value: Any) -> tuple[int, ...]:
    return tuple(int(v) for v in (value if isinstance(value, (tuple, list)) else (value,)))


def make_layer(spec: LayerSpec, name: str | None = None):
    """The Keras layer for one (non-Input) spec."""
    import keras

    p = spec.full_params()
    kw: dict[str, Any] = {"name": name} if name else {}
    if spec.kind == "Reshape":
        return keras.layers.Reshape(_ints(p["target_shape"]), **kw)
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


def _shape_problem(spec: LayerSpec, in_shape: tuple) -> str | None:
    """A plain-words reason a layer cannot follow ``in_shape``, checked before Keras sees it."""
    p = spec.full_params()
    if spec.kind in IMAGE_LAYERS and len(in_shape) != 3:
        return (
            f"{spec.kind} needs an image input (height, width, channels) but gets {in_shape}: "
            "put it before Flatten, or add Reshape (28, 28, 1)"
        )
    if spec.kind == "Flatten" and len(in_shape) < 2:
        return f"Flatten gets {in_shape}, which is flat already: remove it"
    if spec.kind == "Reshape":
        import math

        target = _ints(p["target_shape"])
        if any(t < 1 for t in target) or math.prod(target) != math.prod(in_shape):
            return (
                f"Reshape to {target} needs {math.prod(target)} values but its input "
                f"{in_shape} has {math.prod(in_shape)}"
            )
    if spec.kind in ("Conv2D", "MaxPooling2D") and len(in_shape) == 3:
        size = int(p["kernel_size"] if spec.kind == "Conv2D" else p["pool_size"])
        stride = int(p["strides"])
        height, width = in_shape[0], in_shape[1]
        what = "kernel" if spec.kind == "Conv2D" else "pool"
        if p["padding"] == "valid" and size > min(height, width):
            return (
                f"{what} {size}x{size} is larger than its {height}x{width} input: "
                f"use a smaller {what} or padding 'same'"
            )
        if stride > max(height, width):
            return f"stride {stride} is larger than the {height}x{width} input"
    return None


def analyse(layers: list[LayerSpec]) -> list[LayerReport]:
    """Build the stack layer by layer: output shape and parameters per layer, or the error.

    Never raises for a bad stack: the first bad layer carries the message and later
    layers are reported without shapes.
    """
    import keras

    reports: list[LayerReport] = []
    if not layers or layers[0].kind != "Input":
        msg = "the first layer must be Input (its shape: (784,) for dense, (28, 28, 1) for conv)"
        return [
            LayerReport(i, s.kind, None, error=msg if i == 0 else None)
            for i, s in enumerate(layers)
        ]
    shape = _ints(layers[0].full_params()["shape"])
    if any(s < 1 for s in shape):
        return [LayerReport(0, "Input", None, error=f"Input shape {shape} must be positive")] + [
            LayerReport(i, s.kind, None) for i, s in enumerate(layers[1:], 1)
        ]
    reports.append(LayerReport(0, "Input", shape))
    tensor = keras.KerasTensor((None, *shape))
    failed = False
    for index, spec in enumerate(layers[1:], 1):
        if failed:
            reports.append(LayerReport(index, spec.kind, None))
            continue
        error = _shape_problem(spec, tuple(tensor.shape[1:]))
        if spec.kind == "Input":
            error = "Input can only be the first layer"
        if error is None:
            try:
                layer = make_layer(spec)
                out = layer(tensor)
                out_shape = tuple(out.shape[1:])
                if any(d is not None and d < 1 for d in out_shape):
                    error = (
                        f"{spec.kind} shrinks its input {tuple(tensor.shape[1:])} to "
                        f"{out_shape}: use a smaller kernel or stride, or padding 'same'"
                    )
            except Exception as exc:  # Keras' own message, one line
                error = f"{spec.kind}: {str(exc).strip().splitlines()[0]}"
        if error:
            reports.append(LayerReport(index, spec.kind, None, error=error))
            failed = True
            continue
        trainable = sum(_size(w.shape) for w in layer.trainable_weights)
        total = sum(_size(w.shape) for w in layer.weights)
        reports.append(LayerReport(index, spec.kind, out_shape, total, trainable))
        tensor = out
    if not failed:
        last = layers[-1]
        p = last.full_params()
        if not (
            last.kind == "Dense"
            and reports[-1].output_shape == (10,)
            and p["activation"] == "softmax"
        ):
            reports[-1].error = "a digit classifier must end with Dense(10, activation='softmax')"
            shape = reports[-1].output_shape
            if last.kind == "Dense" and shape and shape[-1] == 10 and len(shape) > 1:
                reports[-1].error = (
                    f"the output is {shape}, not (10,): add Flatten (or GlobalAveragePooling2D) "
                    "before the final Dense"
                )
    return reports


def _size(shape) -> int:
    n = 1
    for d in shape:
        n *= int(d)
    return n


def first_error(reports: list[LayerReport]) -> LayerReport | None:
    return next((r for r in reports if r.error), None)


def build(layers: list[LayerSpec], name: str = "model"):
    """A Keras ``Sequential`` model from specs; raises ModelSpecError on an impossible stack."""
    import keras

    if not layers:
        raise ModelSpecError("the model has no layers: add an Input layer first, or load a preset")
    bad = first_error(analyse(layers))
    if bad:
        raise ModelSpecError(f"layer {bad.index} ({bad.kind}): {bad.error}", bad.index)
    stack = [keras.Input(shape=_ints(layers[0].full_params()["shape"]))]
    stack += [make_layer(s) for s in layers[1:]]
    return keras.Sequential(stack, name=name)


def make_optimizer(compile_spec: CompileSpec):
    import keras

    classes = {
        "sgd": keras.optimizers.SGD,
        "adam": keras.optimizers.Adam,
        "rmsprop": keras.optimizers.RMSprop,
        "adamw": keras.optimizers.AdamW,
        "nadam": keras.optimizers.Nadam,
    }
    extra = {}
    if compile_spec.betas is not None:
        extra = {"beta_1": compile_spec.betas[0], "beta_2": compile_spec.betas[1]}
    return classes[compile_spec.optimizer](learning_rate=compile_spec.start_rate(), **extra)


def make_loss(compile_spec: CompileSpec):
    """The loss for integer labels: plain cross-entropy, or smoothed when the spec says so."""
    if not compile_spec.label_smoothing:
        return "sparse_categorical_crossentropy"
    from .losses import smoothed_sparse_crossentropy

    return smoothed_sparse_crossentropy(compile_spec.label_smoothing)


def compile_model(model, compile_spec: CompileSpec):
    model.compile(
        optimizer=make_optimizer(compile_spec),
        loss=make_loss(compile_spec),
        metrics=["accuracy"],
    )
    return model


def portable_compile(model) -> bool:
    """Recompile ``model`` with Keras' own loss and a constant rate (the current one) when it
    was compiled with the kit's loss or per-step schedule, so that ``model.save()`` files load
    with plain ``keras.models.load_model`` anywhere. Returns True when it recompiled.

    The optimizer's state starts afresh; the engine calls this when a run has ended.
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
    if not (custom_rate or custom_loss):
        return False
    config = optimizer.get_config()
    if custom_rate:
        config["learning_rate"] = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
    model.compile(
        optimizer=type(optimizer).from_config(config),
        loss="sparse_categorical_crossentropy" if custom_loss else loss,
        metrics=["accuracy"],
        steps_per_execution=model.steps_per_execution,
        jit_compile=model.jit_compile,
    )
    return True


# parameters whose default here differs from Keras' own default: the code always spells them out
_ALWAYS_WRITTEN = {("Conv2D", "padding"), ("MaxPooling2D", "strides")}


def _layer_code(spec: LayerSpec) -> str:
    p = spec.full_params()
    defaults = {n: i.default for n, i in LAYER_KINDS[spec.kind].items()}
    if spec.kind == "Input":
        return f"tf.keras.Input(shape={_ints(p['shape'])!r})"
    if spec.kind == "Reshape":
        return f"tf.keras.layers.Reshape({_ints(p['target_shape'])!r})"
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


def to_code(layers: list[LayerSpec], compile_spec: CompileSpec | None = None) -> str:
    """Python (tf.keras) source that defines ``model`` with the same layers."""
    lines = ["import tensorflow as tf", "", "model = tf.keras.Sequential(["]
    lines += [f"    {_layer_code(s)}," for s in layers]
    lines.append("])")
    if compile_spec is not None:
        c = compile_spec
        opt = {
            "sgd": "SGD",
            "adam": "Adam",
            "rmsprop": "RMSprop",
            "adamw": "AdamW",
            "nadam": "Nadam",
        }
        loss = "'sparse_categorical_crossentropy'"
        if c.label_smoothing:
            lines.append(
                f"# label smoothing {c.label_smoothing:g}: train on tf.one_hot(labels, 10)"
            )
            loss = f"tf.keras.losses.CategoricalCrossentropy(label_smoothing={c.label_smoothing!r})"
        betas = f", beta_1={c.betas[0]!r}, beta_2={c.betas[1]!r}" if c.betas else ""
        lines += [
            "model.compile(",
            f"    optimizer=tf.keras.optimizers.{opt[c.optimizer]}("
            f"learning_rate={c.start_rate()!r}{betas}),",
            f"    loss={loss},",
            "    metrics=['accuracy'],",
            ")",
        ]
        if c.schedule is not None:
            lines += [
                "",
                "# learning-rate schedule: pass callbacks=[lr_schedule] to model.fit",
                f"lr_schedule = tf.keras.callbacks.LearningRateScheduler({c.schedule.code()})",
            ]
        if c.shift:
            lines.append(f"# augmentation: move each training image by up to {c.shift} pixel(s)")
        lines += [f"BATCH_SIZE = {c.batch_size}", f"EPOCHS = {c.epochs}"]
    return "\n".join(lines) + "\n"
