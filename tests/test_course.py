"""The instructor's flow, end to end and headless, on assignment 01-softmax.

A temporary course with its own exchange: generate and release the assignment; students
fetch it, fill it in and submit (the reference solution, a weak but honest model, a cheat
that patches its kernel and edits the tests, a notebook that crashes and never ends, and
attackers that each try one thing against the grader from a solution cell); then collect,
autograde (every notebook sealed in the sandbox), generate feedback and export, and read
the gradebook. The two honest students are graded by plain ``nbgrader autograde`` (the
formgrader's Autograde button runs the same converter); everyone else by ``mnist-widgets
grade --jobs 2``, which runs the same sealed chain (``tests/test_grade.py`` shows both ways
give the same grades).

It also checks the Jupyter side: the server configuration the package installs, and that
nbgrader's server and lab extensions are enabled and OK in this JupyterLab.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import sysconfig
import threading
import zipfile
from pathlib import Path

import nbformat
import pytest
from grade_course import solution_sources

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
ASSIGNMENT = "01-softmax"
NOTEBOOK = "softmax"
COURSE = "mnist-widgets"
CELL_TIMEOUT_S = 45  # per cell, for this test: the never-ending notebook waits this long
MEMORY_CAP = 3 * 1024**3  # the memory attacker goes past this; TensorFlow needs about 1.5 GiB
PROCESS_CAP = 400  # processes and threads per sandbox; the fork attacker goes past it
LINGER_SECONDS = "7313"  # a `sleep` an attacker leaves running; none may survive
NBGRADER_SERVER_EXTENSIONS = (
    "nbgrader.server_extensions.formgrader",
    "nbgrader.server_extensions.assignment_list",
    "nbgrader.server_extensions.course_list",
    "nbgrader.server_extensions.validate_assignment",
)
# Graded by `nbgrader autograde` itself (their model.keras stays in autograded/, where the
# test measures it again); the others by `mnist-widgets grade --jobs 2`.
PLAIN_AUTOGRADE = ("solution", "weak")
SUBMITTERS = PLAIN_AUTOGRADE  # through the exchange; the others are put where collect puts
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


# -- attackers: each replaces the solution cells with a tiny honest model plus one attack --

TINY_TRAIN = """
history = model.fit(x_train[:2000], y_train[:2000], batch_size=128, epochs=1, verbose=0)
"""

ATTACK_KIT = (
    TINY_TRAIN
    + """
# Rewrite the installed kit so every model measures 100%.
import mnist_widgets.grading.evaluate as grader
try:
    with open(grader.__file__) as handle:
        code = handle.read()
    with open(grader.__file__, "w") as handle:
        handle.write(code.replace("correct = int(", "correct = len(y_test) or int("))
    print("kit rewritten")
except OSError as exc:
    print("kit not writable:", exc)
"""
)

ATTACK_SITE = (
    TINY_TRAIN
    + """
# A sitecustomize.py and a .pth in site-packages that pass every accuracy check.
import site
patch = "import mnist_widgets.grading.checks as c; c.require_accuracy = lambda *a, **k: None"
for folder in site.getsitepackages():
    for name, text in (("sitecustomize.py", patch), ("zz-grader.pth", "import os; " + patch)):
        try:
            with open(os.path.join(folder, name), "w") as handle:
                handle.write(text + "\\n")
            print("planted", name)
        except OSError as exc:
            print("site-packages not writable:", exc)
"""
)

ATTACK_GRADEBOOK = (
    TINY_TRAIN
    + """
# Extra credit for itself in gradebook.db, wherever the course is.
import sqlite3
for path in ["{course}/gradebook.db", "../gradebook.db", "../../gradebook.db"]:
    try:
        with open(path, "rb"):
            pass
        db = sqlite3.connect(path)
        db.execute("UPDATE grade SET extra_credit = 22")
        db.commit()
        print("gradebook written")
    except Exception as exc:
        print("no gradebook at", path, type(exc).__name__)
"""
)

ATTACK_READ = """
# Read the course's solutions, hidden tests, and the other students' work; print it all.
import glob
for pattern in ["{course}/source/*/*.ipynb", "{course}/release/*/*.ipynb",
                "{course}/submitted/*/*/*.ipynb", "{course}/autograded/*/*/*.ipynb",
                "{course}/gradebook.db", "../*/*.ipynb", "/root/*", "/home/*/*"]:
    for path in glob.glob(pattern):
        try:
            print(open(path, errors="replace").read())
        except OSError as exc:
            print(path, exc)
    print("looked at", pattern)
"""

ATTACK_NET = """
# Call home through the grader's loopback.
import socket
try:
    socket.create_connection(("127.0.0.1", {port}), timeout=5).sendall(b"let me in")
    print("connected")
except OSError as exc:
    print("no connection:", exc)
"""

ATTACK_FORK = """
# Fork until refused; every child sleeps.
n = 0
try:
    while n < 5000:
        if os.fork() == 0:
            try:
                os.execvp("sleep", ["sleep", "{linger}"])
            finally:
                os._exit(0)
        n += 1
except OSError as exc:
    print("refused after", n, "forks:", exc)
"""

ATTACK_MEMORY = (
    TINY_TRAIN
    + """
# Save a model, then allocate past any cap.
model.save("model.keras")
blocks = []
while True:
    blocks.append(np.ones(2**25))  # 256 MiB each, written
"""
)

ATTACK_LINGER = """
# Leave processes running after the notebook ends.
import subprocess
subprocess.Popen(["sleep", "{linger}"], start_new_session=True)
subprocess.Popen(["sh", "-c", "nohup sleep {linger} >/dev/null 2>&1 &"], start_new_session=True)
print("left them running")
"""

ATTACK_LAMBDA_BUILD = """
# A Lambda layer whose code leaves a mark wherever it runs.
def payload(x):
    try:
        open("{marker}", "w").write("code of the model ran")
    except OSError:
        pass
    return x

model = keras.Sequential([keras.Input(shape=(784,)), keras.layers.Lambda(payload),
                          keras.layers.Dense(10, activation="softmax")])
model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
"""


def _run(args: list[str], cwd: Path, env: dict[str, str], timeout: float = 900):
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done


def _nbgrader(*args: str, cwd: Path, env: dict[str, str], timeout: float = 900):
    return _run([str(VENV_BIN / "nbgrader"), *args], cwd, env, timeout)


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


def _digest_tree(folder: Path) -> dict[str, str]:
    """{relative path: sha256} of every file under ``folder`` (caches left out)."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


def _world() -> dict:
    """What no notebook may change: the kit's files and site-packages' top level."""
    import mnist_widgets

    site = Path(sysconfig.get_paths()["purelib"])
    return {
        "kit": _digest_tree(Path(mnist_widgets.__file__).parent),
        "site": sorted(p.name for p in site.iterdir()),
    }


class Listener:
    """A TCP listener on 127.0.0.1 that records whoever connects."""

    def __init__(self) -> None:
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        self.connections: list[bytes] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                peer, _ = self.socket.accept()
            except OSError:
                return
            with peer:
                peer.settimeout(2)
                try:
                    self.connections.append(peer.recv(100) or b"(connected)")
                except OSError:
                    self.connections.append(b"(connected)")

    def close(self) -> None:
        self.socket.close()


def _lingering() -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                line = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if f"sleep {LINGER_SECONDS}" in line:
                found.append(f"{entry.name}: {line}")
    return found


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    from mnist_widgets.grading.sandbox import unavailable_reason

    reason = unavailable_reason()
    if reason:
        pytest.skip(f"no grading sandbox here: {reason}")
    tmp = tmp_path_factory.mktemp("course")
    root, exchange, cache = tmp / "course", tmp / "exchange", tmp / "cache"
    for folder in (root, exchange, cache):
        folder.mkdir()
    exchange_config = f"\nc.Exchange.root = {str(exchange)!r}\nc.Exchange.cache = {str(cache)!r}\n"
    config = (REPO / "assignments" / "nbgrader_config.py").read_text()
    limits = (
        f"c.Execute.timeout = {CELL_TIMEOUT_S}\n"
        f"c.SealedExecute.memory_limit = {MEMORY_CAP}\n"
        f"c.SealedExecute.process_limit = {PROCESS_CAP}\n"
    )
    (root / "nbgrader_config.py").write_text(config + exchange_config + limits)
    shutil.copytree(REPO / "assignments" / "source" / ASSIGNMENT, root / "source" / ASSIGNMENT)
    env = dict(os.environ)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"  # nbgrader runs `alembic`
    env["USER"] = env["LOGNAME"] = "instructor"
    env.pop("NBGRADER_EXECUTION", None)

    _nbgrader("generate_assignment", ASSIGNMENT, "--force", cwd=root, env=env)
    _nbgrader("release_assignment", ASSIGNMENT, "--force", cwd=root, env=env)

    listener = Listener()
    marker = tmp / "lambda-ran"
    fill = {"course": str(root), "port": listener.port, "linger": LINGER_SECONDS, "marker": marker}
    solutions = solution_sources()
    attacks = {
        "attack-kit": {"train": ATTACK_KIT},
        "attack-site": {"train": ATTACK_SITE},
        "attack-gradebook": {"train": ATTACK_GRADEBOOK},
        "attack-read": {"build": ATTACK_READ, "train": ""},
        "attack-net": {"build": ATTACK_NET, "train": ""},
        "attack-fork": {"build": ATTACK_FORK, "train": ""},
        "attack-memory": {"train": ATTACK_MEMORY},
        "attack-linger": {"build": ATTACK_LINGER, "train": ""},
        "attack-lambda": {"build": ATTACK_LAMBDA_BUILD, "train": TINY_TRAIN},
    }
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
    for student, cells in attacks.items():
        for key, value in fill.items():
            cells = {
                grade_id: code.replace(f"{{{key}}}", str(value)) for grade_id, code in cells.items()
            }
        submissions[student] = ({**solutions, **cells}, ())
    # One student fetches the release; the others work on copies of it. Two submit through
    # the exchange; the rest go straight where collect puts submissions (a fetch or a
    # submit each would only add nbgrader's start-up time).
    first = tmp / "students" / "first"
    first.mkdir(parents=True)
    student_config = f"c = get_config()\nc.CourseDirectory.course_id = {COURSE!r}" + exchange_config
    (first / "nbgrader_config.py").write_text(student_config)
    _nbgrader("fetch_assignment", ASSIGNMENT, cwd=first, env=env)
    released = nbformat.read(first / ASSIGNMENT / f"{NOTEBOOK}.ipynb", 4)
    for student in SUBMITTERS:
        home = tmp / "students" / student
        shutil.copytree(first, home)
        _fill(home / ASSIGNMENT / f"{NOTEBOOK}.ipynb", *submissions[student])
        _nbgrader("submit", ASSIGNMENT, "--student", student, cwd=home, env=env)
    _nbgrader("collect", ASSIGNMENT, cwd=root, env=env)
    stamp = (root / "submitted" / "weak" / ASSIGNMENT / "timestamp.txt").read_text()
    for student in submissions:
        if student in SUBMITTERS:
            continue
        folder = root / "submitted" / student / ASSIGNMENT
        shutil.copytree(first / ASSIGNMENT, folder)
        (folder / "timestamp.txt").write_text(stamp)
        _fill(folder / f"{NOTEBOOK}.ipynb", *submissions[student])
    others = [student for student in submissions if student not in PLAIN_AUTOGRADE]
    before = _world()
    try:
        exclude = "--CourseDirectory.student_id_exclude=" + ",".join(others)
        autograde = _nbgrader("autograde", ASSIGNMENT, exclude, cwd=root, env=env, timeout=1800)
        grade_args = [str(VENV_BIN / "mnist-widgets"), "grade", ASSIGNMENT, "--jobs", "2"]
        grade_args += [f"--student={student}" for student in others] + ["--verbose"]
        grade = _run(grade_args, root, env, timeout=3600)
    finally:
        listener.close()
    after = _world()
    lingering = _lingering()
    _nbgrader("generate_feedback", ASSIGNMENT, cwd=root, env=env)
    _nbgrader("export", cwd=root, env=env)
    return {
        "root": root,
        "students": list(submissions),
        "attackers": list(attacks),
        "released": released,
        "log": autograde.stdout + autograde.stderr + grade.stdout + grade.stderr,
        "plain_log": autograde.stdout + autograde.stderr,
        "world": (before, after),
        "connections": listener.connections,
        "lingering": lingering,
        "marker": marker,
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
def test_every_notebook_ran_sealed_both_ways(course):
    assert course["plain_log"].count("sealed run:") == len(PLAIN_AUTOGRADE)
    grade_log = course["log"][len(course["plain_log"]) :]
    for student in course["students"]:
        if student not in PLAIN_AUTOGRADE:
            assert re.search(rf"^\[{re.escape(student)}@.*sealed run:", grade_log, re.M), student


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
def test_attackers_change_nothing_outside_their_own_folder(course):
    before, after = course["world"]
    assert after["kit"] == before["kit"]  # no file of the installed kit changed
    assert after["site"] == before["site"]  # no sitecustomize.py, no .pth
    assert course["connections"] == []  # nobody reached the grader's loopback
    assert course["lingering"] == []  # no process outlived its notebook
    assert not course["marker"].exists()  # the malicious model's code never ran
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course['root'] / 'gradebook.db'}") as gradebook:
        for student in course["students"]:
            notebook = gradebook.find_submission_notebook(NOTEBOOK, ASSIGNMENT, student)
            assert all(not grade.extra_credit for grade in notebook.grades), student


def _total(course, student: str) -> float:
    return sum(score for score, _ in _grades(course, student).values())


@slow
def test_each_attacker_scores_no_more_than_the_honest_weak_student(course):
    weak = _total(course, "weak")
    for student in course["attackers"]:
        assert set(_grades(course, student)) == {
            "test_kind",
            "test_accuracy_85",
            "test_accuracy_90",
        }
        assert _total(course, student) <= weak, student


@slow
def test_the_honest_students_are_measured_by_an_untouched_grader(course):
    from mnist_widgets.grading.measure import measure_sealed

    for student in ("weak", "solution"):
        model = course["root"] / "autograded" / student / ASSIGNMENT / "model.keras"
        report = measure_sealed(model)  # measured again, after every attacker ran
        line = f"test accuracy measured by the grader: {report.accuracy:.4f}"
        assert line in _feedback(course, student)
    assert _total(course, "solution") == 10


@slow
def test_feedback_holds_no_hidden_test_no_solution_and_no_other_notebook(course):
    forbidden = {  # text: the one student whose own notebook holds it
        "BEGIN HIDDEN TESTS": None,
        "require_accuracy(report": None,
        "allow_only(report": None,
        "SGD(learning_rate=0.1)": "solution",
        "x_train[:5000]": "weak",
        "make every check this kernel can run": "cheat",
    }
    for student in course["students"]:
        feedback = _feedback(course, student)
        for text, owner in forbidden.items():
            assert student == owner or text not in feedback, (student, text)
    reader = _feedback(course, "attack-read")
    assert "looked at /root/*" in reader  # it ran to its end, and found nothing to print


@slow
def test_a_notebook_over_a_limit_is_graded_and_told_which_limit(course):
    memory = _feedback(course, "attack-memory")
    assert "Your notebook used more than 3 GiB of memory and was stopped." in memory
    # the model it saved before the limit was measured: the right kind, a low accuracy
    assert _grades(course, "attack-memory")["test_kind"] == (2, 2)
    assert "test accuracy measured by the grader" in memory
    fork = _feedback(course, "attack-fork")
    assert f"tried to run more than {PROCESS_CAP} processes" in fork
    assert "refused after" in fork


@slow
def test_a_model_that_carries_code_scores_zero_with_a_clear_message(course):
    assert _total(course, "attack-lambda") == 0
    assert "may run code when loaded" in _feedback(course, "attack-lambda")


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
    """assignments/jupyterhub/student/, first on a student's server's JUPYTER_CONFIG_PATH,
    turns off the formgrader, create-assignment and course list, and leaves the
    assignment list and the validate button."""
    env = {
        **os.environ,
        "JUPYTER_CONFIG_PATH": str(REPO / "assignments" / "jupyterhub" / "student"),
    }
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
    shared = load(REPO / "assignments" / "jupyterhub" / "course" / "nbgrader_config.py")
    assert course == shared.CourseDirectory.course_id == COURSE
    (service,) = hub.JupyterHub.services
    assert service["name"] == course
    assert f"formgrade-{course}" in hub.JupyterHub.load_groups
    assert any(
        f"access:services!service={course}" in role["scopes"] for role in hub.JupyterHub.load_roles
    )
