"""``mnist-widgets predict --model PATH FILE...``: classify digit pictures or JSON instances.

A FILE is a PNG/JPEG picture of one digit (any size, dark ink on light paper or light on
dark: it is centred and scaled the MNIST way by ``data.preprocess.to_mnist``) or a JSON
file in the serving format: a list of 28x28 arrays, or ``{"instances": [...]}``, with
values in [0, 1] (or 0-255, which are scaled). One line per digit is printed, as
``digit.png: 7 (0.998)`` or ``batch.json[3]: 2 (0.910)``. A file that cannot be read gets a
one-line error on stderr and the others are still predicted; the exit status is then 1.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg")


class InputError(Exception):
    """One input file that cannot be turned into digits (reported, then skipped)."""


def register(sub) -> None:
    parser = sub.add_parser(
        "predict",
        help="classify digit pictures (PNG/JPEG) or JSON instances with a saved model",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
    )
    parser.add_argument(
        "--model", required=True, help="a .keras file or a SavedModel folder (trainer export)"
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="PNG/JPEG pictures or JSON")
    parser.set_defaults(func=run)


def read_picture(path: Path) -> np.ndarray:
    """One digit picture -> float32 (1, 28, 28) in [0, 1], MNIST-style."""
    from PIL import Image, UnidentifiedImageError

    from ..data.preprocess import to_mnist
    from ..errors import MnistWidgetsError

    try:
        with Image.open(path) as image:
            image.load()
            transparent = "A" in image.getbands() or "transparency" in image.info
            pixels = np.asarray(image.convert("RGBA" if transparent else "L"))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"not a readable PNG/JPEG picture ({_reason(exc)})") from None
    try:
        return to_mnist(pixels)[None]
    except MnistWidgetsError as exc:
        raise InputError(str(exc)) from None


def read_instances(path: Path) -> np.ndarray:
    """A serving-format JSON file -> float32 (N, 28, 28) in [0, 1]."""
    try:
        data = json.loads(path.read_text())
    except UnicodeDecodeError:
        raise InputError("not a text JSON file") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"malformed JSON ({exc.msg} at line {exc.lineno})") from None
    if isinstance(data, dict):
        if "instances" not in data:
            raise InputError('a JSON object needs an "instances" list')
        data = data["instances"]
    if not isinstance(data, list) or not data:
        raise InputError("expected a non-empty list of 28x28 arrays")
    if all(isinstance(item, dict) and len(item) == 1 for item in data):
        data = [next(iter(item.values())) for item in data]  # [{"images": [...]}, ...]
    try:
        array = np.asarray(data, dtype=np.float32)
    except (ValueError, TypeError):
        raise InputError("instances must be 28x28 arrays of numbers, all the same shape") from None
    if array.ndim == 2 and array.shape[1] == 784:
        array = array.reshape(-1, 28, 28)
    if array.ndim != 3 or array.shape[1:] != (28, 28):
        raise InputError(f"instances must be 28x28 arrays, got shape {array.shape[1:]}")
    if not np.isfinite(array).all() or array.min() < 0:
        raise InputError("pixel values must be finite and not negative")
    if array.max() > 1.0:
        if array.max() > 255.0:
            raise InputError("pixel values must lie in [0, 1] or 0-255")
        array = array / 255.0
    return array


def read_inputs(path: Path) -> tuple[np.ndarray, bool]:
    """Images (N, 28, 28) from one file, and whether it was a picture (one digit)."""
    if not path.is_file():
        raise InputError("no such file")
    suffix = path.suffix.lower()
    if suffix == ".json":
        return read_instances(path), False
    if suffix in PICTURE_SUFFIXES:
        return read_picture(path), True
    raise InputError("expected a .png, .jpg, .jpeg or .json file")


def run(args) -> int:
    from ..cloud.export import load_predictor

    predict = load_predictor(args.model)  # errors here are the user's: exit 2
    failed = False
    for name in args.files:
        try:
            images, picture = read_inputs(Path(name))
        except InputError as exc:
            print(f"{name}: error: {exc}", file=sys.stderr, flush=True)
            failed = True
            continue
        probabilities = predict(images)
        for index, row in enumerate(probabilities):
            label = name if picture else f"{name}[{index}]"
            digit = int(np.argmax(row))
            print(f"{label}: {digit} ({row[digit]:.3f})", flush=True)
    return 1 if failed else 0


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:120] if text else type(exc).__name__
