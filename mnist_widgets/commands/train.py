"""``mnist-widgets train``: headless training of a preset with a progress bar, saved as a
run folder (``mnist_widgets.runs``) with a PNG of its curves."""

from __future__ import annotations

import tempfile
from pathlib import Path

from ..arguments import positive_int

CURVES_PNG = "curves.png"


def register(sub) -> None:
    from ..models.presets import EXTRA_PRESETS, PRESETS

    parser = sub.add_parser("train", help="train a preset headless and save the model")
    parser.add_argument(
        "--preset",
        required=True,
        choices=[*PRESETS, *EXTRA_PRESETS],
        metavar="NAME",
        help=f"one of: {', '.join([*PRESETS, *EXTRA_PRESETS])}",
    )
    parser.add_argument(
        "--fast",
        action="store_true",
        help="the fast route: in-memory tensors, grouped steps (cnn-fast always uses it)",
    )
    parser.add_argument("--epochs", type=positive_int, help="epochs (default: the preset's)")
    parser.add_argument("--limit", type=positive_int, help="train on the first N training images")
    parser.add_argument("--batch-size", type=positive_int, help="batch size (default: preset)")
    parser.add_argument("--dataset", default="mnist", choices=["mnist", "fashion-mnist"])
    parser.add_argument("--seed", type=int, default=None, help="seed for a repeatable run")
    parser.add_argument(
        "--out",
        default="runs",
        help="runs folder: the run is saved in a new folder inside it (model.keras, curves.png...)",
    )
    parser.set_defaults(func=run)


def _writable_dir(path: str) -> Path:
    from ..errors import MnistWidgetsError

    out = Path(path).expanduser()
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out):
            pass
    except OSError as exc:
        raise MnistWidgetsError(f"--out {out}: not writable ({exc.strerror or exc})") from None
    return out


def run(args) -> int:
    from ..data.loading import load_data
    from ..models.presets import EXTRA_PRESETS, build_model, get_preset
    from ..reports.curves import save_curves

    # what a user can get wrong is checked before TensorFlow loads (seconds): one line at once
    out = _writable_dir(args.out)
    preset = get_preset(args.preset)
    data = load_data(args.dataset)

    from ..training.engine import Trainer, seed_everything
    from ..training.progress import ProgressBar
    from ..training.saved_runs import save_training_run

    seed_everything(args.seed)
    model = build_model(preset.name, compiled=False)  # the engine compiles it for the run
    trainer = Trainer(
        model,
        preset.recipe,
        data=data,
        limit=args.limit,
        epochs=args.epochs,
        batch_size=args.batch_size,
        seed=args.seed,
        listeners=[ProgressBar()],
        fast=args.fast or preset.name in EXTRA_PRESETS,
    )
    images = min(args.limit or len(data[0][0]), len(data[0][0]))
    print(
        f"training {preset.name} on {args.dataset} ({images} images) with {_device()}", flush=True
    )
    result = trainer.run()
    schedule = preset.recipe.rate_schedule(trainer.epochs)

    def curves_png(path: Path) -> None:
        save_curves(result.history, result.learning_rates, path, schedule)

    saved = save_training_run(out, trainer, result, extras={CURVES_PNG: curves_png})
    if result.stop_reason == "nan":
        print(f"warning: {result.message}")
    print(
        f"saved {saved.path}: {saved.model_path.name}, {CURVES_PNG}, "
        f"{saved.code_path.name} ({result.seconds:.0f} s of training)"
    )
    print(f"test_accuracy={result.test_accuracy:.4f}")
    return 0


def _device() -> str:
    from ..training.device import describe_device

    return describe_device()
