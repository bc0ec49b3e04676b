"""``mnist-widgets grade``: the same grades as plain ``nbgrader autograde``, several at once.

The fast tests check the pieces (where the preprocessor chain is cut, how lost points are
explained, the default number of jobs, the worker version check). The slow ones grade one
small 01-softmax class (a student whose accuracy sits 0.05 points above the 85% threshold,
a weak one, one whose notebook crashes) both ways, with TensorFlow's threads pinned, and
compare every grade cell and notebook; and grade it on a real Dask scheduler with two
single-threaded workers, one of which is killed while it runs a job.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from pathlib import Path

import nbformat
import pytest
from grade_course import (
    ASSIGNMENT,
    CRASH_BUILD,
    NOTEBOOK,
    VENV_BIN,
    course_env,
    make_course,
    run,
    train_cell,
)
from nbformat.notebooknode import NotebookNode

from mnist_widgets.grading.batch import StudentRow, lost_points
from mnist_widgets.grading.coordinator import failed_notebook, split_steps

STUDENTS = {
    "near": {"train": train_cell(8000)},  # about 85.05%: just above the 85% threshold
    "weak": {"train": train_cell(3000)},  # about 77%: the kind points only
    "crash": {"build": CRASH_BUILD},
}
EXPECTED = {"near": 5.0, "weak": 2.0, "crash": 0.0}
cluster = [pytest.mark.slow, pytest.mark.cluster]


# -- the pieces ---------------------------------------------------------------------------


def _course_steps() -> list[str]:
    from traitlets.config.loader import PyFileConfigLoader

    path = Path(__file__).resolve().parents[1] / "assignments" / "nbgrader_config.py"
    config = PyFileConfigLoader(path.name, str(path.parent)).load_config()
    return list(config.Autograde.autograde_preprocessors)


def test_chain_is_cut_before_the_first_gradebook_step():
    steps = _course_steps()
    job, coordinator = split_steps(steps)
    assert job + coordinator == steps  # nothing dropped, nothing reordered
    assert coordinator[0] == "nbgrader.preprocessors.SaveAutoGrades"
    assert not any("SaveAutoGrades" in s or "LatePenalties" in s for s in job)
    assert any("Replay" in s for s in job) and any("LimitOutput" in s for s in job)


def test_chain_cut_accepts_classes_and_keeps_later_gradebook_free_steps():
    from nbgrader.preprocessors import CheckCellMetadata, Execute, SaveAutoGrades

    job, coordinator = split_steps([Execute, SaveAutoGrades, CheckCellMetadata])
    assert job == ["nbgrader.preprocessors.execute.Execute"]
    assert coordinator == [SaveAutoGrades, CheckCellMetadata]


def _cell(source: str, outputs: list, grade: bool, solution: bool = False) -> NotebookNode:
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["nbgrader"] = {
        "grade": grade,
        "solution": solution,
        "locked": grade,
        "grade_id": f"c{abs(hash(source))}",
        "points": 1 if grade else 0,
        "schema_version": 3,
    }
    cell.outputs = [nbformat.v4.new_output(**o) for o in outputs]
    return cell


def _error(name: str, value: str) -> dict:
    return {"output_type": "error", "ename": name, "evalue": value, "traceback": []}


def test_lost_points_name_timeout_crash_memory_and_target():
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        _cell("train", [_error("CellTimeoutError", "cell timed out")], grade=False),
        _cell("build", [_error("ValueError", "no model")], grade=False, solution=True),
        _cell("t1", [_error("GradingError", "test accuracy 0.8512 is below 0.9000")], True),
        _cell("t2", [_error("MemoryError", "")], grade=False),
    ]
    assert lost_points([nb], None) == ["timeout", "crash", "below target", "memory cap"]
    assert lost_points([nbformat.v4.new_notebook()], "killed by the memory cap") == ["memory cap"]
    stopped = nbformat.v4.new_notebook()
    stopped.cells = [
        _cell("t", [_error("NotRun", "Your notebook used more than 6 GiB of memory")], True),
        _cell("u", [_error("NotRun", "Your notebook ran longer than the grader's 60 s")], True),
        _cell("v", [_error("NotRun", "Your notebook's kernel died")], True),
    ]
    assert lost_points([stopped], None) == ["memory cap", "timeout", "crash"]
    quiet = nbformat.v4.new_notebook()
    quiet.cells = [_cell("t", [_error("AssertionError", "wrong")], True)]
    assert lost_points([quiet], None) == ["test failed"]


def test_a_failed_job_fails_every_test_cell_and_nothing_else():
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        _cell("answer", [], grade=False, solution=True),
        _cell("test", [], grade=True),
        _cell("manual", [], grade=True, solution=True),
    ]
    failed = nbformat.reads(failed_notebook(nbformat.writes(nb), "worker lost"), as_version=4)
    assert [len(c.outputs) for c in failed.cells] == [0, 1, 0]
    assert failed.cells[1].outputs[0].evalue == "worker lost"
    assert lost_points([failed], "worker lost") == ["crash"]


def test_default_jobs_one_per_core_as_memory_and_class_allow(monkeypatch):
    from mnist_widgets.grading import pools

    monkeypatch.setattr(pools, "usable_cores", lambda: 16)
    monkeypatch.setattr(pools, "available_memory", lambda: 10 * 1024**3)
    assert pools.default_jobs(students=200) == 5  # 10 GiB / 2 GiB per job
    assert pools.default_jobs(students=3) == 3
    monkeypatch.setattr(pools, "available_memory", lambda: None)
    assert pools.default_jobs(students=200) == 16
    monkeypatch.delenv("TF_NUM_INTRAOP_THREADS", raising=False)
    monkeypatch.setenv("TF_NUM_INTEROP_THREADS", "1")
    assert pools.thread_settings(4) == {
        "TF_NUM_INTRAOP_THREADS": "4",
        "TF_NUM_INTEROP_THREADS": "1",
    }


class _FakeClient:
    def __init__(self, worker_versions: dict[str, str]) -> None:
        self.worker_versions = worker_versions
        self.closed = False

    def nthreads(self):
        return {"tcp://127.0.0.1:1": 1}

    def run(self, function):
        return {"tcp://127.0.0.1:1": self.worker_versions}

    def close(self):
        self.closed = True


def test_workers_with_another_tensorflow_are_refused():
    from mnist_widgets.errors import GradingError
    from mnist_widgets.grading.pools import DaskPool, versions

    pool = DaskPool.__new__(DaskPool)
    pool.address = "tcp://127.0.0.1:1"
    pool.client = _FakeClient(versions())
    assert pool.check_workers() == {"tcp://127.0.0.1:1": 1}
    pool.client = _FakeClient({**versions(), "tensorflow": "2.15.0"})
    with pytest.raises(GradingError, match="tensorflow 2.15.0"):
        pool.check_workers()
    assert pool.client.closed


class _FakeTask:
    def __init__(self, status: str, value) -> None:
        self.status, self.value = status, value

    def result(self):
        return self.value

    def exception(self):
        return self.value

    def add_done_callback(self, callback) -> None:
        callback(self)


class _SubmittingClient:
    def __init__(self, task: _FakeTask) -> None:
        self.task, self.calls = task, []

    def submit(self, function, *args, **kwargs):
        self.calls.append(kwargs)
        return self.task


def _job(student: str):
    from mnist_widgets.grading.job import GradingJob

    return GradingJob(student, ASSIGNMENT, [], {}, None, [])


def test_dask_tasks_name_the_student_are_never_cached_and_killed_worker_is_a_failure():
    from distributed import KilledWorker

    from mnist_widgets.grading.job import JobResult
    from mnist_widgets.grading.pools import DaskPool

    pool = DaskPool.__new__(DaskPool)
    pool._futures = []
    pool.client = _SubmittingClient(_FakeTask("finished", JobResult("ada", seconds=3.0)))
    assert pool.submit(_job("ada")).result().seconds == 3.0
    (call,) = pool.client.calls
    assert call["pure"] is False and call["key"].startswith(f"grade-{ASSIGNMENT}-ada-")
    killed = KilledWorker(call["key"], "tcp://127.0.0.1:1", 3)
    pool.client = _SubmittingClient(_FakeTask("error", killed))
    result = pool.submit(_job("bob")).result()
    assert result.student == "bob" and "KilledWorker" in result.error and not result.retry


def test_table_has_score_seconds_and_reasons():
    from mnist_widgets.commands.grade import format_table

    rows = [
        StudentRow("ada", "graded", 5, 10, 31.5, ["below target"]),
        StudentRow("bob", "skipped"),
    ]
    table = format_table(rows).splitlines()
    assert table[0].split() == ["student", "score", "seconds", "lost", "points"]
    assert table[1].split() == ["ada", "5", "/", "10", "31.5", "below", "target"]
    assert "already graded" in table[2]


# -- a class graded both ways -------------------------------------------------------------


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    return make_course(tmp_path_factory.mktemp("grade") / "template", STUDENTS)


def _copy(template: Path, name: str) -> Path:
    target = template.parent / name
    shutil.copytree(template, target)
    return target


def _grade(root: Path, *args: str, env=None) -> subprocess.CompletedProcess:
    return run(
        [str(VENV_BIN / "mnist-widgets"), "grade", ASSIGNMENT, *args], root, env or course_env()
    )


def _grades(root: Path) -> dict[tuple[str, str], tuple]:
    from nbgrader.api import Gradebook

    found = {}
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gradebook:
        for submission in gradebook.assignment_submissions(ASSIGNMENT):
            for notebook in submission.notebooks:
                for grade in notebook.grades:
                    key = (submission.student_id, grade.name)
                    found[key] = (grade.score, grade.max_score, grade.needs_manual_grade)
    return found


def _notebook(root: Path, student: str) -> NotebookNode:
    return nbformat.read(root / "autograded" / student / ASSIGNMENT / f"{NOTEBOOK}.ipynb", 4)


def _without_timings(metadata: dict) -> dict:
    return {key: value for key, value in metadata.items() if key != "execution"}


@pytest.fixture(scope="module")
def both_ways(template):
    plain, parallel = _copy(template, "plain"), _copy(template, "parallel")
    run([str(VENV_BIN / "nbgrader"), "autograde", ASSIGNMENT], plain, course_env())
    graded = _grade(parallel, "--jobs", "2")
    return {"plain": plain, "parallel": parallel, "output": graded.stdout + graded.stderr}


@pytest.mark.slow
@pytest.mark.cluster
def test_every_grade_cell_equals_plain_autograde(both_ways):
    plain, parallel = _grades(both_ways["plain"]), _grades(both_ways["parallel"])
    assert len(plain) == 3 * len(STUDENTS)
    assert parallel == plain
    assert plain[("near", "test_accuracy_85")][0] == 3  # just above the threshold
    assert plain[("near", "test_accuracy_90")][0] == 0
    totals = {s: sum(v[0] for (who, _), v in parallel.items() if who == s) for s in STUDENTS}
    assert totals == EXPECTED


@pytest.mark.slow
@pytest.mark.cluster
def test_notebooks_equal_plain_autograde_but_for_timings(both_ways):
    for student in STUDENTS:
        plain = _notebook(both_ways["plain"], student)
        parallel = _notebook(both_ways["parallel"], student)
        assert parallel.metadata == plain.metadata
        assert len(parallel.cells) == len(plain.cells)
        for ours, theirs in zip(parallel.cells, plain.cells, strict=True):
            assert (ours.cell_type, ours.source) == (theirs.cell_type, theirs.source)
            assert ours.get("id") == theirs.get("id")
            assert _without_timings(ours.metadata) == _without_timings(theirs.metadata)
            if ours.metadata.get("nbgrader", {}).get("grade"):  # the replayed test outputs
                assert ours.outputs == theirs.outputs, student
    near = "".join(
        o.get("text", "")
        for c in _notebook(both_ways["parallel"], "near").cells
        for o in c.get("outputs", [])
    )
    assert "the grader measures 85.0" in near


@pytest.mark.slow
@pytest.mark.cluster
def test_table_feedback_export_and_rerun(both_ways):
    root, output = both_ways["parallel"], both_ways["output"]
    lines = {line.split()[0]: line for line in output.splitlines() if line.split()}
    assert "5 / 10" in lines["near"] and "below target" in lines["near"]
    assert "0 / 10" in lines["crash"] and "crash" in lines["crash"].split(None, 1)[1]
    assert "2 job(s) at once" in output
    env = course_env()
    run([str(VENV_BIN / "nbgrader"), "generate_feedback", ASSIGNMENT], root, env)
    run([str(VENV_BIN / "nbgrader"), "export"], root, env)
    for student in STUDENTS:
        assert (root / "feedback" / student / ASSIGNMENT / f"{NOTEBOOK}.html").is_file()
    assert len((root / "grades.csv").read_text().strip().splitlines()) == 1 + len(STUDENTS)
    graded = root / "autograded" / "near" / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
    before = graded.stat().st_mtime_ns
    again = _grade(root, "--student", "near", "--student", "weak")
    assert again.stdout.count("already graded") == 2 and "crash" not in again.stdout
    assert graded.stat().st_mtime_ns == before


# -- a Dask cluster that loses a worker ---------------------------------------------------


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def _descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        for child in _children(todo.pop()):
            found.append(child)
            todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture
def dask_cluster(tmp_path):
    """A scheduler and two single-threaded workers without nannies, on 127.0.0.1."""
    env = course_env()
    dask = str(VENV_BIN / "dask")
    scheduler_file = tmp_path / "scheduler.json"
    processes = [
        subprocess.Popen(
            [
                dask,
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--no-dashboard",
                "--scheduler-file",
                str(scheduler_file),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    ]
    try:
        for _ in range(300):
            if scheduler_file.is_file() and scheduler_file.stat().st_size:
                break
            time.sleep(0.1)
        for name in ("w1", "w2"):
            processes.append(
                subprocess.Popen(
                    [
                        dask,
                        "worker",
                        "--scheduler-file",
                        str(scheduler_file),
                        "--nthreads",
                        "1",
                        "--no-nanny",
                        "--host",
                        "127.0.0.1",
                        "--no-dashboard",
                        "--name",
                        name,
                    ],
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        from distributed import Client

        with Client(scheduler_file=str(scheduler_file), timeout=60) as client:
            client.wait_for_workers(2, timeout=120)
            address = client.scheduler.address
        yield {"address": address, "workers": processes[1:]}
    finally:
        for process in reversed(processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.mark.slow
@pytest.mark.cluster
def test_dask_grades_every_student_once_when_a_worker_dies(template, dask_cluster):
    root = _copy(template, "dask")
    shutil.rmtree(root / "submitted" / "weak")  # two students keep both workers busy
    students = ("near", "crash")
    grade = subprocess.Popen(
        [
            str(VENV_BIN / "mnist-widgets"),
            "grade",
            ASSIGNMENT,
            "--scheduler",
            dask_cluster["address"],
        ],
        cwd=root,
        env=course_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        victim, doomed = None, []
        deadline = time.monotonic() + 240
        while victim is None and time.monotonic() < deadline and grade.poll() is None:
            for worker in dask_cluster["workers"]:
                below = _descendants(worker.pid)
                if len(below) >= 2:  # the job process and its kernel (at least)
                    victim, doomed = worker, below
                    break
            time.sleep(0.5)
        assert victim is not None, "no grading job started on a worker"
        time.sleep(2)  # well inside the job: the kernel is importing or training
        doomed = sorted(set(doomed) | set(_descendants(victim.pid)))
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        stdout, stderr = grade.communicate(timeout=600)
    finally:
        if grade.poll() is None:
            grade.kill()
            grade.wait()
    assert grade.returncode == 0, stderr
    for _ in range(40):  # the dead worker's job, kernel and replay go with it
        if not any(_alive(pid) for pid in doomed):
            break
        time.sleep(0.5)
    assert not [pid for pid in doomed if _alive(pid)]
    rows = [line.split() for line in stdout.splitlines()[1:] if line.split()]
    assert sorted(row[0] for row in rows) == sorted(students)  # each student once
    totals = {s: sum(v[0] for (who, _), v in _grades(root).items() if who == s) for s in students}
    assert totals == {s: EXPECTED[s] for s in students}
    assert "2 Dask worker(s)" in stderr


@pytest.mark.slow
@pytest.mark.cluster
def test_ctrl_c_keeps_finished_students_and_a_rerun_grades_the_rest(template):
    root = _copy(template, "interrupted")
    for student in ("near", "weak"):  # two quick notebooks: both crash in their build cell
        shutil.rmtree(root / "submitted" / student)
    shutil.copytree(root / "submitted" / "crash", root / "submitted" / "crash2")
    grade = subprocess.Popen(
        [str(VENV_BIN / "mnist-widgets"), "grade", ASSIGNMENT, "--jobs", "1"],
        cwd=root,
        env=course_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # as from a terminal, even when this test runs in a background job (SIGINT ignored)
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        second = root / "autograded" / "crash2"
        deadline = time.monotonic() + 300
        while not second.exists() and time.monotonic() < deadline and grade.poll() is None:
            time.sleep(0.2)  # crash2 is prepared once crash is finished
        assert second.exists(), "the second student never started"
        time.sleep(3)
        running = _descendants(grade.pid)
        grade.send_signal(signal.SIGINT)
        stdout, _ = grade.communicate(timeout=120)
    finally:
        if grade.poll() is None:
            grade.kill()
            grade.wait()
    assert grade.returncode == 130
    assert "interrupted" in stdout
    assert not (second / ASSIGNMENT).exists()  # nothing half-graded left (as nbgrader does)
    assert (root / "autograded" / "crash" / ASSIGNMENT / f"{NOTEBOOK}.ipynb").is_file()
    assert not [pid for pid in running if _alive(pid)]
    graded = {who for (who, _) in _grades(root)}
    assert "crash" in graded
    again = _grade(root)
    assert "already graded" in again.stdout
    assert "0 / 10" in next(li for li in again.stdout.splitlines() if li.startswith("crash2"))
