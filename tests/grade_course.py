"""A small 01-softmax course with collected submissions, for the ``grade`` tests and bench.

``make_course(root, students)`` copies the course configuration and the assignment's
source, runs ``nbgrader generate_assignment``, and puts each student's notebook (the
release with the given training cell filled in) under ``submitted/`` as ``collect``
would, with a timestamp. The notebooks train on a few thousand images for one epoch.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
ASSIGNMENT = "01-softmax"
NOTEBOOK = "softmax"
# Pinned so a notebook computes the same numbers whichever way it is graded.
PINNED_THREADS = {"TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"}


def train_cell(images: int, epochs: int = 1) -> str:
    return (
        f"history = model.fit(x_train[:{images}], y_train[:{images}], batch_size=128,"
        f" epochs={epochs}, verbose=2)"
    )


CRASH_BUILD = 'raise ValueError("my model does not build")'


def course_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"  # nbgrader runs `alembic`
    env["USER"] = env["LOGNAME"] = "instructor"
    env.pop("NBGRADER_EXECUTION", None)
    env.update(PINNED_THREADS)
    env.update(extra)
    return env


def run(args: list[str], cwd: Path, env: dict[str, str], timeout: float = 900):
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done


def solution_sources() -> dict[str, str]:
    source = nbformat.read(REPO / "assignments" / "source" / ASSIGNMENT / f"{NOTEBOOK}.ipynb", 4)
    return {
        cell.metadata["nbgrader"]["grade_id"]: cell.source
        for cell in source.cells
        if cell.metadata.get("nbgrader", {}).get("solution")
    }


def make_course(root: Path, students: dict[str, dict[str, str]], cell_timeout: int = 60) -> Path:
    """A course at ``root`` whose ``students`` ({id: {grade id: source}}) have submitted."""
    root.mkdir(parents=True)
    config = (REPO / "assignments" / "nbgrader_config.py").read_text()
    (root / "nbgrader_config.py").write_text(config + f"\nc.Execute.timeout = {cell_timeout}\n")
    shutil.copytree(REPO / "assignments" / "source" / ASSIGNMENT, root / "source" / ASSIGNMENT)
    env = course_env()
    run([str(VENV_BIN / "nbgrader"), "generate_assignment", ASSIGNMENT], root, env)
    released = nbformat.read(root / "release" / ASSIGNMENT / f"{NOTEBOOK}.ipynb", 4)
    solutions = solution_sources()
    for student, sources in students.items():
        nb = nbformat.from_dict(released)
        filled = {**solutions, **sources}
        for cell in nb.cells:
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
            if grade_id in filled:
                cell.source = filled[grade_id]
        folder = root / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / f"{NOTEBOOK}.ipynb")
        (folder / "timestamp.txt").write_text("2026-12-01 10:00:00.000000 UTC")
    return root
