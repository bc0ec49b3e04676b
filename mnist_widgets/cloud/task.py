"""The cloud-ready trainer: flags, then train, checkpoint, export and report.

Run it as ``python -m mnist_widgets.cloud --job-dir DIR`` (or ``mnist-widgets trainer``).
Without hyperparameter flags it trains the preset's own recipe, as ``mnist-widgets train``
does; the model is built and compiled through ``mnist_widgets.models``.
Vertex AI sets ``AIP_MODEL_DIR`` (used when ``--job-dir`` is not given),
``AIP_CHECKPOINT_DIR`` and ``AIP_TENSORBOARD_LOG_DIR``; a multi-worker job sets ``TF_CONFIG``.
Hyperparameter flags accept ``--lr-start`` and ``--lr_start`` alike, since tuning services
pass each parameter as ``--<parameterId>=<value>``.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import os
import posixpath
import sys
import time

from ..arguments import positive_int
from ..errors import MnistWidgetsError

JOB_DIR_VAR = "AIP_MODEL_DIR"
CHECKPOINT_DIR_VAR = "AIP_CHECKPOINT_DIR"
LOG_DIR_VAR = "AIP_TENSORBOARD_LOG_DIR"
DEFAULT_PRESET = "cnn-batchnorm"
EVAL_BATCH = 1000


def _fraction(value: str) -> float:
    number = _positive_float(value, allow_zero=True)
    if number >= 1:
        raise argparse.ArgumentTypeError(f"must be below 1, got {number:g}")
    return number


def _positive_float(value: str, allow_zero: bool = False) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if not math.isfinite(number) or number < 0 or (number == 0 and not allow_zero):
        raise argparse.ArgumentTypeError(f"must be {'0 or more' if allow_zero else 'above 0'}")
    return number


def _rate(value: str) -> float:
    return _positive_float(value, allow_zero=True)


def _flag(parser, name: str, **kwargs) -> None:
    """A flag spelled with dashes, also accepted with underscores (``--lr_start``)."""
    spellings = [f"--{name}"]
    if "-" in name:
        spellings.append(f"--{name.replace('-', '_')}")
    parser.add_argument(*spellings, **kwargs)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The trainer's flags, shared by ``python -m mnist_widgets.cloud`` and the CLI."""
    from ..models.presets import EXTRA_PRESETS, PRESETS
    from .strategy import STRATEGIES

    where = parser.add_argument_group("where")
    _flag(where, "job-dir", help=f"output folder, local or gs:// (default: ${JOB_DIR_VAR})")
    _flag(where, "data-dir", help="folder with the data set's IDX files (default: usual places)")
    _flag(
        where, "checkpoint-dir", help=f"backups (default: ${CHECKPOINT_DIR_VAR} or JOB_DIR/backup)"
    )
    _flag(where, "log-dir", help=f"TensorBoard logs (default: ${LOG_DIR_VAR} or JOB_DIR/logs)")
    run = parser.add_argument_group("run")
    _flag(
        run,
        "preset",
        default=DEFAULT_PRESET,
        choices=[*PRESETS, *EXTRA_PRESETS],
        metavar="NAME",
        help=f"model, one of: {', '.join([*PRESETS, *EXTRA_PRESETS])} (default: {DEFAULT_PRESET})",
    )
    _flag(run, "dataset", default="mnist", choices=["mnist", "fashion-mnist"])
    _flag(run, "epochs", type=positive_int, help="epochs (default: the preset's)")
    _flag(
        run,
        "batch-size",
        type=positive_int,
        help="batch size per replica (default: the preset's); the global batch is this "
        "times the number of replicas",
    )
    _flag(run, "limit", type=positive_int, help="train on the first N training images")
    _flag(run, "seed", type=int, help="seed for weights and shuffling")
    _flag(
        run,
        "strategy",
        default="default",
        choices=STRATEGIES,
        help="default: one device; mirrored: all GPUs here; multi-worker: from TF_CONFIG",
    )
    hp = parser.add_argument_group("hyperparameters (default: the preset's)")
    _flag(hp, "lr-start", type=_positive_float, help="initial learning rate")
    _flag(hp, "lr-end", type=_rate, help="learning rate the decay tends to")
    _flag(
        hp,
        "lr-decay-steps",
        type=_positive_float,
        help="steps for the rate to fall by a factor e (lr = end + start * exp(-step/N)); "
        "without it --lr-start and --lr-end change the preset's own schedule",
    )
    _flag(hp, "dropout", type=_fraction, help="rate of every Dropout layer")
    for number in (1, 2, 3):
        _flag(hp, f"conv{number}", type=positive_int, help=f"filters of conv layer {number}")
    _flag(hp, "bn-momentum", type=_fraction, help="momentum of every BatchNormalization layer")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mnist_widgets.cloud",
        description="Train a preset with a tf.distribute strategy, checkpoint, export, report.",
    )
    add_arguments(parser)
    return parser


def _job_dir(args) -> str:
    job_dir = args.job_dir or os.environ.get(JOB_DIR_VAR)
    if not job_dir:
        raise MnistWidgetsError(f"no job folder: give --job-dir or set {JOB_DIR_VAR}")
    return job_dir


def _hyperparameters(args):
    from .hyperparameters import Hyperparameters

    return Hyperparameters(
        lr_start=args.lr_start,
        lr_end=args.lr_end,
        lr_decay_steps=args.lr_decay_steps,
        dropout=args.dropout,
        conv1=args.conv1,
        conv2=args.conv2,
        conv3=args.conv3,
        bn_momentum=args.bn_momentum,
    )


def _distributed(dataset):
    """Shard in-memory data by element across workers (files cannot be split: there are none)."""
    import tensorflow as tf

    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def run(args) -> int:
    """Train as the flags say; returns the exit status."""
    job_dir = _job_dir(args)
    from .strategy import make_strategy, task_of

    strategy = make_strategy(args.strategy)  # first: multi-worker must start before other ops
    task = task_of(strategy)
    import keras

    from ..data.loading import load_data
    from ..data.pipeline import make_dataset
    from ..models.presets import get_preset
    from ..training.device import describe_device
    from ..training.engine import seed_everything
    from ..training.evaluate import accuracy_and_loss
    from .backup import backup_dir, epochs_done, take_chiefs_backup
    from .callbacks import EpochLog
    from .hyperparameters import layers_with, recipe_with
    from .strategy import remove_worker_copy, worker_path

    preset = get_preset(args.preset)
    hp = _hyperparameters(args)
    (x_train, y_train), (x_test, y_test) = load_data(args.dataset, data_dir=args.data_dir)
    if args.limit:
        x_train, y_train = x_train[: args.limit], y_train[: args.limit]
    replicas = strategy.num_replicas_in_sync
    per_replica = args.batch_size or preset.recipe.batch_size
    global_batch = per_replica * replicas
    steps_per_epoch = math.ceil(len(x_train) / global_batch)
    epochs = args.epochs or preset.recipe.epochs
    recipe = recipe_with(preset, hp, steps_per_epoch)
    # every worker must shuffle alike, or the element-wise shards overlap
    shuffle_seed = args.seed if args.seed is not None else (0 if task.workers > 1 else None)
    seed_everything(args.seed)
    shape = preset.input_shape
    train_ds = _distributed(
        make_dataset(
            x_train,
            y_train,
            global_batch,
            training=True,
            shape=shape,
            seed=shuffle_seed,
            shift=recipe.shift,
        )
    )
    test_ds = _distributed(
        make_dataset(x_test, y_test, EVAL_BATCH * replicas, training=False, shape=shape)
    )
    with strategy.scope():
        model = compiled_model(
            layers_with(preset, hp),
            recipe,
            steps_per_epoch,
            epochs,
            name=preset.name.replace("-", "_"),
            multi_worker=task.workers > 1,
        )
    say = _printer(task)
    say(
        f"training {preset.name} on {args.dataset} ({len(x_train)} images) with "
        f"{type(strategy).__name__} on {describe_device()}: {task.workers} worker(s), "
        f"{replicas} replica(s), global batch {global_batch} ({per_replica} per replica), "
        f"{epochs} epochs, lr {recipe.rate_schedule(epochs).describe()}"
        + (f", overrides {hp.given()}" if hp.given() else "")
    )
    backups = args.checkpoint_dir or os.environ.get(CHECKPOINT_DIR_VAR) or _join(job_dir, "backup")
    take_chiefs_backup(backups, task)
    backup = backup_dir(backups, task)
    if epochs_done(backup):
        say(f"resuming after epoch {epochs_done(backup)} from the backup in {backup}")
    logs = args.log_dir or os.environ.get(LOG_DIR_VAR) or _join(job_dir, "logs")
    callbacks = [
        keras.callbacks.BackupAndRestore(backup, double_checkpoint=True),
        EpochLog(epochs, say),
    ]
    if importlib.util.find_spec("tensorboard") is not None:
        callbacks.append(keras.callbacks.TensorBoard(worker_path(logs, task), profile_batch=0))
    else:
        say("tensorboard is not installed: no TensorBoard logs (pip install tensorboard)")
    start = time.perf_counter()
    history = model.fit(
        train_ds,
        epochs=epochs,
        validation_data=test_ds,
        callbacks=callbacks,
        shuffle=False,
        verbose=0,
    )
    seconds = time.perf_counter() - start
    test_accuracy, test_loss = accuracy_and_loss(model, x_test, y_test)
    _export_and_report(
        model,
        job_dir,
        task,
        say,
        {
            "test_accuracy": test_accuracy,
            "test_loss": test_loss,
            "epochs": epochs,
            "epochs_this_run": len(history.epoch),
            "global_step": int(model.optimizer.iterations.numpy()),
            "train_seconds": round(seconds, 2),
            "preset": preset.name,
            "strategy": args.strategy,
            "workers": task.workers,
            "replicas": replicas,
            "global_batch_size": global_batch,
            "train_images": len(x_train),
            "hyperparameters": hp.given(),
        },
    )
    if task.is_chief:
        from .hptuning import metric_line

        print(metric_line(test_accuracy), flush=True)
    remove_worker_copy(logs, task)
    return 0


def compiled_model(
    layers,
    recipe,
    steps_per_epoch: int,
    epochs: int,
    name: str = "model",
    multi_worker: bool = False,
):
    """The Keras model of ``layers`` compiled with ``recipe`` (its rate per step), through
    ``mnist_widgets.models`` as every entry point; call it inside ``strategy.scope()``.
    ``multi_worker`` gives the ``MultiWorkerSequential`` that ``fit`` needs with two or more
    workers."""
    from ..models.build import build, compile_model

    model = build(layers, name=name)
    if multi_worker:
        import keras

        from .multiworker import MultiWorkerSequential

        model = MultiWorkerSequential(
            [keras.Input(shape=model.input_shape[1:]), *model.layers], name=model.name
        )
    return compile_model(model, recipe, steps_per_epoch, epochs)


def _export_and_report(model, job_dir: str, task, say, metrics: dict) -> None:
    """Every worker saves (saving may take part in collectives); only the chief keeps it."""
    from .export import save_keras, save_saved_model
    from .hptuning import report_hypertune, write_metrics_json
    from .strategy import remove_worker_copy, worker_path

    export_dir = _join(job_dir, "export")
    keras_path = _join(job_dir, "model.keras")
    import tensorflow as tf

    tf.io.gfile.makedirs(posixpath.dirname(worker_path(keras_path, task)))
    save_saved_model(model, worker_path(export_dir, task))
    save_keras(model, worker_path(keras_path, task))
    remove_worker_copy(export_dir, task)
    if not task.is_chief:
        say("finished; the chief keeps the export")
        return
    metrics_path = write_metrics_json(job_dir, metrics)
    hypertune = report_hypertune(metrics["test_accuracy"], metrics["global_step"])
    say(
        f"exported {export_dir} (SavedModel) and {keras_path}; metrics in {metrics_path}"
        + (f" and {hypertune}" if hypertune else "")
    )


def _join(base: str, name: str) -> str:
    return posixpath.join(base, name)


def _printer(task):
    prefix = "" if task.kind is None else f"[{task.name}] "

    def say(message: str) -> None:
        print(prefix + message, flush=True)

    return say


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except MnistWidgetsError as exc:
        print(f"mnist-widgets trainer: error: {exc}", file=sys.stderr)
        return 2
