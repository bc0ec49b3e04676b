"""Check a layer stack before Keras sees it: output shape and parameters per layer, or the
first layer that cannot follow its input, in plain words."""

from __future__ import annotations

from dataclasses import dataclass

from .build import make_layer
from .spec import IMAGE_LAYERS, LayerSpec, ints


@dataclass
class LayerReport:
    """What ``model.summary()`` says of one layer, or why it cannot be built."""

    index: int
    kind: str
    output_shape: tuple | None
    params: int = 0
    trainable: int = 0
    error: str | None = None


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

        target = ints(p["target_shape"])
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
    shape = ints(layers[0].full_params()["shape"])
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
