"""Run one untrusted command in a bubblewrap sandbox: an allow-list of read-only mounts.

The sandbox sees the system (``/usr``), a few files of ``/etc``, the Python environment
and this package read-only, the folders the caller names, a private ``/tmp``, and nothing
else: no course, no home, no network (a new network namespace: not even the grader's
loopback). Every process in it runs in new user, PID, IPC and UTS namespaces with no
capabilities and ``no_new_privs``; when the PID namespace's first process ends, the kernel
ends every other one.

As root, the sandbox runs as ``SandboxSettings.uid`` (``nobody``), a user that owns no
course file: the mounts are prepared in a private mount namespace by the trusted side
first (``launch.py``, a small process of its own that then becomes bubblewrap), so that
user needs no way into ``/root`` or the course, and memory and process caps come from a
child cgroup (``limits``). As any other user, bubblewrap runs as that
user in a user namespace, and caps are set where the cgroup tree lets it.

Public interface (the ``parallel`` and ``hub`` helpers call these):

- ``unavailable_reason() -> str | None``: None when a sandbox can start here, else one line.
- ``SandboxSettings``: limits and paths, one frozen dataclass (``settings_to_json``,
  ``settings_from_json`` for the processes that receive it).
- ``Mount``, ``run_sealed(argv, mounts, settings, ...) -> SealedRun``: the primitive.
- ``sealed.execute_sealed`` and ``measure.measure_sealed`` build on it.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import SandboxError
from .limits import Caps

GiB = 1024**3
MiB = 1024**2
NOBODY = 65534
BWRAP = "bwrap"
UNSAFE_SETTING = "c.SealedExecute.unsafe_grade_without_sandbox = True"
# /etc is not mounted whole: only what the dynamic loader, Python and TLS read.
ETC_ALLOWED = (
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "localtime",
    "passwd",
    "group",
    "nsswitch.conf",
    "hosts",
    "alternatives",
    "ssl",
    "ca-certificates",
    "mime.types",
    "fonts",
)
# Variables that may change numerical results, passed from the grader into the sandbox.
PASSED_ENV_PREFIXES = ("TF_", "OMP_", "MKL_", "KMP_", "CUDA_VISIBLE_DEVICES", "KERAS_BACKEND")
_TAIL_BYTES = 64 * 1024
LAUNCHER = Path(__file__).with_name("launch.py")


@dataclass(frozen=True)
class SandboxSettings:
    """Limits and paths of every sandbox the grader starts (``SealedExecute`` fills it).

    ``memory_bytes`` and ``max_processes`` cap the whole sandbox (threads count as
    processes); None leaves a cap off. ``cell_timeout``, ``startup_timeout`` and
    ``interrupt_on_timeout`` are the executor's, as in nbgrader's ``Execute``;
    ``wall_timeout`` ends the whole sandbox. Files matching ``copy_out`` (top level of the
    student's folder, regular files only, at most ``max_copy_bytes`` each) come back.
    Graded test cells containing ``skip_marker`` are not run in the kernel (the replay runs
    them); an empty marker runs every cell. ``disk_bytes`` caps what a notebook can write:
    its writable folders are a tmpfs of that size when the grader is root
    (``scratch.py``), and no file it writes can grow past it (``RLIMIT_FSIZE``).
    """

    memory_bytes: int | None = 6 * GiB
    disk_bytes: int | None = 1 * GiB
    max_processes: int | None = 1024
    cell_timeout: int = 600
    startup_timeout: int = 120
    interrupt_on_timeout: bool = True
    wall_timeout: float = 3600.0
    uid: int = NOBODY
    gid: int = NOBODY
    copy_out: tuple[str, ...] = ("*.keras",)
    max_copy_bytes: int = 256 * MiB
    max_output_bytes: int = 64 * MiB
    readonly: tuple[str, ...] = ()
    skip_marker: str = "mnist_widgets.grading"
    measure_timeout: float = 600.0


def settings_to_json(settings: SandboxSettings) -> str:
    return json.dumps(asdict(settings))


def settings_from_json(text: str) -> SandboxSettings:
    data = json.loads(text)
    return SandboxSettings(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


@dataclass(frozen=True)
class Mount:
    """A host path shown at ``dest`` inside the sandbox (read-only unless ``writable``)."""

    source: Path
    dest: str
    writable: bool = False


@dataclass
class SealedRun:
    """What came back from one sandboxed command."""

    returncode: int
    stdout: str
    stderr: str
    seconds: float
    limit: str | None = None  # "memory", "processes" or "time" when one was hit
    caps_note: str | None = None  # why a cap could not be set, if one could not
    peak_memory: int | None = None  # bytes, when a memory cap measured it
    extra: dict = field(default_factory=dict)


def running_as_root() -> bool:
    return os.geteuid() == 0


def python_mounts() -> list[Mount]:
    """The interpreter, the venv and this package, each at its own path, read-only."""
    import mnist_widgets

    paths = {
        Path(sys.prefix),
        Path(sys.base_prefix),
        Path(os.path.realpath(sys.executable)).parent.parent,
        Path(mnist_widgets.__file__).resolve().parent,
    }
    return [Mount(p, str(p)) for p in sorted(paths) if p.exists() and str(p) != "/usr"]


def system_args() -> list[str]:
    """bwrap arguments for /usr, its top-level links, /etc's allowed files, /dev, /proc, /tmp."""
    args = ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        top = Path("/") / name
        if top.is_symlink():
            args += ["--symlink", os.readlink(top), str(top)]
        elif top.is_dir():
            args += ["--ro-bind", str(top), str(top)]
    for name in ETC_ALLOWED:
        path = Path("/etc") / name
        if path.exists():
            args += ["--ro-bind", str(path), str(path)]
    args += ["--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp", "--tmpfs", "/dev/shm"]
    return args


def sandbox_env(home: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The whole environment inside: nothing of the grader's but numerics settings."""
    env = {k: v for k, v in os.environ.items() if k.startswith(PASSED_ENV_PREFIXES)}
    env.update(
        PATH=f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
        HOME=home,
        LANG="C.UTF-8",
        TMPDIR="/tmp",
        JUPYTER_RUNTIME_DIR="/tmp/jupyter-runtime",
        JUPYTER_DATA_DIR="/tmp/jupyter-data",
        IPYTHONDIR="/tmp/ipython",
        MPLCONFIGDIR="/tmp/matplotlib",
        KERAS_HOME="/tmp/keras",
        KERAS_BACKEND="tensorflow",
        TF_CPP_MIN_LOG_LEVEL=os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"),
    )
    env.update(extra or {})
    return env


class _Launcher:
    """What ``launch.py`` does before it becomes bubblewrap: caps, staged mounts, the uid."""

    def __init__(
        self,
        caps: Caps | None,
        stage: Path | None,
        mounts: list[Mount],
        settings: SandboxSettings,
    ) -> None:
        self.caps, self.stage, self.mounts, self.settings = caps, stage, mounts, settings

    def staged(self, index: int) -> str:
        return str(self.stage / str(index)) if self.stage else str(self.mounts[index].source)

    def command(self, argv: list[str], report_fd: int) -> list[str]:
        """``argv`` (bubblewrap's command line) started through the launcher process."""
        spec = {
            "report_fd": report_fd,
            "cgroup_procs": [str(p) for p in self.caps.procs_files()] if self.caps else [],
            "stage": str(self.stage) if self.stage is not None else None,
            "sources": [str(m.source) for m in self.mounts],
            "uid": self.settings.uid,
            "gid": self.settings.gid,
            "file_bytes": self.settings.disk_bytes,
            "argv": argv,
        }
        return [sys.executable, "-I", "-S", str(LAUNCHER), json.dumps(spec)]


def bwrap_command(
    argv: list[str], mounts: list[Mount], launcher: _Launcher, cwd: str, env: dict[str, str]
) -> list[str]:
    """The bwrap command line: namespaces, system, mounts, environment, then ``argv``."""
    args = [
        shutil.which(BWRAP) or BWRAP,
        "--unshare-all",
        "--die-with-parent",
        "--new-session",
        "--cap-drop",
        "ALL",
        "--hostname",
        "sandbox",
        *system_args(),
    ]
    for index, mount in enumerate(mounts):
        flag = "--bind" if mount.writable else "--ro-bind"
        args += [flag, launcher.staged(index), mount.dest]
    args += ["--chdir", cwd, "--clearenv"]
    for key, value in sorted(env.items()):
        args += ["--setenv", key, value]
    return [*args, "--", *argv]


def require_sandbox() -> None:
    """Raise ``SandboxError`` (its one line) when no sandbox can start here."""
    reason = unavailable_reason()
    if reason:
        raise SandboxError(reason)


def _tail(path: Path) -> str:
    with open(path, "rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        handle.seek(max(0, size - _TAIL_BYTES))
        return handle.read().decode("utf-8", "replace")


def _start(launcher: _Launcher, command: list[str], out, err) -> tuple[subprocess.Popen, str]:
    """Start ``command`` through the launcher; (the process, why the launcher failed or "").

    The launcher reports a failure on a pipe that its ``exec`` of bubblewrap closes, so
    nothing the sandboxed command prints can pass for one.
    """
    read_end, write_end = os.pipe()
    try:
        process = subprocess.Popen(
            launcher.command(command, write_end),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,
            pass_fds=(write_end,),
        )
    finally:
        os.close(write_end)
    with os.fdopen(read_end, "rb") as report:
        failure = report.read(4096).decode("utf-8", "replace").strip()
    return process, failure


def run_sealed(
    argv: list[str],
    mounts: list[Mount],
    settings: SandboxSettings,
    cwd: str = "/tmp",
    env: dict[str, str] | None = None,
    timeout: float | None = None,
) -> SealedRun:
    """Run ``argv`` in a sandbox that sees ``mounts`` and the system; wait for it to end.

    Output is kept to its last 64 KiB per stream. Whatever the command leaves running is
    killed before this returns. Raises ``SandboxError`` when the sandbox cannot start.
    """
    if shutil.which(BWRAP) is None:
        raise SandboxError(_NO_BWRAP)
    env = sandbox_env(cwd) if env is None else env
    timeout = settings.wall_timeout if timeout is None else timeout
    root = running_as_root()
    caps, caps_note = Caps.create(settings.memory_bytes, settings.max_processes)
    mounts = [*python_mounts(), *mounts]
    with tempfile.TemporaryDirectory(prefix="mnist-widgets-sandbox-") as work:
        work_dir = Path(work)
        stage = None
        if root:
            stage = work_dir / "stage"
            stage.mkdir()
            os.chmod(work_dir, 0o755)
        launcher = _Launcher(caps, stage, mounts, settings)
        command = bwrap_command(argv, mounts, launcher, cwd, env)
        out_path, err_path = work_dir / "stdout", work_dir / "stderr"
        start = time.monotonic()
        timed_out = False
        try:
            with open(out_path, "wb") as out, open(err_path, "wb") as err:
                process, failure = _start(launcher, command, out, err)
                if failure:
                    process.wait()
                    raise SandboxError(f"the sandbox cannot start: {failure}")
                try:
                    returncode = process.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    timed_out = True
                    os.killpg(process.pid, signal.SIGKILL)
                    returncode = process.wait()
        finally:
            limit = caps.limit_hit() if caps is not None else None
            peak = caps.peak_memory() if caps is not None else None
            if caps is not None:
                caps.close()
        seconds = time.monotonic() - start
        stdout, stderr = _tail(out_path), _tail(err_path)
    if timed_out:
        limit = "time"
    return SealedRun(returncode, stdout, stderr, seconds, limit, caps_note, peak)


_NO_BWRAP = "bubblewrap (bwrap) is not installed: apt-get install bubblewrap"


@functools.cache
def unavailable_reason() -> str | None:
    """None when a sandbox can start here; else one line naming the cause.

    Starts the sandbox's interpreter once (as the sandbox user when root) and imports this
    package there, so an unreadable Python environment is found too.
    """
    if not sys.platform.startswith("linux"):
        return "the grading sandbox needs Linux (namespaces and bubblewrap)"
    if shutil.which(BWRAP) is None:
        return _NO_BWRAP
    settings = SandboxSettings(memory_bytes=None, max_processes=None)
    probe = [sys.executable, "-I", "-c", "import mnist_widgets.grading.evaluate"]
    try:
        done = run_sealed(probe, [], settings, timeout=120)
    except (OSError, SandboxError) as exc:
        return f"the sandbox cannot start: {exc}"
    if done.returncode == 0:
        return None
    lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
    last = lines[-1][:200] if lines else f"exit status {done.returncode}"
    if last.startswith("bwrap:"):
        return f"bubblewrap cannot create a sandbox here ({last}); user namespaces are off"
    who = f"uid {settings.uid}" if running_as_root() else "the grader"
    return f"the sandbox's Python cannot start as {who} ({last}); make the venv readable"
