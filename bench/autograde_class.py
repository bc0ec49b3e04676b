"""A class at a time: ``bench/autograde.py --class N`` grades N copies of a reference solution.

Three ways, in one run: plain ``nbgrader autograde`` (one student after the other),
``mnist-widgets grade --jobs J`` (J at once on this machine) and ``mnist-widgets grade
--scheduler`` on a local Dask cluster of W single-threaded workers. Each way grades a fresh
copy of the same course; the order of the ways changes from round to round (alternating
rounds), and the table gives the median of the rounds: wall time per class and per
student, and each way's time as a fraction of the plain run's. It also counts the sealed
runs the log reports (one sandbox per student) and checks that every way gave every
student the same score.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from _common import REPO, load_average, machine, median

VENV_BIN = Path(sys.executable).parent
SEALED_RUN = re.compile(r"sealed run: \d+ of \d+ cells")


def make_class(root: Path, assignment: str, students: int, env: dict[str, str]) -> None:
    """A course at ``root`` where ``students`` students submitted the reference solution."""
    from autograde import fill, nbgrader, solution_sources

    root.mkdir(parents=True)
    shutil.copy(REPO / "assignments" / "nbgrader_config.py", root / "nbgrader_config.py")
    source = REPO / "assignments" / "source" / assignment
    shutil.copytree(source, root / "source" / assignment)
    nbgrader("generate_assignment", assignment, "--force", cwd=root, env=env)
    for number in range(1, students + 1):
        submitted = root / "submitted" / f"student{number:03d}" / assignment
        submitted.mkdir(parents=True)
        for notebook in sorted((root / "release" / assignment).glob("*.ipynb")):
            fill(notebook, submitted / notebook.name, solution_sources(source / notebook.name))
        (submitted / "timestamp.txt").write_text("2026-12-01 10:00:00.000000 UTC")


def scores(root: Path, assignment: str) -> dict[str, float]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gradebook:
        return {s.student_id: s.score for s in gradebook.assignment_submissions(assignment)}


class LocalDask:
    """A scheduler and ``workers`` single-threaded workers on 127.0.0.1, as processes."""

    def __init__(self, workers: int, env: dict[str, str], folder: Path) -> None:
        self.file = folder / "scheduler.json"
        dask = str(VENV_BIN / "dask")
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "env": env}
        self.processes = [
            subprocess.Popen(
                [dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard"]
                + ["--scheduler-file", str(self.file)],
                **quiet,
            )
        ]
        for _ in range(300):
            if self.file.is_file() and self.file.stat().st_size:
                break
            time.sleep(0.1)
        for number in range(workers):
            self.processes.append(
                subprocess.Popen(
                    [dask, "worker", "--scheduler-file", str(self.file), "--nthreads", "1"]
                    + ["--host", "127.0.0.1", "--no-dashboard", "--name", f"w{number}"],
                    **quiet,
                )
            )
        from distributed import Client

        with Client(scheduler_file=str(self.file), timeout=60) as client:
            client.wait_for_workers(workers, timeout=180)
            self.address = client.scheduler.address

    def close(self) -> None:
        for process in reversed(self.processes):
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def grade_once(way: str, command: list[str], root: Path, env: dict[str, str]) -> dict:
    start = time.perf_counter()
    done = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        tail = (done.stdout + done.stderr).strip().splitlines()[-3:]
        raise RuntimeError(f"{way} failed: {' | '.join(tail)}")
    sandboxes = len(SEALED_RUN.findall(done.stdout + done.stderr))
    return {"seconds": seconds, "sandboxes": sandboxes}


def run_class(students: int, assignment: str, rounds: int, jobs: int, workers: int) -> int:
    env = dict(os.environ)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"  # nbgrader runs alembic
    env["USER"] = env["LOGNAME"] = "instructor"
    env.pop("NBGRADER_EXECUTION", None)
    print(f"# autograde --class {students} ({assignment})\n{machine()}", flush=True)
    import tempfile

    ways = {
        "plain nbgrader autograde": [str(VENV_BIN / "nbgrader"), "autograde", assignment],
        f"grade --jobs {jobs}": [
            str(VENV_BIN / "mnist-widgets"),
            "grade",
            assignment,
            "--jobs",
            str(jobs),
            "--verbose",
        ],
        f"grade --scheduler ({workers} workers)": None,  # the address is known once it runs
    }
    times: dict[str, list[float]] = {way: [] for way in ways}
    sandboxes: dict[str, list[int]] = {way: [] for way in ways}
    seen_scores: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="mnist-widgets-class-") as tmp:
        template = Path(tmp) / "template"
        make_class(template, assignment, students, env)
        cluster = LocalDask(workers, env, Path(tmp))
        try:
            dask_way = f"grade --scheduler ({workers} workers)"
            ways[dask_way] = [str(VENV_BIN / "mnist-widgets"), "grade", assignment]
            ways[dask_way] += ["--scheduler", cluster.address, "--verbose"]
            names = list(ways)
            for number in range(rounds):
                order = names[number % len(names) :] + names[: number % len(names)]
                for way in order:
                    root = Path(tmp) / f"round{number}-{names.index(way)}"
                    shutil.copytree(template, root)
                    result = grade_once(way, ways[way], root, env)
                    times[way].append(result["seconds"])
                    sandboxes[way].append(result["sandboxes"])
                    seen_scores[way] = scores(root, assignment)
                    print(
                        f"  round {number + 1}: {way}: {result['seconds']:.1f} s, "
                        f"{result['sandboxes']} sealed runs, load {load_average()}",
                        flush=True,
                    )
                    shutil.rmtree(root)
        finally:
            cluster.close()
    plain = median(times[names[0]])
    print(f"\nload average after: {load_average()}\n")
    print(f"| way ({students} students, median of {rounds}) | class | per student | of plain |")
    print("|---|---|---|---|")
    for way in names:
        seconds = median(times[way])
        print(f"| {way} | {seconds:.1f} s | {seconds / students:.1f} s | {seconds / plain:.2f} |")
    print(f"\nsealed runs per class: { {w: sandboxes[w] for w in names} }")
    same = all(s == seen_scores[names[0]] for s in seen_scores.values())
    print(f"same score for every student every way: {same}")
    return 0 if same else 1
