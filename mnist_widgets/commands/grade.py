"""``mnist-widgets grade ASSIGNMENT``: autograde a class in parallel, or on a Dask cluster.

Run from the course folder (the one holding ``nbgrader_config.py``). It loads the course's
configuration as ``nbgrader autograde`` does, grades every collected submission (or the
``--student`` ones) with ``--jobs`` of them at once, or on the workers of ``--scheduler``,
shows a progress bar, and ends with a table: student, score, seconds, why points were lost.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path
from typing import TextIO

from ..errors import GradingError


def register(sub) -> None:
    parser = sub.add_parser(
        "grade",
        help="autograde every submission of an assignment, several at once",
        description=__doc__.split("\n\n")[0],
    )
    parser.add_argument("assignment", help="the assignment to grade, as nbgrader names it")
    parser.add_argument(
        "--student",
        action="append",
        default=[],
        metavar="ID",
        help="grade only this student (repeatable; default: every collected submission)",
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--jobs",
        "-j",
        type=int,
        metavar="N",
        help="submissions graded at once here (default: one per core, as memory allows)",
    )
    where.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="grade on this dask.distributed scheduler's workers (tcp://host:8786)",
    )
    parser.add_argument(
        "--force", action="store_true", help="grade again students already autograded"
    )
    parser.add_argument(
        "--verbose", action="store_true", help="show nbgrader's log and each job's log"
    )
    parser.set_defaults(func=run)


class ProgressLine:
    """One line on stderr, redrawn as students finish: a bar, counts, who is running."""

    def __init__(self, stream: TextIO | None = None, width: int = 24) -> None:
        self.stream = stream or sys.stderr
        self.width = width
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.started = time.perf_counter()
        self._last: tuple[str, str] | None = None

    def __call__(self, rows) -> None:
        done = sum(r.status in ("graded", "failed", "skipped") for r in rows)
        running = [r.student for r in rows if r.status == "running"]
        filled = int(self.width * done / max(1, len(rows)))
        elapsed = int(time.perf_counter() - self.started)
        bar = f"[{'#' * filled}{'.' * (self.width - filled)}] {done}/{len(rows)}"
        who = f"  grading: {', '.join(running[:4])}" if running else ""
        if (bar, who) == self._last:  # a log gets a line per change, a terminal a redraw
            if not self.tty:
                return
        self._last = (bar, who)
        line = f"{bar} {elapsed // 60}:{elapsed % 60:02d}{who}"
        if self.tty:
            self.stream.write("\r\x1b[K" + line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty and self._last:
            self.stream.write("\n")
            self.stream.flush()


def format_table(rows) -> str:
    """The final table: student, score, seconds, reason for lost points."""
    lines = [f"{'student':<20} {'score':>11} {'seconds':>8}  lost points"]
    for row in rows:
        if row.score is not None:
            score = f"{row.score:g} / {row.max_score:g}"
        else:
            score = "-"
        seconds = f"{row.seconds:.1f}" if row.seconds is not None else "-"
        if row.status in ("skipped", "interrupted"):
            why = f"({row.status}{': already graded, --force to redo' * (row.status == 'skipped')})"
        else:
            why = ", ".join(row.reasons)
        lines.append(f"{row.student:<20} {score:>11} {seconds:>8}  {why}".rstrip())
    return "\n".join(lines)


def _coordinator(assignment: str, students: list[str], force: bool, verbose: bool):
    from ..grading.lean_imports import skip_slow_format_checks

    skip_slow_format_checks()  # before nbgrader imports nbformat
    from nbgrader.apps import AutogradeApp

    from ..grading.coordinator import Coordinator

    if not Path("nbgrader_config.py").is_file():
        raise GradingError("no nbgrader_config.py here: run this from the course folder")
    app = AutogradeApp()
    app.initialize([assignment, "--log-level=" + ("INFO" if verbose else "WARN")])
    app.coursedir.assignment_id = assignment
    coordinator = Coordinator(coursedir=app.coursedir, parent=app)
    coordinator.force = force
    coordinator.students = students
    if not verbose:
        logging.getLogger("traitlets").setLevel(logging.WARNING)
    return coordinator


def run(args) -> int:
    from nbgrader.converters.base import NbGraderException

    from ..grading.batch import grade_submissions
    from ..grading.pools import (
        PER_JOB_MEMORY,
        DaskPool,
        LocalPool,
        default_jobs,
        thread_settings,
    )

    if args.jobs is not None and args.jobs < 1:
        raise GradingError("--jobs must be 1 or more")
    coordinator = _coordinator(args.assignment, args.student, args.force, args.verbose)
    root = coordinator.coursedir.root
    previous = os.getcwd()
    os.chdir(root)
    try:
        try:
            submissions = coordinator.open()
        except NbGraderException as exc:
            raise GradingError(f"no submissions of {args.assignment} to grade: {exc}") from exc
        missing = sorted(set(args.student) - {s.student for s in submissions})
        if missing:
            raise GradingError(f"no collected submission of {args.assignment} for {missing}")
        if args.scheduler:
            pool = DaskPool(args.scheduler)
            env: dict[str, str] = {}
        else:
            per_job = coordinator.memory_per_job() or PER_JOB_MEMORY
            jobs = args.jobs or default_jobs(len(submissions), per_job)
            pool = LocalPool(jobs)
            env = thread_settings(jobs)
        print(
            f"grading {len(submissions)} submission(s) of {args.assignment}: {pool.describe()}",
            file=sys.stderr,
        )
        progress = ProgressLine()
        latest: list = []

        def update(rows) -> None:
            latest[:] = rows
            progress(rows)

        try:
            rows = grade_submissions(coordinator, submissions, pool, env, update)
        except KeyboardInterrupt:
            progress.close()
            print(format_table(latest))
            print("interrupted: finished students are graded; run again to grade the rest")
            return 130
        finally:
            pool.close()
        progress.close()
        if args.verbose:
            for row in rows:
                for line in row.log.splitlines():
                    print(f"[{row.student}@{row.host}] {line}", file=sys.stderr)
        print(format_table(rows))
        return 0
    finally:
        os.chdir(previous)
