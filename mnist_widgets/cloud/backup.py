"""Where each worker backs up, so that a restarted job resumes from one state.

``keras.callbacks.BackupAndRestore`` saves the weights, the optimizer and the epoch after
every epoch and restores them when ``fit`` starts again. With several workers each writes its
own folder (two processes must not write one file), but all must resume from the same
state, or their weights and epochs would differ. So before training, every other worker
replaces its backup with a copy of the chief's (Keras then restores it as usual), which asks
for a checkpoint folder on shared storage (``gs://``, NFS), as Vertex AI's
``AIP_CHECKPOINT_DIR`` is.
"""

from __future__ import annotations

import json
import posixpath

from .strategy import Task

METADATA_FILE = "training_metadata.json"  # what BackupAndRestore writes beside the weights


def backup_dir(base: str, task: Task) -> str:
    """This task's backup folder: ``base`` alone, else ``base/chief`` or ``base/worker-N``."""
    if task.kind is None:
        return base
    return posixpath.join(base, "chief" if task.is_chief else task.name)


def take_chiefs_backup(base: str, task: Task) -> None:
    """On a non-chief worker, make its backup folder a copy of the chief's (or empty)."""
    import tensorflow as tf

    if task.is_chief:
        return
    own, chief = backup_dir(base, task), backup_dir(base, Task("chief"))
    if tf.io.gfile.exists(own):
        tf.io.gfile.rmtree(own)
    if not tf.io.gfile.isdir(chief):
        return
    tf.io.gfile.makedirs(own)
    for name in tf.io.gfile.listdir(chief):
        tf.io.gfile.copy(posixpath.join(chief, name), posixpath.join(own, name), overwrite=True)


def epochs_done(folder: str) -> int:
    """How many epochs the backup in ``folder`` holds (0 when there is none)."""
    import tensorflow as tf

    path = posixpath.join(folder, METADATA_FILE)
    if not tf.io.gfile.exists(path):
        return 0
    try:
        with tf.io.gfile.GFile(path) as metadata:
            return int(json.loads(metadata.read()).get("epoch", 0))
    except (ValueError, TypeError):
        return 0
