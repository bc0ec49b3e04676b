"""The grading sandbox itself: mounts, network, user, caps, copy-out, merging, stopping.

Each test runs a small command or notebook sealed (no TensorFlow); a few seconds each.
Tests that need bubblewrap skip where no sandbox can start; those about the sandbox user
and the cgroup caps also need root (CI has both).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import nbformat
import pytest

from mnist_widgets.errors import GradingError, SandboxError
from mnist_widgets.grading import measure, sandbox, sealed
from mnist_widgets.grading.sandbox import GiB, MiB, Mount, SandboxSettings, run_sealed

REPO = Path(__file__).resolve().parents[1]
REASON = sandbox.unavailable_reason()
needs_sandbox = pytest.mark.skipif(REASON is not None, reason=f"no sandbox here: {REASON}")
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox user and caps need root")
NO_CAPS = SandboxSettings(memory_bytes=None, max_processes=None)


def _python(code: str, mounts=(), settings: SandboxSettings = NO_CAPS, **kwargs):
    return run_sealed([sys.executable, "-I", "-c", code], list(mounts), settings, **kwargs)


PROBE = """
import json, sys
found = {}
for path in sys.argv[1:]:
    try:
        with open(path) as handle:
            found[path] = handle.read()
    except OSError as exc:
        found[path] = type(exc).__name__
print(json.dumps(found))
"""


@needs_sandbox
def test_only_the_allow_list_is_visible(tmp_path):
    planted = []
    secret = f"secret-{uuid.uuid4().hex}"
    for folder in (Path.home(), Path("/srv"), tmp_path):
        path = folder / f"planted-{uuid.uuid4().hex}.txt"
        try:
            path.write_text(secret)
        except OSError:
            continue
        planted.append(path)
    course = [
        REPO / "assignments" / "nbgrader_config.py",
        REPO / "pyproject.toml",
        Path("/etc/shadow"),
    ]
    paths = [str(p) for p in planted + course]
    try:
        done = run_sealed([sys.executable, "-I", "-c", PROBE, *paths], [], NO_CAPS)
    finally:
        for path in planted:
            path.unlink()
    assert planted, "no place to plant a file"
    found = json.loads(done.stdout.splitlines()[-1])
    assert set(found) == set(paths)
    assert all(value == "FileNotFoundError" for value in found.values()), found
    assert secret not in done.stdout + done.stderr


@needs_sandbox
def test_the_system_and_the_python_environment_are_read_only(tmp_path):
    import mnist_widgets

    targets = [
        Path(mnist_widgets.__file__).parent / "evil.py",
        Path(sysconfig_purelib()) / "sitecustomize.py",
        Path(sysconfig_purelib()) / "evil.pth",
        Path("/usr/evil"),
        Path(sys.base_prefix) / "evil",
    ]
    code = "import sys\nfor p in sys.argv[1:]:\n    try:\n        open(p, 'w').write('x')\n"
    code += "        print('WROTE', p)\n    except OSError as exc:\n        print('refused', p)\n"
    done = run_sealed([sys.executable, "-I", "-c", code, *map(str, targets)], [], NO_CAPS)
    assert "WROTE" not in done.stdout
    assert done.stdout.count("refused") == len(targets)
    assert not any(p.exists() for p in targets)


def sysconfig_purelib() -> str:
    import sysconfig

    return sysconfig.get_paths()["purelib"]


@needs_sandbox
def test_no_network_not_even_the_graders_loopback():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(0.5)
    port = listener.getsockname()[1]
    code = (
        "import socket\n"
        f"print('loopback', socket.socket().connect_ex(('127.0.0.1', {port})))\n"
        "try:\n    socket.getaddrinfo('pypi.org', 443); print('dns ok')\n"
        "except OSError as exc:\n    print('dns refused')\n"
    )
    try:
        done = _python(code)
        with pytest.raises(TimeoutError):
            listener.accept()
    finally:
        listener.close()
    assert "loopback 111" in done.stdout  # connection refused: nothing listens in there
    assert "dns refused" in done.stdout


@needs_sandbox
@needs_root
def test_runs_as_an_unprivileged_user_that_gains_nothing(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    os.chown(home, sandbox.NOBODY, sandbox.NOBODY)
    code = (
        "import os\nopen('/home/student/made-inside', 'w').write('x')\n"
        "status = open('/proc/self/status').read()\n"
        "print([line for line in status.splitlines() if line.startswith(('NoNewPrivs', 'CapEff'))])"
    )
    done = _python(code, [Mount(home, "/home/student", writable=True)])
    made = home / "made-inside"
    assert made.is_file()
    assert made.stat().st_uid == sandbox.NOBODY != 0  # as seen from outside the sandbox
    assert "'NoNewPrivs:\\t1'" in done.stdout
    assert "'CapEff:\\t0000000000000000'" in done.stdout


@needs_sandbox
@needs_root
def test_memory_cap_stops_the_sandbox_and_is_named():
    settings = SandboxSettings(memory_bytes=200 * MiB, max_processes=None)
    code = "chunks = []\nfor _ in range(40):\n    chunks.append(bytearray(50 * 2**20))\n"
    code += "print('done')"
    done = _python(code, settings=settings)
    assert done.limit == "memory"
    assert "done" not in done.stdout
    assert "200 MiB" in sealed.limit_sentence(done.limit, settings)


@needs_sandbox
@needs_root
def test_process_cap_refuses_forks_and_is_named():
    settings = SandboxSettings(memory_bytes=None, max_processes=40)
    code = (
        "import os, time\nn = 0\ntry:\n    while n < 500:\n        if os.fork() == 0:\n"
        "            time.sleep(30); os._exit(0)\n        n += 1\n"
        "except OSError as exc:\n    print('refused after', n)\n"
    )
    done = _python(code, settings=settings)
    assert "refused after" in done.stdout
    assert int(done.stdout.split()[-1]) < 40
    assert done.limit == "processes"


def _processes_with(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker in (entry / "cmdline").read_bytes().decode(errors="replace"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@needs_sandbox
def test_no_process_survives_the_sandbox():
    seconds = str(3000 + uuid.uuid4().int % 1000)  # a sleep this test can recognise
    code = (
        "import subprocess\n"
        f"subprocess.Popen(['sleep', '{seconds}'], start_new_session=True)\n"
        f"subprocess.Popen(['sh', '-c', 'nohup sleep {seconds} &'], start_new_session=True)\n"
        "print('left them running')"
    )
    done = _python(code)
    assert "left them running" in done.stdout
    assert _processes_with(f"sleep\x00{seconds}") == []


@needs_root
def test_a_dead_graders_cgroups_are_emptied_and_removed_a_live_ones_kept():
    from mnist_widgets.grading.limits import PREFIX, Caps

    live, note = Caps.create(64 * MiB, 8)
    if live is None:
        pytest.skip(note)
    gone = subprocess.Popen(["true"])
    gone.wait()  # a process id that no longer runs: the "killed grader"
    stale = {c: f.parent / f"{PREFIX}{gone.pid}-deadbeef0000" for c, f in live.dirs.items()}
    orphan = None
    try:
        for folder in stale.values():
            folder.mkdir()
        orphan = subprocess.Popen(["sleep", "300"])  # the killed grader's sandbox, still running
        for folder in stale.values():
            (folder / "cgroup.procs").write_text(str(orphan.pid))
        fresh, _ = Caps.create(64 * MiB, 8)  # the next sandbox sweeps beside itself
        fresh.close()
        assert orphan.wait(timeout=10) == -9
        assert not any(folder.exists() for folder in stale.values())
        assert all(folder.is_dir() for folder in live.dirs.values())  # a running grader's
    finally:
        if orphan is not None and orphan.poll() is None:
            orphan.kill()
        Caps(dict(stale), unified=live.unified).close(patience=1.0, attempts=5)
        live.close()
    assert not any(folder.exists() for folder in stale.values())


@needs_sandbox
def test_wall_timeout_ends_everything():
    settings = SandboxSettings(memory_bytes=None, max_processes=None, wall_timeout=2)
    done = _python("import time\nprint('start', flush=True)\ntime.sleep(60)", settings=settings)
    assert done.limit == "time"
    assert done.seconds < 30


@needs_sandbox
def test_a_launcher_failure_stops_in_one_line(monkeypatch):
    real = sandbox.bwrap_command
    monkeypatch.setattr(
        sandbox, "bwrap_command", lambda *a, **k: ["/nonexistent/bwrap", *real(*a, **k)[1:]]
    )
    with pytest.raises(SandboxError, match=r"the sandbox cannot start: .*No such file"):
        _python("print('never')")


@needs_sandbox
def test_nothing_sandboxed_can_pass_for_a_launcher_failure():
    code = (
        "import os, sys\n"
        "for fd in range(3, 256):\n"
        "    try:\n"
        "        os.write(fd, b'the sandbox cannot start')\n"
        "    except OSError:\n"
        "        pass\n"
        "print('the sandbox cannot start', file=sys.stderr)\n"
        "sys.exit(126)"
    )
    done = _python(code)  # graded as the student's own failure: no SandboxError
    assert done.returncode == 126


def test_the_graders_short_processes_skip_the_slow_optional_import():
    code = (
        "import sys\n"
        "import mnist_widgets.grading.measure, mnist_widgets.grading.replay\n"
        "print('nbformat' in sys.modules)\n"
        "import mnist_widgets.grading.executor, nbformat\n"
        "print(sys.modules.get('rfc3987_syntax', 'absent'))\n"
        "nbformat.validate(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell('1')]))\n"
        "print('valid')"
    )
    done = subprocess.run(
        [sys.executable, "-I", "-c", code], capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == ["False", "None", "valid"]


def test_copy_out_takes_regular_files_only_and_caps_their_size(tmp_path):
    home, folder = tmp_path / "home", tmp_path / "folder"
    home.mkdir()
    folder.mkdir()
    secret = tmp_path / "secret.txt"
    secret.write_text("the gradebook")
    (home / "model.keras").write_bytes(b"m" * 100)
    (home / "big.keras").write_bytes(b"b" * 2000)
    (home / "link.keras").symlink_to(secret)
    os.mkfifo(home / "fifo.keras")
    (home / "notes.txt").write_text("not asked for")
    settings = SandboxSettings(max_copy_bytes=1000)
    log: list[str] = []
    copied = sealed._copy_out(home, folder, settings, log)
    assert copied == ["model.keras"]
    assert sorted(p.name for p in folder.iterdir()) == ["model.keras"]
    assert len(log) == 3  # big, link and fifo refused, each said
    with pytest.raises(OSError):
        measure.read_regular_file(home / "link.keras", 10**6)


def _trusted_notebook():
    def grade(source, grade_id, solution=False):
        cell = nbformat.v4.new_code_cell(source)
        cell.metadata["nbgrader"] = {
            "grade": True,
            "solution": solution,
            "locked": not solution,
            "grade_id": grade_id,
            "points": 1,
            "schema_version": 3,
        }
        return cell

    return nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell("print('setup')"),
            nbformat.v4.new_code_cell("print('train')"),
            grade("from mnist_widgets.grading.checks import saved_model\n# hidden: 0.9", "t1"),
            grade("assert 1 + 1 == 2", "t2"),
        ]
    )


def test_merge_keeps_trusted_sources_and_only_valid_outputs():
    trusted = _trusted_notebook()
    ran = nbformat.from_dict(json.loads(json.dumps(trusted)))
    ran.cells[0].source = "print('I rewrote the setup')"
    ran.cells[0].metadata["nbgrader"] = {"grade": True, "points": 100}
    ran.cells[0].outputs = [nbformat.v4.new_output("stream", name="stdout", text="setup\n")]
    ran.cells[1].outputs = [{"output_type": "stream", "name": "stdout", "text": 3, "evil": 1}]
    ran.cells[2].outputs = [nbformat.v4.new_output("stream", name="stdout", text="all pass")]
    ran.metadata["sealed"] = {"executed": [0, 1, 2], "stopped": "DeadKernelError"}
    settings = SandboxSettings(memory_bytes=6 * 1024**3)
    sentence = sealed.limit_sentence("memory", settings)
    merged, cells_run = sealed.merge_outputs(trusted, ran, settings, sentence)
    assert [c.source for c in merged.cells] == [c.source for c in trusted.cells]
    assert [c.metadata for c in merged.cells] == [c.metadata for c in trusted.cells]
    assert merged.cells[0].outputs[0].text == "setup\n"
    assert merged.cells[1].outputs == []  # invalid outputs are dropped
    assert merged.cells[2].outputs == []  # the replay fills it, not the kernel
    not_run = merged.cells[3].outputs
    assert sentence == "Your notebook used more than 6 GiB of memory and was stopped."
    assert not_run[0].text == sentence + "\n"
    assert not_run[-1].output_type == "error" and not_run[-1].ename == "NotRun"
    assert cells_run == 3


@needs_sandbox
def test_execute_sealed_runs_the_kernel_inside_and_returns_outputs_and_models(tmp_path):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    folder = tmp_path / "autograded"
    folder.mkdir()
    (folder / "data.csv").write_text("1,2\n")
    (folder / "softmax.ipynb").write_text("the restored notebook, hidden tests and all")
    nb = _trusted_notebook()
    nb.cells[0].source = (
        "import os, socket\nprint(sorted(os.listdir('.')), os.getcwd())\n"
        f"print('connect', socket.socket().connect_ex(('127.0.0.1', {port})))"
    )
    saves = "open('model.keras', 'w').write('weights')\nos.symlink('/etc/passwd', 'link.keras')"
    nb.cells[1].source = saves
    nb.cells[2].source = "open('replayed.keras', 'w').write('ran')  # mnist_widgets.grading"
    try:
        executed, outcome = sealed.execute_sealed(nb, folder, SandboxSettings(cell_timeout=60))
    finally:
        listener.close()
    first = "".join(o.text for o in executed.cells[0].outputs)
    assert "['data.csv'] /home/student" in first  # no notebook with hidden tests in there
    assert "connect 111" in first
    assert outcome.copied == ("model.keras",)
    assert (folder / "model.keras").read_text() == "weights"
    assert not (folder / "link.keras").exists() and not (folder / "replayed.keras").exists()
    assert outcome.limit is None and outcome.message is None
    assert outcome.cells_run == 3  # the replayed test cell does not run in the kernel
    assert executed.cells[3].outputs == []  # assert 1 + 1 == 2 passed
    assert [c.source for c in executed.cells] == [c.source for c in nb.cells]


@needs_sandbox
@needs_root
def test_a_notebook_that_writes_without_end_fills_its_tmpfs_not_the_graders_disk(tmp_path):
    from mnist_widgets.grading.scratch import PREFIX

    folder = tmp_path / "autograded"
    folder.mkdir()
    (folder / "big.bin").write_bytes(b"x" * (12 * MiB))  # more than the sandbox's disk
    nb = _trusted_notebook()
    nb.cells[0].source = (
        "import os\nprint('big.bin there:', os.path.exists('big.bin'))\n"
        "with open('model.keras', 'w') as handle:\n    handle.write('weights')\n"
        "written = 0\ntry:\n    with open('fill.bin', 'wb') as handle:\n"
        "        while written < 64 * 2**20:\n"
        "            written += handle.write(b'0' * 2**20)\n            handle.flush()\n"
        "except OSError as exc:\n    print('refused:', exc.strerror)\nprint('wrote', written)"
    )
    settings = SandboxSettings(cell_timeout=60, disk_bytes=8 * MiB, copy_out=("*.keras", "*.bin"))
    mounted_before = [p for p in _mount_points() if PREFIX in p]
    executed, outcome = sealed.execute_sealed(nb, folder, settings)
    text = "".join(o.get("text", "") for o in executed.cells[0].outputs)
    assert "big.bin there: False" in text and "refused: No space left on device" in text
    written = int(text.split("wrote ")[1].split()[0])
    assert written <= 8 * MiB  # the last buffered MiB never reached the file
    assert outcome.limit == "disk" and "8 MiB" in outcome.message
    assert "not copied in: big.bin" in outcome.log
    assert (folder / "model.keras").read_text() == "weights"  # what fitted still comes back
    assert (folder / "big.bin").stat().st_size == 12 * MiB  # the student's own file is kept
    assert [p for p in _mount_points() if PREFIX in p] == mounted_before  # unmounted


@needs_sandbox
def test_no_file_written_inside_grows_past_the_disk_cap():
    settings = SandboxSettings(memory_bytes=None, max_processes=None, disk_bytes=4 * MiB)
    code = (
        "try:\n    open('/tmp/f', 'wb').write(b'0' * (5 * 2**20))\n"
        "except OSError as exc:\n    print('refused:', exc.strerror)"
    )
    assert "refused: File too large" in _python(code, settings=settings).stdout


@needs_root
def test_a_dead_graders_scratch_tmpfs_is_unmounted(tmp_path):
    from mnist_widgets.grading import scratch

    gone = subprocess.Popen(["true"])
    gone.wait()
    point = tmp_path / f"{scratch.PREFIX}{gone.pid}-stale" / "home"
    point.mkdir(parents=True)
    scratch._mount_tmpfs(point, MiB)
    try:
        assert str(point) in _mount_points()
        with scratch.scratch({"home": MiB, "run": None}) as (work, capped):
            assert capped and str(work / "home") in _mount_points()
            assert str(work / "run") not in _mount_points() and (work / "run").is_dir()
            assert str(point) not in _mount_points()  # swept when the next one started
        assert str(work / "home") not in _mount_points() and not work.exists()
    finally:
        scratch._unmount(str(point))


def test_where_no_tmpfs_can_be_mounted_the_folders_are_plain_and_it_is_said(monkeypatch):
    from mnist_widgets.grading import scratch

    def refuse(folder, size):
        raise PermissionError(1, "Operation not permitted", str(folder))

    monkeypatch.setattr(scratch, "_mount_tmpfs", refuse)  # a container that forbids mounts
    monkeypatch.setattr(scratch.os, "geteuid", lambda: 0)
    with scratch.scratch({"home": MiB, "run": MiB}) as (work, capped):
        assert not capped and (work / "home").is_dir() and (work / "run").is_dir()
    note = scratch.disk_cap_note(GiB)
    assert note == "no disk cap but on each file's size (1 GiB): no tmpfs can be mounted here"
    monkeypatch.setattr(scratch.os, "geteuid", lambda: 1000)
    assert scratch.disk_cap_note(GiB).endswith(": mounting a tmpfs needs root")
    assert scratch.disk_cap_note(None) is None


def _mount_points():
    from mnist_widgets.grading.scratch import _mount_points as points

    return points()


def test_cells_are_skipped_in_the_kernel_only_when_the_replay_runs_them():
    from traitlets.config import Config

    from mnist_widgets.grading.preprocessors import SealedExecute

    with_replay = Config()
    with_replay.Autograde.autograde_preprocessors = [
        "mnist_widgets.grading.preprocessors.SealedExecute",
        "mnist_widgets.grading.preprocessors.ReplayTestsInFreshProcess",
    ]
    with_replay.ReplayTestsInFreshProcess.marker = "my_checks"
    without = Config()
    without.Autograde.autograde_preprocessors = [
        "mnist_widgets.grading.preprocessors.SealedExecute"
    ]
    cell = _trusted_notebook().cells[2]
    cell.source = "import my_checks"
    assert SealedExecute(config=with_replay).settings().skip_marker == "my_checks"
    assert sealed.is_replayed(cell, SealedExecute(config=with_replay).settings().skip_marker)
    assert SealedExecute(config=without).settings().skip_marker == ""
    assert not sealed.is_replayed(cell, "")  # nothing replays it: the kernel runs it


def test_unavailable_reason_names_bubblewrap_when_it_is_missing(monkeypatch):
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None)
    sandbox.unavailable_reason.cache_clear()
    try:
        reason = sandbox.unavailable_reason()
    finally:
        sandbox.unavailable_reason.cache_clear()
    assert "bubblewrap" in reason and "apt-get install bubblewrap" in reason
    assert "\n" not in reason


def test_autograde_stops_in_one_line_where_no_sandbox_starts(monkeypatch, tmp_path, caplog):
    from mnist_widgets.grading import preprocessors

    monkeypatch.setattr(preprocessors, "unavailable_reason", lambda: "no user namespaces here")
    folder = tmp_path / "autograded" / "student" / "01-softmax"
    folder.mkdir(parents=True)
    executor = preprocessors.SealedExecute()
    executor.log = logging.getLogger("test-sealed")
    with caplog.at_level(logging.ERROR, "test-sealed"), pytest.raises(SystemExit):
        executor.preprocess(_trusted_notebook(), {"metadata": {"path": str(folder)}})
    (line,) = [r.getMessage() for r in caplog.records]
    assert "no user namespaces here" in line and sandbox.UNSAFE_SETTING in line
    assert not folder.exists()  # so the next autograde grades this student again

    ran = []
    monkeypatch.setattr(
        preprocessors.Execute, "preprocess", lambda self, nb, res: ran.append(nb) or (nb, res)
    )
    executor.unsafe_grade_without_sandbox = True
    executor.preprocess(_trusted_notebook(), {"metadata": {"path": str(tmp_path)}})
    assert len(ran) == 1  # opted out, it runs unsealed, and says so


@needs_sandbox
def test_measure_sealed_refuses_a_missing_or_linked_model(tmp_path):
    with pytest.raises(GradingError, match="run the cell that saves your model first"):
        measure.measure_sealed(tmp_path / "model.keras")
    (tmp_path / "model.keras").symlink_to("/etc/passwd")
    with pytest.raises(GradingError, match="cannot be read"):
        measure.measure_sealed(tmp_path / "model.keras")


def test_the_executor_shows_a_timeout_as_nbgrader_does():
    from mnist_widgets.grading.executor import TIMEOUT_ERROR, record_reply_error

    cell = nbformat.v4.new_code_cell("while True: pass")
    record_reply_error(cell, {"content": {**TIMEOUT_ERROR, "status": "error"}})
    record_reply_error(cell, {"content": {**TIMEOUT_ERROR, "status": "error"}})  # once only
    record_reply_error(cell, {"content": {"status": "ok"}})
    assert [o.ename for o in cell.outputs] == ["CellTimeoutError"]
