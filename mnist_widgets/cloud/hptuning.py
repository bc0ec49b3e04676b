"""Report the final metric where hyperparameter-tuning services read it.

Three forms, all written by the chief only:

- a line ``test_accuracy=0.9912`` on standard output (services that parse logs);
- ``metrics.json`` in the job directory (``{"test_accuracy": ..., "test_loss": ..., ...}``);
- when ``CLOUD_ML_HP_METRIC_FILE`` is set, a JSON line in that file in the format the
  ``cloudml-hypertune`` library writes (Vertex AI reads ``/tmp/hypertune/output.metrics``),
  so the trainer reports to Vertex AI without depending on that library.
"""

from __future__ import annotations

import json
import os
import posixpath
import time

METRIC_TAG = "test_accuracy"
HYPERTUNE_FILE_VAR = "CLOUD_ML_HP_METRIC_FILE"
TRIAL_VAR = "CLOUD_ML_TRIAL_ID"
KEEP_ENTRIES = 100  # as the hypertune library keeps


def metric_line(accuracy: float) -> str:
    return f"{METRIC_TAG}={accuracy:.4f}"


def write_metrics_json(job_dir: str, metrics: dict) -> str:
    """``metrics.json`` in ``job_dir``; returns its path."""
    import tensorflow as tf

    path = posixpath.join(job_dir, "metrics.json")
    tf.io.gfile.makedirs(job_dir)
    with tf.io.gfile.GFile(path, "w") as out:
        out.write(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    return path


def report_hypertune(value: float, step: int, tag: str = METRIC_TAG) -> str | None:
    """Append one entry to ``$CLOUD_ML_HP_METRIC_FILE`` like ``hypertune.HyperTune`` does.

    Returns the file's path, or None when the variable is not set.
    """
    path = os.environ.get(HYPERTUNE_FILE_VAR)
    if not path:
        return None
    entry = {
        "timestamp": time.time(),
        "trial": str(os.environ.get(TRIAL_VAR, 0)),
        tag: str(float(value)),
        "global_step": str(int(step) if step else 0),
    }
    lines: list[str] = []
    if os.path.exists(path):
        with open(path) as existing:
            lines = [line for line in existing.read().splitlines() if line.strip()]
    lines = [*lines, json.dumps(entry, sort_keys=True)][-KEEP_ENTRIES:]
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w") as out:
        out.write("\n".join(lines) + "\n")
    return path
