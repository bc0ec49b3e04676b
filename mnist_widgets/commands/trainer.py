"""``mnist-widgets trainer``: the cloud-ready trainer (same flags as ``python -m
mnist_widgets.cloud``)."""

from __future__ import annotations


def register(sub) -> None:
    from ..cloud.task import add_arguments

    parser = sub.add_parser(
        "trainer",
        help="cloud-ready training: tf.distribute strategies, checkpoints, export, metrics",
        description="Train a preset with a tf.distribute strategy; back up each epoch, write "
        "TensorBoard logs, export a SavedModel and a .keras file, report test_accuracy. "
        "See docs/cloud.md.",
    )
    add_arguments(parser)
    parser.set_defaults(func=run)


def run(args) -> int:
    from ..cloud.task import run as train

    return train(args)
