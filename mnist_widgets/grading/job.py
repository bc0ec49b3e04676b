"""One student's grading job: the gradebook-free half of ``nbgrader autograde``.

The coordinator (``coordinator.py``) sanitizes a submission with nbgrader's own steps and
hands a ``GradingJob`` to a job runner: the sanitized notebooks, the other files of the
student's autograded folder, the course's configuration, and the names of the configured
autograde preprocessors that come before the first one that opens the gradebook (the
execute preprocessor, the fresh-process replay, output limits...). The job writes the
files into a scratch folder, runs those preprocessors with nbconvert's exporter, exactly
as nbgrader chains them, and returns each executed notebook as JSON. It never opens the
gradebook: the coordinator applies the remaining steps (``SaveAutoGrades``...) itself.

``run_isolated`` runs a job in a process of its own (``python -m
mnist_widgets.grading.job JOB RESULT``), in a new session that dies with its parent, so
a crash, a hang or Ctrl-C touches one student only and leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

JOB_MODULE = "mnist_widgets.grading.job"
PR_SET_PDEATHSIG = 1


@dataclass
class GradingJob:
    """What one student's job needs; built by the coordinator, picklable."""

    student: str
    assignment: str
    notebooks: list[tuple[str, str, dict[str, Any]]]  # (file name, notebook JSON, resources)
    files: dict[str, bytes]  # other files of the autograded folder, by relative path
    config: Any  # the course's traitlets Config
    preprocessors: list[str]  # dotted names, applied in order
    env: dict[str, str] = field(default_factory=dict)  # set for the job's processes

    @property
    def key(self) -> str:
        return f"grade-{self.assignment}-{self.student}"


@dataclass
class JobResult:
    """What comes back: executed notebooks (JSON) or the reason there are none."""

    student: str
    notebooks: dict[str, str] = field(default_factory=dict)  # file name -> notebook JSON
    seconds: float = 0.0
    error: str | None = None  # why the job produced no notebooks (crash, lost worker...)
    retry: bool = False  # the grader's fault (no sandbox here): leave the student ungraded
    log: str = ""
    host: str = ""

    def to_json(self) -> str:
        return json.dumps(self.__dict__)

    @classmethod
    def from_json(cls, text: str) -> JobResult:
        return cls(**json.loads(text))


@contextlib.contextmanager
def _environment(values: dict[str, str]):
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def run(job: GradingJob, scratch: Path | None = None) -> JobResult:
    """Run the job's preprocessors on its notebooks in a scratch folder, in this process."""
    import logging

    import nbformat
    from nbconvert.exporters import NotebookExporter

    started = time.perf_counter()
    log = logging.getLogger(f"{JOB_MODULE}.{job.student}")
    with contextlib.ExitStack() as stack:
        if scratch is None:
            prefix = f"mnist-widgets-job-{job.student}-"
            scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=prefix)))
        folder = scratch / job.assignment
        folder.mkdir(parents=True, exist_ok=True)
        for relative, content in job.files.items():
            target = folder / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
        exporter = NotebookExporter(config=job.config)
        for name in job.preprocessors:
            exporter.register_preprocessor(name)
        executed = {}
        stack.enter_context(_environment({**job.env, "NBGRADER_EXECUTION": "autograde"}))
        for filename, text, resources in job.notebooks:
            resources = {**resources, "metadata": {**resources["metadata"], "path": str(folder)}}
            log.info("Autograding %s of %s in %s", filename, job.student, folder)
            output, _ = exporter.from_notebook_node(nbformat.reads(text, as_version=4), resources)
            executed[filename] = output
    return JobResult(
        student=job.student,
        notebooks=executed,
        seconds=time.perf_counter() - started,
        host=os.uname().nodename,
    )


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the parent goes away (see ``_end_group``)."""
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _end_group(number: int, frame: Any) -> None:
    """SIGTERM in a job process: kill its whole process group (itself, the replay...)."""
    os.killpg(os.getpgrp(), signal.SIGKILL)


def _kill_group(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def run_isolated(job: GradingJob, cancel: threading.Event | None = None) -> JobResult:
    """Run ``job`` in a fresh process of its own; any failure becomes ``JobResult.error``.

    The process leads a new session (Ctrl-C in the terminal reaches the coordinator only)
    and is killed with its process group when ``cancel`` is set, or kills its group itself
    when this process dies (``PR_SET_PDEATHSIG``, then SIGTERM); its Jupyter kernel
    exits when its parent does (ipykernel's parent poller).
    """
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f"mnist-widgets-job-{job.student}-") as tmp:
        job_file, result_file = Path(tmp) / "job.pickle", Path(tmp) / "result.json"
        job_file.write_bytes(pickle.dumps(job))
        log_file = Path(tmp) / "job.log"
        with open(log_file, "wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", JOB_MODULE, str(job_file), str(result_file)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
            try:
                while process.poll() is None:
                    if cancel is not None and cancel.wait(0.2):
                        _kill_group(process)
                        raise KeyboardInterrupt
                    elif cancel is None:
                        process.wait()
            except BaseException:
                _kill_group(process)
                raise
            finally:
                # the job's own children (a kernel that outlived it) go with its group
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(process.pid, signal.SIGKILL)
        text = log_file.read_text(errors="replace")[-20_000:]
        if process.returncode == 0 and result_file.is_file():
            result = JobResult.from_json(result_file.read_text())
            result.log = text
            return result
        last = (text.strip().splitlines() or [f"exit status {process.returncode}"])[-1]
        if process.returncode < 0:
            last = f"killed by signal {-process.returncode} ({last})"
        return JobResult(
            student=job.student,
            seconds=time.perf_counter() - started,
            error=f"the grading job crashed: {last}",
            log=text,
            host=os.uname().nodename,
        )


def main(argv: list[str] | None = None) -> int:
    import logging

    from .lean_imports import skip_slow_format_checks

    skip_slow_format_checks()  # before run() imports nbformat
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print(f"usage: python -m {JOB_MODULE} JOB.pickle RESULT.json", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="[%(name)s] %(levelname)s | %(message)s")
    errors: list[str] = []
    collect = logging.Handler(logging.ERROR)
    collect.emit = lambda record: errors.append(record.getMessage())
    logging.getLogger().addHandler(collect)
    if os.getpgrp() == os.getpid():  # leads its own group: started by run_isolated
        signal.signal(signal.SIGTERM, _end_group)
    job = pickle.loads(Path(args[0]).read_bytes())
    try:
        result = run(job)
    except SystemExit:  # a preprocessor stopped grading itself (no sandbox can start here)
        result = JobResult(
            student=job.student,
            error="the grader stopped: " + (errors or ["SystemExit"])[-1][:300],
            retry=True,
            host=os.uname().nodename,
        )
    except Exception:
        result = JobResult(
            student=job.student,
            error="the notebook could not be run: "
            + traceback.format_exc().strip().splitlines()[-1],
            log=traceback.format_exc(),
            host=os.uname().nodename,
        )
    Path(args[1]).write_text(result.to_json())
    return 0


if __name__ == "__main__":
    sys.exit(main())
