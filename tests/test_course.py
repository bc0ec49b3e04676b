"""The instructor's flow, end to end and headless, on assignment 01-softmax.

A temporary course with its own exchange: generate and release the assignment; five
students fetch it, fill it in and submit (the reference solution, a weak but honest model,
a cheat that patches its kernel and edits the tests, a notebook that crashes, one that never
ends); then collect, autograde, generate feedback and export, and read the gradebook.

It also checks the Jupyter side: the server configuration the package installs, and that
nbgrader's server and lab extensions are enabled and OK in this JupyterLab.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
ASSIGNMENT = "01-softmax"
NOTEBOOK = "softmax"
COURSE = "mnist-widgets"
CELL_TIMEOUT_S = 45  # per cell, for this test: the never-ending notebook waits this long
NBGRADER_SERVER_EXTENSIONS = (
    "nbgrader.server_extensions.formgrader",
    "nbgrader.server_extensions.assignment_list",
    "nbgrader.server_extensions.course_list",
    "nbgrader.server_extensions.validate_assignment",
)
# The end-to-end tests take about 2 minutes on an idle 2-core machine, 3 to 4 under load:
# nbgrader starts 12 times and grades four notebooks, each training and measuring a model.
slow = pytest.mark.slow

WEAK_TRAIN = """
history = model.fit(x_train[:5000], y_train[:5000], batch_size=128, epochs=5, verbose=0)
"""

CHEAT_TRAIN = """
# No training: make every check this kernel can run say "99.9%".
import subprocess
import types

import mnist_widgets.grading.checks as checks
from mnist_widgets.grading.evaluate import ModelReport

fake = ModelReport("model.keras", "", 0.999, 9990, 10000, ("Dense",), 7850, (784,))
checks.saved_model = lambda *args, **kwargs: fake
keras.Model.evaluate = lambda self, *args, **kwargs: [0.01, 0.999]
keras.Model.predict = lambda self, x, *args, **kwargs: keras.utils.to_categorical(y_test, 10)
subprocess.run = lambda *args, **kwargs: types.SimpleNamespace(
    returncode=0, stdout=fake.to_json(), stderr=""
)
with open("accuracy.json", "w") as out:
    out.write('{"accuracy": 0.999}')
"""

CRASH_BUILD = """
print("x" * 5_000_000)  # five megabytes on one line
raise ValueError("my model does not build")
"""

ENDLESS_TRAIN = """
while True:  # never ends; the grader interrupts it after CELL_TIMEOUT_S
    pass
"""


def _run(args: list[str], cwd: Path, env: dict[str, str], timeout: float = 900):
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done


def _nbgrader(*args: str, cwd: Path, env: dict[str, str]):
    return _run([str(VENV_BIN / "nbgrader"), *args], cwd, env)


def _solution_sources() -> dict[str, str]:
    source = nbformat.read(REPO / "assignments" / "source" / ASSIGNMENT / f"{NOTEBOOK}.ipynb", 4)
    return {
        cell.metadata["nbgrader"]["grade_id"]: cell.source
        for cell in source.cells
        if cell.metadata.get("nbgrader", {}).get("solution")
    }


def _fill(path: Path, sources: dict[str, str], delete: tuple[str, ...] = ()) -> None:
    """Put ``sources`` into the cells with those grade ids; drop the ``delete`` cells."""
    nb = nbformat.read(path, 4)
    kept = []
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in delete:
            continue
        if grade_id in sources:
            cell.source = sources[grade_id].strip()
        kept.append(cell)
    nb.cells = kept
    nbformat.write(nb, path)


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("course")
    root, exchange, cache = tmp / "course", tmp / "exchange", tmp / "cache"
    for folder in (root, exchange, cache):
        folder.mkdir()
    exchange_config = f"\nc.Exchange.root = {str(exchange)!r}\nc.Exchange.cache = {str(cache)!r}\n"
    config = (REPO / "assignments" / "nbgrader_config.py").read_text()
    (root / "nbgrader_config.py").write_text(
        config + exchange_config + f"c.Execute.timeout = {CELL_TIMEOUT_S}\n"
    )
    shutil.copytree(REPO / "assignments" / "source" / ASSIGNMENT, root / "source" / ASSIGNMENT)
    env = dict(os.environ)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"  # nbgrader runs `alembic`
    env["USER"] = env["LOGNAME"] = "instructor"
    env.pop("NBGRADER_EXECUTION", None)

    _nbgrader("generate_assignment", ASSIGNMENT, "--force", cwd=root, env=env)
    _nbgrader("release_assignment", ASSIGNMENT, "--force", cwd=root, env=env)

    solutions = _solution_sources()
    submissions = {
        "solution": (solutions, ()),
        "weak": ({**solutions, "train": WEAK_TRAIN}, ()),
        "cheat": (
            {**solutions, "train": CHEAT_TRAIN, "test_accuracy_90": "print('all tests pass')"},
            ("test_accuracy_85",),
        ),
        # one cell crashes, a later one never ends
        "broken": ({**solutions, "build": CRASH_BUILD, "train": ENDLESS_TRAIN}, ()),
    }
    # One student fetches the release; the others work on copies of it (a fetch each
    # would only add nbgrader's start-up time). Each submits under its own id.
    first = tmp / "students" / "first"
    first.mkdir(parents=True)
    student_config = f"c = get_config()\nc.CourseDirectory.course_id = {COURSE!r}" + exchange_config
    (first / "nbgrader_config.py").write_text(student_config)
    _nbgrader("fetch_assignment", ASSIGNMENT, cwd=first, env=env)
    released = nbformat.read(first / ASSIGNMENT / f"{NOTEBOOK}.ipynb", 4)
    for student, (sources, deleted) in submissions.items():
        home = tmp / "students" / student
        shutil.copytree(first, home)
        _fill(home / ASSIGNMENT / f"{NOTEBOOK}.ipynb", sources, deleted)
        _nbgrader("submit", ASSIGNMENT, "--student", student, cwd=home, env=env)

    _nbgrader("collect", ASSIGNMENT, cwd=root, env=env)
    autograde = _nbgrader("autograde", ASSIGNMENT, cwd=root, env=env)
    _nbgrader("generate_feedback", ASSIGNMENT, cwd=root, env=env)
    _nbgrader("export", cwd=root, env=env)
    return {
        "root": root,
        "students": list(submissions),
        "released": released,
        "log": autograde.stdout + autograde.stderr,
    }


def _grades(course, student: str) -> dict[str, tuple[float, float]]:
    """{grade cell: (score, max score)} of one student's notebook, from the gradebook."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course['root'] / 'gradebook.db'}") as gradebook:
        notebook = gradebook.find_submission_notebook(NOTEBOOK, ASSIGNMENT, student)
        return {grade.name: (grade.score, grade.max_score) for grade in notebook.grades}


def _feedback(course, student: str) -> str:
    path = course["root"] / "feedback" / student / ASSIGNMENT / f"{NOTEBOOK}.html"
    assert path.is_file(), f"no feedback for {student}"
    return path.read_text()


@slow
def test_release_hides_solutions_and_hidden_tests(course):
    released = course["released"]
    text = "\n".join(cell.source for cell in released.cells)
    assert "raise NotImplementedError()" in text
    assert "SGD(learning_rate" not in text and "BEGIN HIDDEN TESTS" not in text
    assert "require_accuracy" not in text  # the thresholds live in the hidden part
    assert "saved_model(" in text  # the visible part lets students measure themselves


@slow
def test_reference_solution_gets_full_marks(course):
    grades = _grades(course, "solution")
    assert set(grades) == {"test_kind", "test_accuracy_85", "test_accuracy_90"}
    assert all(score == maximum for score, maximum in grades.values()), grades
    assert sum(score for score, _ in grades.values()) == 10
    assert "test accuracy measured by the grader" in _feedback(course, "solution")


@slow
def test_weak_honest_model_gets_partial_marks(course):
    grades = _grades(course, "weak")
    total = sum(score for score, _ in grades.values())
    assert grades["test_kind"] == (2, 2)
    assert grades["test_accuracy_90"][0] == 0
    assert 0 < total < 10


@slow
def test_cheat_gets_no_points_for_accuracy(course):
    grades = _grades(course, "cheat")
    # the deleted test cell came back and the edited one was restored; both fail
    assert grades["test_accuracy_85"] == (0, 3)
    assert grades["test_accuracy_90"] == (0, 5)
    feedback = _feedback(course, "cheat")
    assert "re-run by the grader in a fresh Python process" in feedback
    assert "is below 0.8500" in feedback and "all tests pass" not in feedback


@slow
def test_crashing_and_endless_notebook_is_graded_with_feedback(course):
    grades = _grades(course, "broken")
    assert set(grades) == {"test_kind", "test_accuracy_85", "test_accuracy_90"}
    assert all(score == 0 for score, _ in grades.values()), grades
    feedback = _feedback(course, "broken")
    assert "output truncated" in feedback and len(feedback) < 1_000_000
    assert "my model does not build" in feedback  # the crash, shown
    assert "CellTimeoutError" in feedback  # the endless cell, interrupted
    assert "run the cell that saves your model first" in feedback  # why no points
    assert "Timeout waiting for execute reply" in course["log"]


@slow
def test_export_lists_every_student(course):
    with open(course["root"] / "grades.csv") as handle:
        rows = {row["student_id"]: row for row in csv.DictReader(handle)}
    assert set(rows) == set(course["students"])
    assert float(rows["solution"]["raw_score"]) == 10
    assert float(rows["solution"]["max_score"]) == 10
    for student in course["students"]:
        total = sum(score for score, _ in _grades(course, student).values())
        assert float(rows[student]["raw_score"]) == pytest.approx(total)


# -- Jupyter configuration ----------------------------------------------------------------


def _jupyter(*args: str) -> str:
    done = _run([str(VENV_BIN / "jupyter"), *args], REPO, dict(os.environ))
    return re.sub(r"\x1b\[[0-9;]*m", "", done.stdout + done.stderr)  # drop colours


def test_nbgrader_server_extensions_are_enabled_and_ok():
    listing = _jupyter("server", "extension", "list")
    for name in NBGRADER_SERVER_EXTENSIONS:
        assert re.search(rf"^\s*{re.escape(name)} enabled$", listing, re.M), listing
        assert re.search(rf"^\s*{re.escape(name)}\s+OK$", listing, re.M), listing
    assert not re.search(r"nbgrader\S* disabled", listing), listing


def test_nbgrader_lab_extension_is_enabled_ok_and_compatible():
    listing = _jupyter("labextension", "list")
    assert re.search(r"JupyterLab v4\.", listing), listing
    line = next(li for li in listing.splitlines() if "@jupyter/nbgrader" in li)
    assert "v0.9.6" in line and "enabled" in line and "OK" in line, line
    assert "incompatible" not in line.lower()
    disabled = listing.split("Disabled extensions:")[1] if "Disabled" in listing else ""
    assert "@jupyter/nbgrader" not in disabled  # formgrader, create-assignment, validate...


def test_package_installs_a_server_config_that_enables_nbgrader(tmp_path):
    """A real wheel carries the JSON to etc/jupyter/jupyter_server_config.d, and Jupyter
    Server, reading it from there, enables nbgrader's four server extensions."""
    from jupyter_server.extension.config import ExtensionConfigManager

    tree = tmp_path / "tree"
    tree.mkdir()
    shutil.copy(REPO / "pyproject.toml", tree)
    for name in ("mnist_widgets", "jupyter-config"):
        shutil.copytree(REPO / name, tree / name, ignore=shutil.ignore_patterns("__pycache__"))
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            str(tree),
            "-w",
            str(tmp_path / "wheel"),
        ],
        tmp_path,
        dict(os.environ),
    )
    (wheel,) = (tmp_path / "wheel").glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        (member,) = [
            m
            for m in archive.namelist()
            if m.endswith("data/etc/jupyter/jupyter_server_config.d/mnist_widgets.json")
        ]
        installed = json.loads(archive.read(member))
    assert installed == json.loads(
        (REPO / "jupyter-config" / "server-config" / "mnist_widgets.json").read_text()
    )
    config_dir = tmp_path / "etc" / "jupyter"
    (config_dir / "jupyter_server_config.d").mkdir(parents=True)
    (config_dir / "jupyter_server_config.d" / "mnist_widgets.json").write_text(
        json.dumps(installed)
    )
    enabled = ExtensionConfigManager(read_config_path=[str(config_dir)]).get_jpserver_extensions()
    assert enabled == dict.fromkeys(NBGRADER_SERVER_EXTENSIONS, True)


def test_student_lab_config_hides_the_instructor_panels(tmp_path):
    """assignments/jupyterhub/student_page_config.json, installed as a student image's
    labconfig/page_config.json, turns off the formgrader, create-assignment and course
    list, and leaves the assignment list and the validate button."""
    (tmp_path / "labconfig").mkdir()
    shutil.copy(
        REPO / "assignments" / "jupyterhub" / "student_page_config.json",
        tmp_path / "labconfig" / "page_config.json",
    )
    env = {**os.environ, "JUPYTER_CONFIG_PATH": str(tmp_path)}
    done = _run([str(VENV_BIN / "jupyter"), "labextension", "list"], REPO, env)
    listing = re.sub(r"\x1b\[[0-9;]*m", "", done.stdout + done.stderr)
    disabled = set(re.findall(r"@jupyter/nbgrader:[a-z-]+", listing.split("Disabled")[-1]))
    assert disabled == {
        "@jupyter/nbgrader:formgrader",
        "@jupyter/nbgrader:create-assignment",
        "@jupyter/nbgrader:course-list",
    }


def test_hub_config_names_the_service_after_the_course():
    """nbgrader finds the formgrader service by the course id: the two files must agree."""
    from traitlets.config.loader import PyFileConfigLoader

    def load(path: Path):
        return PyFileConfigLoader(path.name, str(path.parent)).load_config()

    hub = load(REPO / "assignments" / "jupyterhub" / "jupyterhub_config.py")
    course = load(REPO / "assignments" / "nbgrader_config.py").CourseDirectory.course_id
    shared = load(REPO / "assignments" / "jupyterhub" / "global_nbgrader_config.py")
    assert course == shared.CourseDirectory.course_id == COURSE
    (service,) = hub.JupyterHub.services
    assert service["name"] == course
    assert f"formgrade-{course}" in hub.JupyterHub.load_groups
    assert any(
        f"access:services!service={course}" in role["scopes"] for role in hub.JupyterHub.load_roles
    )
