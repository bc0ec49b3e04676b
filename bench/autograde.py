"""Time to autograde one submission of each graded assignment under ``assignments/``.

A temporary course gets a copy of ``assignments/source`` and ``nbgrader_config.py``; each
assignment is generated with nbgrader, one submission per assignment is made from the
released notebook with the reference solution filled in (as a student would submit it), and
``nbgrader autograde`` is timed on it: starting nbgrader, running the notebook (it trains its
model), replaying the tests in a fresh process, saving the grades.

    python bench/autograde.py [--only 01-softmax,...] [--quick]
    python bench/autograde.py --class 8 [--only 01-softmax] [--rounds 3]

``--quick`` grades a blank submission (the release, unfilled) of the first assignment only:
it checks the machinery, not the timing. ``--class N`` grades a class of N copies of one
reference solution three ways (see ``autograde_class.py``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import REPO, load_average, machine

STUDENT = "bench"
VENV_BIN = Path(sys.executable).parent


class NbgraderFailed(Exception):
    """An nbgrader command exited with an error; the message is its last error line."""


def nbgrader(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [str(VENV_BIN / "nbgrader"), *args], cwd=cwd, env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        lines = [x.strip() for x in (done.stdout + done.stderr).splitlines() if "Error" in x]
        raise NbgraderFailed(f"nbgrader {args[0]} failed: {(lines or ['?'])[-1][:200]}")
    return done


def solution_sources(notebook: Path) -> dict[str, str]:
    """{grade id: source} of the solution cells of a source notebook."""
    import nbformat

    nb = nbformat.read(notebook, 4)
    return {
        cell.metadata["nbgrader"]["grade_id"]: cell.source
        for cell in nb.cells
        if cell.metadata.get("nbgrader", {}).get("solution")
    }


def fill(released: Path, target: Path, sources: dict[str, str]) -> None:
    import nbformat

    nb = nbformat.read(released, 4)
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in sources:
            cell.source = sources[grade_id]
    nbformat.write(nb, target)


def score(root: Path, assignment: str) -> tuple[float, float]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gradebook:
        submission = gradebook.find_submission(assignment, STUDENT)
        return submission.score, submission.max_score


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="", help="comma-separated assignment names")
    parser.add_argument("--quick", action="store_true", help="a blank submission of the first")
    parser.add_argument(
        "--class",
        dest="students",
        type=int,
        default=0,
        metavar="N",
        help="grade N copies of the first (or --only) assignment's reference three ways",
    )
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (--class)")
    args = parser.parse_args(argv)
    if args.students:
        from autograde_class import run_class

        first = (args.only.split(",") if args.only else ["01-softmax"])[0]
        return run_class(args.students, first, args.rounds, jobs=2, workers=2)

    source = REPO / "assignments" / "source"
    assignments = sorted(p.name for p in source.iterdir() if p.is_dir()) if source.is_dir() else []
    if args.only:
        assignments = [a for a in assignments if a in args.only.split(",")]
    if args.quick:
        assignments = assignments[:1]
    if not assignments:
        print(f"no assignments under {source}")
        return 1
    env = dict(os.environ)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"  # nbgrader runs alembic
    env["USER"] = env["LOGNAME"] = "instructor"
    env.pop("NBGRADER_EXECUTION", None)

    print(f"# autograde\n{machine()}", flush=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="mnist-widgets-grade-") as tmp:
        root = Path(tmp)
        shutil.copy(REPO / "assignments" / "nbgrader_config.py", root / "nbgrader_config.py")
        for assignment in assignments:
            shutil.copytree(source / assignment, root / "source" / assignment)
            try:
                nbgrader("generate_assignment", assignment, "--force", cwd=root, env=env)
            except NbgraderFailed as exc:
                rows.append((assignment, None, str(exc), None))
                print(f"  {assignment}: {exc}", flush=True)
                continue
            submitted = root / "submitted" / STUDENT / assignment
            submitted.mkdir(parents=True)
            for notebook in sorted((root / "release" / assignment).glob("*.ipynb")):
                solved = source / assignment / notebook.name
                fill(
                    notebook,
                    submitted / notebook.name,
                    {} if args.quick else solution_sources(solved),
                )
            start = time.perf_counter()
            nbgrader("autograde", assignment, "--student", STUDENT, cwd=root, env=env)
            seconds = time.perf_counter() - start
            got, out_of = score(root, assignment)
            rows.append((assignment, seconds, got, out_of))
            print(f"  {assignment}: {seconds:.1f} s, score {got:g}/{out_of:g}", flush=True)
    print(f"load average after: {load_average()}\n")
    print("| assignment | autograde time | score of the submission |")
    print("|---|---|---|")
    for assignment, seconds, got, out_of in rows:
        if seconds is None:
            print(f"| {assignment} | not graded | {got} |")
        else:
            print(f"| {assignment} | {seconds:.1f} s | {got:g} / {out_of:g} |")
    graded = [r for r in rows if r[1] is not None]
    print(f"\ntotal {sum(r[1] for r in graded):.1f} s for {len(graded)} submissions")
    blank_ok = bool(graded) and all(r[2] == 0 for r in graded)
    full_ok = len(graded) == len(rows)  # manually graded answers are not scored here
    return 0 if (blank_ok if args.quick else full_ok) else 1


if __name__ == "__main__":
    sys.exit(main())
