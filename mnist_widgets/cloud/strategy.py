"""Choose a ``tf.distribute`` strategy and tell which worker this process is.

Only TensorFlow's own strategies are used: the default one (one device), ``MirroredStrategy``
(every GPU of this machine) and ``MultiWorkerMirroredStrategy`` (several machines, configured
from the ``TF_CONFIG`` environment variable, as Vertex AI and Kubernetes operators set it).
"""

from __future__ import annotations

import json
import os
import posixpath
from dataclasses import dataclass

from ..errors import MnistWidgetsError

STRATEGIES = ("default", "mirrored", "multi-worker")


@dataclass(frozen=True)
class Task:
    """This process's place in the cluster: ``kind`` is None when it trains alone."""

    kind: str | None = None
    index: int = 0
    workers: int = 1
    has_chief_task: bool = False  # the cluster names a "chief" apart from its "worker"s

    @property
    def is_chief(self) -> bool:
        """The chief writes the export, the metrics and the TensorBoard logs: the "chief"
        task, or worker 0 when the cluster has no "chief" (TensorFlow's own rule)."""
        if self.kind in (None, "chief"):
            return True
        return self.kind == "worker" and self.index == 0 and not self.has_chief_task

    @property
    def name(self) -> str:
        return "local" if self.kind is None else f"{self.kind}-{self.index}"


def make_strategy(name: str = "default"):
    """The ``tf.distribute.Strategy`` called ``name`` (one of ``STRATEGIES``)."""
    import tensorflow as tf

    if name not in STRATEGIES:
        raise MnistWidgetsError(f"unknown strategy {name!r}; choose one of {', '.join(STRATEGIES)}")
    tasks = cluster_size()
    if name != "multi-worker" and tasks > 1:
        raise MnistWidgetsError(
            f"TF_CONFIG describes a cluster of {tasks} tasks: use --strategy multi-worker, "
            "or each would train alone and write the same files"
        )
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if not tasks:
        raise MnistWidgetsError(
            "--strategy multi-worker needs TF_CONFIG (the cluster and this task's place "
            "in it); see docs/cloud.md"
        )
    return tf.distribute.MultiWorkerMirroredStrategy()


def cluster_size() -> int:
    """How many chief and worker tasks ``$TF_CONFIG`` lists (0 when it is not set)."""
    text = os.environ.get("TF_CONFIG", "").strip()
    if not text:
        return 0
    try:
        config = json.loads(text)
    except ValueError as exc:
        raise MnistWidgetsError(f"TF_CONFIG is not valid JSON: {exc}") from None
    cluster = config.get("cluster") if isinstance(config, dict) else None
    task = config.get("task") if isinstance(config, dict) else None
    if not isinstance(cluster, dict) or not isinstance(task, dict) or "type" not in task:
        raise MnistWidgetsError(
            'TF_CONFIG needs "cluster" (task type -> addresses) and "task" ({"type", "index"})'
        )
    return sum(len(cluster.get(kind) or ()) for kind in ("chief", "worker"))


def task_of(strategy) -> Task:
    """Which task of the cluster this process is (a lone task for single-machine strategies)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return Task()
    cluster = resolver.cluster_spec().as_dict()
    workers = sum(len(cluster.get(kind, ())) for kind in ("chief", "worker"))
    return Task(resolver.task_type, int(resolver.task_id or 0), max(workers, 1), "chief" in cluster)


def worker_path(path: str, task: Task) -> str:
    """Where this task writes ``path``: the chief the path itself, other workers a temporary
    folder beside it (``workertemp_<index>``), as in TensorFlow's multi-worker Keras tutorial.
    Every worker must still save, since saving can take part in collective operations.
    """
    if task.is_chief:
        return path
    parent, base = posixpath.split(path.rstrip("/"))
    return posixpath.join(parent, f"workertemp_{task.index}", base)


def remove_worker_copy(path: str, task: Task) -> None:
    """Delete what a non-chief worker wrote with ``worker_path`` (the chief keeps its files)."""
    import tensorflow as tf

    if task.is_chief:
        return
    folder = posixpath.dirname(worker_path(path, task).rstrip("/"))
    if tf.io.gfile.exists(folder):
        tf.io.gfile.rmtree(folder)
