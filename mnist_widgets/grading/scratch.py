"""The sandbox's writable folders on a size-capped tmpfs: a disk cap for student code.

Inside the sandbox a notebook can write only to its home and run folders (``/tmp`` and
``/dev/shm`` are tmpfs inside it, charged to its memory cap). Those two live in one
scratch folder of the grader's. As root the grader mounts a tmpfs of ``disk_bytes`` there,
so a notebook that writes without end gets "No space left on device" and the grader's disk
stays untouched; its pages count against the sandbox's memory cap, and go when the tmpfs is
unmounted. Without root no mount is possible: the folder is a plain temporary one, and only
the launcher's per-file limit (``RLIMIT_FSIZE``) holds. The home and the executor's run
folder are separate tmpfs: a student who fills the home still gets the notebook's outputs.

A grader killed while a scratch tmpfs was mounted leaves it behind; its mount point carries
the grader's process id, and the next scratch of this machine unmounts it once that process
is gone (as ``limits.Caps`` does with cgroups).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .launch import check, libc
from .limits import owner_gone
from .measure import size_text

PREFIX = "mnist-widgets-sealed-"
MS_NOSUID, MS_NODEV = 2, 4
MNT_DETACH = 2


def _mount_tmpfs(folder: Path, size_bytes: int) -> None:
    options = f"size={size_bytes},mode=0755".encode()
    flags = MS_NOSUID | MS_NODEV
    check(libc.mount(b"tmpfs", str(folder).encode(), b"tmpfs", flags, options), str(folder))


def _unmount(folder: str) -> None:
    libc.umount2(folder.encode(), MNT_DETACH)


def _mount_points() -> list[str]:
    """Mount points of this machine's mount namespace (``/proc/self/mountinfo``)."""
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return []
    return [line.split()[4].replace("\\040", " ") for line in lines if len(line.split()) > 4]


def sweep() -> list[str]:
    """Unmount the scratch tmpfs of graders that are gone; returns their mount points."""
    swept = []
    for point in _mount_points():
        owner = os.path.basename(os.path.dirname(point))
        if owner.startswith(PREFIX) and owner_gone(owner, PREFIX):
            _unmount(point)
            swept.append(point)
    return swept


def is_full(folder: Path, margin: int = 64 * 1024) -> bool:
    """True when ``folder``'s file system has less than ``margin`` bytes left."""
    try:
        stats = os.statvfs(folder)
    except OSError:
        return False
    return stats.f_bavail * stats.f_frsize < margin


@contextlib.contextmanager
def scratch(sizes: dict[str, int | None]) -> Iterator[tuple[Path, bool]]:
    """A fresh folder holding one folder per name of ``sizes``, and whether they are capped.

    As root, each folder whose size is set is a tmpfs of that size of its own, so filling one
    (the student's home) leaves room in the others (where the executor writes its results).
    Where no tmpfs can be mounted (not root, or a container that forbids mounts), they are
    plain folders and the flag is False.
    """
    capped = os.geteuid() == 0 and any(size is not None for size in sizes.values())
    if capped:
        sweep()
    with tempfile.TemporaryDirectory(prefix=f"{PREFIX}{os.getpid()}-") as work:
        mounted: list[Path] = []
        try:
            for name, size in sizes.items():
                folder = Path(work) / name
                folder.mkdir()
                if capped and size is not None:
                    try:
                        _mount_tmpfs(folder, size)
                    except OSError:
                        capped = False
                        continue
                    mounted.append(folder)
            yield Path(work), capped
        finally:
            for folder in mounted:
                _unmount(str(folder))


def disk_cap_note(disk_bytes: int | None) -> str | None:
    """One line when notebooks here get no size-capped tmpfs (None when they do, or when no
    cap is asked for)."""
    if disk_bytes is None:
        return None
    with scratch({"probe": 1024 * 1024}) as (_, capped):
        if capped:
            return None
    why = "mounting a tmpfs needs root" if os.geteuid() else "no tmpfs can be mounted here"
    return f"no disk cap but on each file's size ({size_text(disk_bytes)}): {why}"
