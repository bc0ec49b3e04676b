"""The cloud-ready trainer: ``tf.distribute`` strategies, checkpoints, export and metrics.

``python -m mnist_widgets.cloud --job-dir DIR`` trains a preset (default
``cnn-batchnorm``) with the codelab's tunable hyperparameters, backs up each epoch so an
interrupted job resumes, writes TensorBoard logs, exports a SavedModel and a ``.keras``
file, and reports ``test_accuracy`` for hyperparameter tuning. See ``docs/cloud.md``.
"""

from __future__ import annotations

from .task import build_parser, main, run

__all__ = ["build_parser", "main", "run"]
