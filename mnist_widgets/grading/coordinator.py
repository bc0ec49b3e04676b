"""The coordinator: nbgrader's ``Autograde`` cut in two around the jobs it hands out.

``nbgrader autograde`` grades one student after the other: for each it creates the
student's and submission's rows (``init_assignment``), sanitizes each notebook
(``ClearOutput``, ``OverwriteCells`` from the gradebook...), then runs the configured
``autograde_preprocessors`` on it in one chain and writes the result. ``Coordinator``
is that same converter, the course's configuration included, with the chain cut where
the first preprocessor that opens the gradebook stands (``SaveAutoGrades``):

- ``prepare(submission)`` does nbgrader's skip rule (``init_destination``, ``--force``),
  ``init_assignment`` and the sanitize pass, and returns a ``GradingJob`` holding the
  sanitized notebooks and the steps before the cut (execute, replay, output limits);
- a job runner executes that job elsewhere (``job.run_isolated``, maybe on a Dask worker);
- ``finish(submission, result)`` runs the steps from the cut on (``SaveAutoGrades``,
  ``AssignLatePenalties``, ``CheckCellMetadata``) on the executed notebooks and writes
  them where nbgrader would.

Only the process holding the ``Coordinator`` opens ``gradebook.db``. A job that produced
no notebook (it crashed, or kept killing its workers) is graded as such: every autograded
test cell gets an error output naming the reason, so ``SaveAutoGrades`` gives it 0.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
from nbconvert.exporters import NotebookExporter
from nbformat.notebooknode import NotebookNode
from nbgrader import utils
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.converters import Autograde
from nbgrader.converters.base import BaseConverter
from nbgrader.preprocessors import (
    AssignLatePenalties,
    OverwriteCells,
    SaveAutoGrades,
    SaveCells,
)
from traitlets import List, Unicode
from traitlets.utils.importstring import import_item

from .job import GradingJob, JobResult

# Preprocessors that read or write the gradebook: the chain is cut before the first.
GRADEBOOK_STEPS = (SaveAutoGrades, AssignLatePenalties, OverwriteCells, SaveCells)


def _class_of(step: Any) -> type:
    return import_item(step) if isinstance(step, str) else step


def _dotted(step: Any) -> str:
    if isinstance(step, str):
        return step
    return f"{step.__module__}.{step.__qualname__}"


def split_steps(steps: list[Any]) -> tuple[list[str], list[Any]]:
    """(steps a job runs, steps the coordinator runs): cut before the first gradebook step."""
    for index, step in enumerate(steps):
        cls = _class_of(step)
        if issubclass(cls, GRADEBOOK_STEPS) or getattr(cls, "uses_gradebook", False):
            return [_dotted(s) for s in steps[:index]], list(steps[index:])
    return [_dotted(s) for s in steps], []


def failed_notebook(text: str, reason: str) -> str:
    """The sanitized notebook with every autograded test cell failing for ``reason``."""
    nb = nbformat.reads(text, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code" and utils.is_grade(cell) and not utils.is_solution(cell):
            cell.outputs = [
                NotebookNode(
                    output_type="error",
                    ename="GradingError",
                    evalue=reason,
                    traceback=[f"GradingError: {reason}"],
                )
            ]
    return nbformat.writes(nb)


@dataclass
class Submission:
    """One student's collected submission of the assignment, as nbgrader found it."""

    student: str
    assignment: str
    path: str  # the submitted folder
    notebooks: list[str] = field(default_factory=list)  # submitted notebook files
    prepared: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)


@contextlib.contextmanager
def sigint_deferred():
    """Hold Ctrl-C until the block ends, so a gradebook write is never cut in half."""
    caught: list[int] = []
    try:
        previous = signal.signal(signal.SIGINT, lambda number, frame: caught.append(number))
    except ValueError:  # not the main thread: nothing to hold
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if caught:
            raise KeyboardInterrupt


class Coordinator(Autograde):
    """``Autograde`` whose per-student work is split into prepare, job, finish."""

    students = List(Unicode(), help="Grade only these students (all when empty).")

    def open(self) -> list[Submission]:
        """Find the submissions (as ``nbgrader autograde`` would) and set up the writer."""
        from nbconvert.writers import FilesWriter

        self.init_notebooks()
        self.writer = FilesWriter(parent=self, config=self.config)
        self.exporter = self.exporter_class(parent=self, config=self.config)
        job_steps, self._tail = split_steps(list(self.autograde_preprocessors))
        self._job_steps = job_steps
        self._tail_exporter = NotebookExporter(parent=self, config=self.config)
        for step in self._tail:
            self._tail_exporter.register_preprocessor(step)
        regexp = self._format_source("(?P<assignment_id>.*)", "(?P<student_id>.*)", escape=True)
        found = []
        for path in sorted(self.assignments):
            match = re.match(regexp, path)
            if match is None:
                continue
            student = match.group("student_id")
            if self.students and student not in self.students:
                continue
            found.append(
                Submission(
                    student, match.group("assignment_id"), path, sorted(self.assignments[path])
                )
            )
        return found

    @property
    def job_steps(self) -> list[str]:
        return list(self._job_steps)

    @property
    def coordinator_steps(self) -> list[str]:
        return [_dotted(s) for s in self._tail]

    def memory_per_job(self) -> int | None:
        """The memory cap a job's execute step sets (``memory_limit``), if it has one."""
        for step in self._job_steps:
            trait = _class_of(step).class_traits().get("memory_limit")
            if trait is not None:
                section = self.config.get(_class_of(step).__name__, {})
                return section.get("memory_limit", trait.default())
        return None

    def prepare(self, sub: Submission, env: dict[str, str] | None = None) -> GradingJob | None:
        """Gradebook rows and sanitized notebooks for ``sub``; None when nbgrader would skip it."""
        self.notebooks = list(sub.notebooks)
        if not self.init_destination(sub.assignment, sub.student):
            return None
        self.run_pre_convert_hook()
        with sigint_deferred():
            self.init_assignment(sub.assignment, sub.student)
        sub.notebooks = list(self.notebooks)
        sub.prepared = []
        try:
            for filename in sub.notebooks:
                self._sanitizing = True
                self._init_preprocessors()
                BaseConverter.convert_single_notebook(self, filename)
                sanitized = os.path.join(self.writer.build_directory, os.path.basename(filename))
                self._sanitizing = False
                resources = self.init_single_notebook_resources(sanitized)
                resources["metadata"] = {
                    "name": os.path.splitext(os.path.basename(sanitized))[0],
                    "path": os.path.dirname(sanitized),
                }
                text = Path(sanitized).read_text(encoding="utf-8")
                sub.prepared.append((os.path.basename(sanitized), text, resources))
        finally:
            self._sanitizing = True
        dest = Path(self._format_dest(sub.assignment, sub.student))
        graded = {name for name, _, _ in sub.prepared}
        files = {
            str(path.relative_to(dest)): path.read_bytes()
            for path in sorted(dest.rglob("*"))
            if path.is_file() and str(path.relative_to(dest)) not in graded
        }
        return GradingJob(
            student=sub.student,
            assignment=sub.assignment,
            notebooks=sub.prepared,
            files=files,
            config=self.config,
            preprocessors=self.job_steps,
            env=dict(env or {}),
        )

    def finish(self, sub: Submission, result: JobResult) -> None:
        """Apply the gradebook steps to the job's notebooks and write them as nbgrader does."""
        with sigint_deferred():
            try:
                for filename, text, resources in sub.prepared:
                    executed = result.notebooks.get(filename)
                    if result.error or executed is None:
                        why = result.error or "the grading job returned no notebook"
                        executed = failed_notebook(text, why)
                    nb = nbformat.reads(executed, as_version=4)
                    with utils.setenv(NBGRADER_EXECUTION="autograde"):
                        output, resources = self._tail_exporter.from_notebook_node(nb, resources)
                    self.write_single_notebook(output, resources)
                self.set_permissions(sub.assignment, sub.student)
                self.run_post_convert_hook()
            except BaseException:
                self.abandon(sub)
                raise

    def abandon(self, sub: Submission) -> None:
        """Remove what a student's unfinished grading left, as nbgrader does on failure."""
        dest = os.path.normpath(self._format_dest(sub.assignment, sub.student))
        if self.coursedir.notebook_id == "*":
            if os.path.exists(dest):
                self.log.warning("Removing unfinished assignment: %s", dest)
                utils.rmtree(dest)
        else:
            for name, _, _ in sub.prepared:
                path = os.path.join(dest, name)
                if os.path.exists(path):
                    utils.remove(path)

    def score(self, sub: Submission) -> tuple[float, float] | None:
        """(score, max score) of the submission in the gradebook, or None if it has none."""
        with Gradebook(self.coursedir.db_url, self.coursedir.course_id) as gradebook:
            try:
                submission = gradebook.find_submission(sub.assignment, sub.student)
            except MissingEntry:
                return None
            return submission.score, submission.max_score

    def graded_notebooks(self, sub: Submission) -> list[NotebookNode]:
        dest = Path(self._format_dest(sub.assignment, sub.student))
        return [nbformat.read(path, as_version=4) for path in sorted(dest.glob("*.ipynb"))]
