"""Where grading jobs run: processes on this machine, or an existing Dask cluster.

Both pools take a ``GradingJob`` and give back a ``concurrent.futures.Future`` of its
``JobResult``; a job that fails in any way resolves to a result whose ``error`` says why,
so one submission never takes another down.

- ``LocalPool(jobs)``: ``jobs`` threads, each running one job at a time in a process of
  its own (``job.run_isolated``).
- ``DaskPool(address)``: ``job.run_isolated`` submitted to a ``dask.distributed``
  scheduler, one task per student (the key names the student; ``pure=False``, so eight
  identical notebooks are eight tasks). The scheduler reruns a task whose worker died;
  a task that killed ``distributed.scheduler.allowed-failures`` workers ends in
  ``KilledWorker``, that student's failure.
"""

from __future__ import annotations

import os
import threading
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from importlib import metadata
from typing import Any

from ..errors import GradingError
from .job import GradingJob, JobResult, run_isolated

PER_JOB_MEMORY = 2 * 1024**3  # a TensorFlow kernel and the replay's fresh process


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def available_memory() -> int | None:
    """Bytes of memory available now (Linux ``MemAvailable``), or None when unknown."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def default_jobs(students: int, per_job_memory: int = PER_JOB_MEMORY) -> int:
    """How many submissions to grade at once here: one per core, as memory and the class allow.

    Grading one notebook is mostly one busy thread (starting the kernel, importing
    TensorFlow, the fresh-process replay) with bursts of multi-threaded training, so one
    job per core keeps the cores busy; each job may need ``per_job_memory`` (the
    sandbox's memory cap, when the course sets one) of what is free now; and never more
    jobs than submissions.
    """
    memory = available_memory()
    by_memory = usable_cores() if memory is None else max(1, memory // per_job_memory)
    return max(1, min(usable_cores(), by_memory, students))


def thread_settings(jobs: int) -> dict[str, str]:
    """TensorFlow thread counts for each of ``jobs`` concurrent jobs, unless already set."""
    share = str(max(1, usable_cores() // max(1, jobs)))
    return {
        name: os.environ.get(name, share)
        for name in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")
    }


def _failure(job: GradingJob, error: BaseException) -> JobResult:
    return JobResult(student=job.student, error=f"{type(error).__name__}: {error}")


class LocalPool:
    """Run up to ``jobs`` grading jobs at once, each in its own process on this machine."""

    def __init__(self, jobs: int) -> None:
        self.slots = jobs
        self._cancel = threading.Event()
        self._executor = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="grade")

    def describe(self) -> str:
        return f"{self.slots} job(s) at once on this machine ({usable_cores()} cores)"

    def submit(self, job: GradingJob) -> Future:
        outer: Future = Future()

        def work() -> None:
            try:
                outer.set_result(run_isolated(job, self._cancel))
            except KeyboardInterrupt:
                outer.set_result(_failure(job, KeyboardInterrupt("cancelled")))
            except Exception as exc:
                outer.set_result(_failure(job, exc))

        outer.set_running_or_notify_cancel()
        self._executor.submit(work)
        return outer

    def cancel_all(self) -> None:
        self._cancel.set()

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)


def versions() -> dict[str, str]:
    """The versions a worker must share with the coordinator, and its sandbox's state."""
    found = {}
    for name in ("mnist-widgets", "tensorflow", "nbgrader"):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "missing"
    return found


class DaskPool:
    """Send grading jobs to the ``dask.distributed`` scheduler at ``address``."""

    def __init__(self, address: str, timeout: float = 30) -> None:
        try:
            from distributed import Client
        except ImportError as exc:
            raise GradingError(
                "--scheduler needs dask.distributed: pip install 'mnist-widgets[cluster]'"
            ) from exc
        try:
            self.client = Client(address, timeout=timeout, set_as_default=False)
        except OSError as exc:
            raise GradingError(f"cannot reach the Dask scheduler at {address}: {exc}") from exc
        self.address = address
        self._futures: list[Any] = []
        self.workers = self.check_workers()
        self.slots = sum(self.workers.values()) * 2  # keep each worker's next job queued

    def check_workers(self) -> dict[str, int]:
        """{worker address: threads}; refuse workers whose kit or TensorFlow differ from ours."""
        threads = self.client.nthreads()
        if not threads:
            self.close()
            raise GradingError(f"the Dask scheduler at {self.address} has no workers: start some")
        ours = versions()
        for worker, theirs in self.client.run(versions).items():
            for name in ("mnist-widgets", "tensorflow"):
                if theirs.get(name) != ours[name]:
                    self.close()
                    raise GradingError(
                        f"worker {worker} has {name} {theirs.get(name)}, this machine "
                        f"{ours[name]}: install the same versions on every worker"
                    )
        return dict(threads)

    def describe(self) -> str:
        total = sum(self.workers.values())
        return f"{len(self.workers)} Dask worker(s), {total} thread(s), at {self.address}"

    def submit(self, job: GradingJob) -> Future:
        from distributed import KilledWorker

        outer: Future = Future()
        outer.set_running_or_notify_cancel()
        key = f"{job.key}-{uuid.uuid4().hex[:8]}"
        task = self.client.submit(run_isolated, job, key=key, pure=False, retries=0)
        self._futures.append(task)

        def done(task) -> None:
            if task.status == "finished":
                outer.set_result(task.result())
            elif task.status == "cancelled":
                outer.set_result(_failure(job, KeyboardInterrupt("cancelled")))
            else:
                error = task.exception()
                if isinstance(error, KilledWorker):
                    message = "the job ended every worker it ran on (KilledWorker)"
                    outer.set_result(JobResult(student=job.student, error=message))
                else:
                    outer.set_result(_failure(job, error))

        task.add_done_callback(done)
        return outer

    def cancel_all(self) -> None:
        if self._futures:
            self.client.cancel(self._futures, force=True)

    def close(self) -> None:
        self.client.close()
