"""Time to autograde one submission of each graded assignment under ``assignments/``.

A temporary course gets a copy of ``assignments/source`` and ``nbgrader_config.py``; each
assignment is generated with nbgrader, one submission per assignment is made from the
released notebook with the reference solution filled in (as a student would submit it), and
``nbgrader autograde`` is timed on it: starting nbgrader, running the notebook (it trains its
model), replaying the tests in a fresh process, saving the grades.

    python bench/autograde.py [--only 01-softmax,...] [--quick]
    python bench/autograde.py --compare 5 [--only 01-softmax] [--out FILE.md]
    python bench/autograde.py --class 8 [--only 01-softmax] [--rounds 3]

``--quick`` grades a blank submission (the release, unfilled) of the first assignment only:
it checks the machinery, not the timing.

``--class N`` grades a class of N copies of one reference solution three ways: plain
``nbgrader autograde``, ``mnist-widgets grade --jobs 2`` and ``--scheduler`` on two local
Dask workers (see ``autograde_class.py``).

``--compare N`` times the sandbox's cost: two courses, one as configured (every notebook
and every measurement sealed) and one with nbgrader's plain ``Execute`` and unsealed
measurement, each grading the same reference submission N times, interleaved (the order
alternates every round), with ``--force``. It prints the medians, their difference and the
load average at each run, and, where this process may make a cgroup (root), the CPU
seconds of each run: every process it started, sandboxed ones included (``CpuMeter``),
which a busy machine moves far less than the wall time.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from _common import REPO, load_average, machine

from mnist_widgets.grading.limits import own_cgroups

STUDENT = "bench"
VENV_BIN = Path(sys.executable).parent
SEALED, UNSEALED = "sandbox", "no sandbox"
# Appended to the course's config for the unsealed twin: nbgrader's own Execute, and the
# replay measuring in a plain fresh process. Only for timing: unsafe with real students.
UNSEALED_CONFIG = """
c.Autograde.autograde_preprocessors = [
    "nbgrader.preprocessors.Execute" if p.endswith(".SealedExecute") else p
    for p in c.Autograde.autograde_preprocessors
]
c.ReplayTestsInFreshProcess.sealed_measurement = False
"""


CGROUP_ROOT = Path("/sys/fs/cgroup")


class NbgraderFailed(Exception):
    """An nbgrader command exited with an error; the message is its last error line."""


class CpuMeter:
    """CPU seconds (user + system) of one command and every process it starts.

    The command enters a cgroup of its own before it runs (cgroup v2, or v1's ``cpuacct``);
    the sandbox moves its processes into memory and process-count cgroups only, so they
    stay counted. ``seconds`` is None where no cgroup can be made (not root).
    """

    def __init__(self) -> None:
        self.folder: Path | None = None
        self.seconds: float | None = None

    def __enter__(self) -> CpuMeter:
        name = f"mnist-widgets-bench-{uuid.uuid4().hex[:8]}"
        unified = (CGROUP_ROOT / "cgroup.controllers").exists()
        base = CGROUP_ROOT if unified else CGROUP_ROOT / "cpuacct"
        with contextlib.suppress(OSError, KeyError):
            own = own_cgroups()["" if unified else "cpuacct"]
            folder = base / own.lstrip("/") / name
            folder.mkdir()
            self.folder = folder
        return self

    def wrap(self, argv: list[str]) -> list[str]:
        """``argv`` started inside the cgroup (a shell joins it, then execs ``argv``)."""
        if self.folder is None:
            return argv
        join = 'echo $$ > "$0" && exec "$@"'
        return ["sh", "-c", join, str(self.folder / "cgroup.procs"), *argv]

    def __exit__(self, *exc) -> None:
        if self.folder is None:
            return
        with contextlib.suppress(OSError, ValueError):
            if (self.folder / "cpu.stat").exists():
                usage = (self.folder / "cpu.stat").read_text().split()
                self.seconds = int(usage[usage.index("usage_usec") + 1]) / 1e6
            else:
                self.seconds = int((self.folder / "cpuacct.usage").read_text()) / 1e9
        with contextlib.suppress(OSError):
            self.folder.rmdir()


def nbgrader(
    *args: str, cwd: Path, env: dict[str, str], meter: CpuMeter | None = None
) -> subprocess.CompletedProcess:
    argv = [str(VENV_BIN / "nbgrader"), *args]
    done = subprocess.run(
        meter.wrap(argv) if meter else argv, cwd=cwd, env=env, capture_output=True, text=True
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


def make_course(root: Path, assignment: str, env: dict[str, str], extra_config: str = "") -> None:
    """A course in ``root`` with ``assignment`` generated and the reference submitted."""
    source = REPO / "assignments" / "source"
    config = (REPO / "assignments" / "nbgrader_config.py").read_text() + extra_config
    (root / "nbgrader_config.py").write_text(config)
    shutil.copytree(source / assignment, root / "source" / assignment)
    nbgrader("generate_assignment", assignment, "--force", cwd=root, env=env)
    submitted = root / "submitted" / STUDENT / assignment
    submitted.mkdir(parents=True)
    for notebook in sorted((root / "release" / assignment).glob("*.ipynb")):
        fill(
            notebook,
            submitted / notebook.name,
            solution_sources(source / assignment / notebook.name),
        )


def compare(
    assignment: str, runs: int, env: dict[str, str], out: Path | None, extra: str = ""
) -> int:
    """Time autograde with and without the sandbox, ``runs`` interleaved rounds."""
    from _common import median

    print(f"# autograde with and without the sandbox: {assignment}\n{machine()}", flush=True)
    times: dict[str, list[float]] = {SEALED: [], UNSEALED: []}
    cpu: dict[str, list[float]] = {SEALED: [], UNSEALED: []}
    scores: dict[str, set[tuple[float, float]]] = {SEALED: set(), UNSEALED: set()}
    loads: list[str] = []
    with tempfile.TemporaryDirectory(prefix="mnist-widgets-compare-") as tmp:
        roots = {SEALED: Path(tmp) / "sealed", UNSEALED: Path(tmp) / "unsealed"}
        for mode, root in roots.items():
            root.mkdir()
            make_course(
                root, assignment, env, extra + (UNSEALED_CONFIG if mode == UNSEALED else "")
            )
        for round_ in range(runs):
            order = [SEALED, UNSEALED] if round_ % 2 == 0 else [UNSEALED, SEALED]
            for mode in order:
                start = time.perf_counter()
                with CpuMeter() as meter:
                    nbgrader(
                        "autograde",
                        assignment,
                        "--student",
                        STUDENT,
                        "--force",
                        cwd=roots[mode],
                        env=env,
                        meter=meter,
                    )
                seconds = time.perf_counter() - start
                times[mode].append(seconds)
                if meter.seconds is not None:
                    cpu[mode].append(meter.seconds)
                scores[mode].add(score(roots[mode], assignment))
                loads.append(load_average())
                used = f", CPU {meter.seconds:.1f} s" if meter.seconds is not None else ""
                print(
                    f"  round {round_ + 1} {mode}: {seconds:.1f} s{used}, load {loads[-1]}",
                    flush=True,
                )
    cost = median(times[SEALED]) - median(times[UNSEALED])
    lines = [
        f"# autograde of one submission of {assignment}, with and without the sandbox",
        "",
        machine(),
        "",
        "| mode | runs | median | min | max | median CPU | score |",
        "|---|---|---|---|---|---|---|",
    ]
    for mode in (SEALED, UNSEALED):
        got = ", ".join(f"{a:g}/{b:g}" for a, b in sorted(scores[mode]))
        t = times[mode]
        used = f"{median(cpu[mode]):.1f} s" if cpu[mode] else "n/a"
        lines.append(
            f"| {mode} | {len(t)} | {median(t):.1f} s | {min(t):.1f} s | {max(t):.1f} s "
            f"| {used} | {got} |"
        )
    lines += [
        "",
        f"the sandbox adds {cost:+.1f} s to the median (target: at most 3 s)",
        f"load average (1, 5, 15 min) after each run: {'; '.join(loads)}",
    ]
    if cpu[SEALED] and cpu[UNSEALED]:
        extra_cpu = median(cpu[SEALED]) - median(cpu[UNSEALED])
        lines.insert(-1, f"and {extra_cpu:+.1f} s to the median CPU time (every process of a run)")
    report = "\n".join(lines)
    print("\n" + report)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(report + "\n")
    same = scores[SEALED] == scores[UNSEALED] and len(scores[SEALED]) == 1
    return 0 if same else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="", help="comma-separated assignment names")
    parser.add_argument("--quick", action="store_true", help="a blank submission of the first")
    parser.add_argument(
        "--compare", type=int, default=0, metavar="N", help="N rounds with and without sandbox"
    )
    parser.add_argument("--out", type=Path, default=None, help="write the comparison here too")
    parser.add_argument(
        "--cell-timeout",
        type=int,
        default=0,
        help="seconds per cell instead of the course's (a busy machine trains slower)",
    )
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
    extra = f"\nc.Execute.timeout = {args.cell_timeout}\n" if args.cell_timeout else ""
    if args.compare:
        return compare(assignments[0], args.compare, env, args.out, extra)
    if args.students:
        from autograde_class import run_class

        return run_class(args.students, assignments[0], args.rounds, jobs=2, workers=2)

    print(f"# autograde\n{machine()}", flush=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="mnist-widgets-grade-") as tmp:
        root = Path(tmp)
        config = (REPO / "assignments" / "nbgrader_config.py").read_text()
        (root / "nbgrader_config.py").write_text(config + extra)
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
