"""Memory and process-count caps for one sandbox: a child cgroup of the grader's own.

cgroup v1 (``/sys/fs/cgroup/memory``, ``/sys/fs/cgroup/pids``) and v2 (one unified tree)
are both handled. The grader needs write access to its own cgroup (root has it; a
non-root account needs a delegated cgroup, e.g. systemd's ``Delegate=yes``); where it has
none, ``Caps.create`` says so in one line and the sandbox runs without caps.

When the sandbox ends, ``limit_hit`` reads the kernel's counters (an out-of-memory kill,
a refused fork) and ``close`` kills whatever is left in the cgroup and removes it. A grader
killed before ``close`` leaves its cgroups behind: they carry its process id in their name,
and the next ``create`` beside them kills what is left in them and removes them once that
process is gone (its siblings share its process namespace: they are children of its cgroup).
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
PREFIX = "mnist-widgets-sandbox-"


def _is_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # PermissionError: running, as another user
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def owner_gone(name: str, prefix: str = PREFIX) -> bool:
    """True for a sandbox's cgroup or scratch folder whose grader process no longer runs.

    Names are ``prefix<pid>-<random>``; a name with no process id (made by an older
    version) counts as gone: only a dead grader leaves one behind.
    """
    owner = name[len(prefix) :].partition("-")[0]
    return not (owner.isdigit() and _is_running(int(owner)))


def own_cgroups() -> dict[str, str]:
    """{controller: path} of this process, from ``/proc/self/cgroup`` ("" for v2)."""
    found = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for name in controllers.split(",") if controllers else [""]:
            found[name] = path
    return found


def _counter(path: Path, key: str) -> int:
    try:
        for line in path.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return int(value)
    except (OSError, ValueError):
        pass
    return 0


class Caps:
    """One child cgroup per controller (v1) or one child of the unified tree (v2)."""

    def __init__(self, dirs: dict[str, Path], unified: bool) -> None:
        self.dirs = dirs
        self.unified = unified

    @classmethod
    def create(
        cls, memory_bytes: int | None, max_processes: int | None
    ) -> tuple[Caps | None, str | None]:
        """The caps, or None and one line saying why none could be set.

        A process-count cgroup is made even without a cap: it tracks every process of the
        sandbox, so ``close`` can wait until the last one is gone.
        """
        name = f"{PREFIX}{os.getpid()}-{uuid.uuid4().hex[:12]}"
        try:
            own = own_cgroups()
            if (CGROUP_ROOT / "cgroup.controllers").exists():
                cls.sweep({"unified": CGROUP_ROOT / own.get("", "/").lstrip("/")})
                return cls._create_v2(own.get("", "/"), name, memory_bytes, max_processes)
            mounted = [c for c in ("memory", "pids") if c in own]
            cls.sweep({c: CGROUP_ROOT / c / own[c].lstrip("/") for c in mounted})
            return cls._create_v1(own, name, memory_bytes, max_processes)
        except OSError as exc:
            why = f"{exc.strerror or exc}" + (f" ({exc.filename})" if exc.filename else "")
            return None, f"no memory or process cap: cannot create a cgroup here: {why}"

    @classmethod
    def sweep(cls, parents: dict[str, Path]) -> list[str]:
        """Empty and remove the sandbox cgroups under ``parents`` whose grader is gone.

        Returns the names removed; a folder that cannot be read or removed is left as it is.
        """
        stale: dict[str, dict[str, Path]] = {}
        for controller, parent in parents.items():
            try:
                children = list(parent.iterdir())
            except OSError:
                continue
            for child in children:
                if child.name.startswith(PREFIX) and child.is_dir() and owner_gone(child.name):
                    stale.setdefault(child.name, {})[controller] = child
        removed = []
        for name, dirs in sorted(stale.items()):
            leftover = cls(dirs, unified="unified" in dirs)
            leftover.close(patience=1.0, attempts=5)
            if not leftover.dirs:
                removed.append(name)
        return removed

    @classmethod
    def _create_v1(cls, own, name, memory_bytes, max_processes):
        dirs: dict[str, Path] = {}
        caps = cls(dirs, unified=False)
        try:
            if memory_bytes is not None:
                folder = CGROUP_ROOT / "memory" / own["memory"].lstrip("/") / name
                folder.mkdir()
                dirs["memory"] = folder
                (folder / "memory.limit_in_bytes").write_text(str(memory_bytes))
                swap = folder / "memory.memsw.limit_in_bytes"
                if swap.exists():
                    swap.write_text(str(memory_bytes))
            folder = CGROUP_ROOT / "pids" / own["pids"].lstrip("/") / name
            folder.mkdir()
            dirs["pids"] = folder
            (folder / "pids.max").write_text("max" if max_processes is None else str(max_processes))
        except (OSError, KeyError) as exc:
            caps.close()
            if isinstance(exc, KeyError):
                raise OSError(f"no {exc.args[0]} controller mounted") from None
            raise
        return caps, None

    @classmethod
    def _create_v2(cls, own, name, memory_bytes, max_processes):
        folder = CGROUP_ROOT / own.lstrip("/") / name
        folder.mkdir()
        caps = cls({"unified": folder}, unified=True)
        try:
            if memory_bytes is not None:
                (folder / "memory.max").write_text(str(memory_bytes))
                swap = folder / "memory.swap.max"
                if swap.exists():
                    swap.write_text("0")
            if max_processes is not None:
                (folder / "pids.max").write_text(str(max_processes))
        except OSError:
            caps.close()
            raise
        return caps, None

    def procs_files(self) -> list[Path]:
        """The files a process writes its id to, to enter the caps (with what it starts later)."""
        return [folder / "cgroup.procs" for folder in self.dirs.values()]

    def limit_hit(self) -> str | None:
        """ "memory" after an out-of-memory kill, "processes" after a refused fork, else None."""
        if self.unified:
            folder = self.dirs["unified"]
            if _counter(folder / "memory.events", "oom_kill"):
                return "memory"
            if _counter(folder / "pids.events", "max"):
                return "processes"
            return None
        if "memory" in self.dirs and _counter(
            self.dirs["memory"] / "memory.oom_control", "oom_kill"
        ):
            return "memory"
        if "pids" in self.dirs and _counter(self.dirs["pids"] / "pids.events", "max"):
            return "processes"
        return None

    def peak_memory(self) -> int | None:
        """The most memory the caps' processes used at once, in bytes (None if unknown)."""
        if self.unified:
            files = [self.dirs["unified"] / "memory.peak"]
        else:
            files = (
                [self.dirs["memory"] / "memory.max_usage_in_bytes"] if "memory" in self.dirs else []
            )
        for path in files:
            try:
                return int(path.read_text().split()[0])
            except (OSError, ValueError, IndexError):
                continue
        return None

    def pids(self) -> set[int]:
        found: set[int] = set()
        for folder in self.dirs.values():
            try:
                text = (folder / "cgroup.procs").read_text()
            except OSError:
                continue
            found |= {int(x) for x in text.split()}
        return found

    def kill_all(self, patience: float = 5.0) -> None:
        """SIGKILL every process in the caps until none is left (forks race the loop)."""
        deadline = time.monotonic() + patience
        while (left := self.pids()) and time.monotonic() < deadline:
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.05)

    def close(self, patience: float = 5.0, attempts: int = 50) -> None:
        """Kill what is left and remove the cgroups (``dirs`` keeps any that would not go)."""
        self.kill_all(patience)
        left = {}
        for controller, folder in self.dirs.items():
            for attempt in range(attempts):
                try:
                    folder.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    if attempt == attempts - 1:
                        left[controller] = folder
                    else:
                        time.sleep(0.1)
        self.dirs = left
