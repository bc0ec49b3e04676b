"""Grade a class: the coordinator prepares and finishes, a pool runs the jobs in between.

``grade_submissions`` keeps the pool busy with sanitized submissions, finishes each job in
this process as it returns (only here is the gradebook opened), and reports every change
to ``on_update`` (a progress bar). Ctrl-C cancels the running jobs, removes what their
students' unfinished grading left (as nbgrader does), and leaves every finished student
graded; a rerun grades the rest.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field

from nbformat.notebooknode import NotebookNode
from nbgrader import utils

from .coordinator import Coordinator, Submission
from .job import JobResult

TIMEOUT_NAMES = ("CellTimeoutError", "TimeoutError")
MEMORY_NAMES = ("MemoryError", "ResourceExhaustedError")
MEMORY_WORDS = ("memory cap", "out of memory", "memory limit", "of memory")
TIMEOUT_WORDS = ("ran longer than", "took over", "timed out")


@dataclass
class StudentRow:
    """One line of the final table."""

    student: str
    status: str = "queued"  # queued, running, graded, skipped, failed, interrupted
    score: float | None = None
    max_score: float | None = None
    seconds: float | None = None
    reasons: list[str] = field(default_factory=list)
    host: str = ""
    log: str = ""  # the job's own log (its preprocessors', the sandbox's)


def lost_points(notebooks: list[NotebookNode], job_error: str | None) -> list[str]:
    """Why points were lost: timeout, memory cap, crash, below target (or a failed test)."""
    found: list[str] = []
    failed_test = False

    def add(reason: str) -> None:
        if reason not in found:
            found.append(reason)

    if job_error:
        memory = any(word in job_error.lower() for word in MEMORY_WORDS)
        add("memory cap" if memory else "crash")
    for nb in notebooks:
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            test = utils.is_grade(cell) and not utils.is_solution(cell)
            for output in cell.get("outputs", []):
                if output.get("output_type") != "error":
                    continue
                name, value = output.get("ename", ""), str(output.get("evalue", ""))
                if name in TIMEOUT_NAMES or any(w in value for w in TIMEOUT_WORDS):
                    add("timeout")
                elif name in MEMORY_NAMES or any(w in value.lower() for w in MEMORY_WORDS):
                    add("memory cap")
                elif not test or name == "NotRun":  # NotRun: the sandbox stopped the kernel
                    add("crash")
                elif "below" in value:
                    add("below target")
                else:
                    failed_test = True
    return found or (["test failed"] if failed_test else [])


def _record(coordinator: Coordinator, sub: Submission, row: StudentRow, result: JobResult):
    scored = coordinator.score(sub)
    row.score, row.max_score = scored if scored else (None, None)
    row.seconds = result.seconds
    row.host = result.host
    row.log = result.log
    row.status = "failed" if result.error else "graded"
    lost = row.score is not None and row.max_score is not None and row.score < row.max_score
    if lost or result.error:
        row.reasons = lost_points(coordinator.graded_notebooks(sub), result.error)


def grade_submissions(
    coordinator: Coordinator,
    submissions: list[Submission],
    pool,
    env: dict[str, str] | None = None,
    on_update: Callable[[list[StudentRow]], None] = lambda rows: None,
) -> list[StudentRow]:
    """Grade ``submissions`` through ``pool``; return one row per student, in their order."""
    rows = {sub.student: StudentRow(sub.student) for sub in submissions}
    queue = list(submissions)
    running: dict[Future, tuple[Submission, float]] = {}
    try:
        while queue or running:
            while queue and len(running) < pool.slots:
                sub = queue.pop(0)
                job = coordinator.prepare(sub, env)
                if job is None:
                    rows[sub.student].status = "skipped"
                    continue
                rows[sub.student].status = "running"
                running[pool.submit(job)] = (sub, time.perf_counter())
                on_update(list(rows.values()))
            if not running:
                continue
            done, _ = wait(running, timeout=0.5, return_when=FIRST_COMPLETED)
            for future in done:
                sub, started = running.pop(future)
                result: JobResult = future.result()
                if result.retry:  # not the student's doing: no grade, a rerun grades it
                    coordinator.abandon(sub)
                    rows[sub.student].status = "failed"
                    rows[sub.student].reasons = [result.error or "the grader stopped"]
                    continue
                coordinator.finish(sub, result)
                _record(coordinator, sub, rows[sub.student], result)
                if not result.seconds:
                    rows[sub.student].seconds = time.perf_counter() - started
            on_update(list(rows.values()))
    except KeyboardInterrupt:
        pool.cancel_all()
        for sub, _ in running.values():
            coordinator.abandon(sub)
            rows[sub.student].status = "interrupted"
        for sub in queue:
            rows[sub.student].status = "interrupted"
        on_update(list(rows.values()))
        raise
    return list(rows.values())
