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

    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi-worker":
        if not os.environ.get("TF_CONFIG"):
            raise MnistWidgetsError(
                "--strategy multi-worker needs TF_CONFIG (the cluster and this task's place "
                "in it); see docs/cloud.md"
            )
        try:
            json.loads(os.environ["TF_CONFIG"])
        except ValueError as exc:
            raise MnistWidgetsError(f"TF_CONFIG is not valid JSON: {exc}") from None
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise MnistWidgetsError(f"unknown strategy {name!r}; choose one of {', '.join(STRATEGIES)}")


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
