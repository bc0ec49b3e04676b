"""The trusted side's last step before bubblewrap, as a process of its own.

``python -I -S launch.py SPEC`` (SPEC: JSON, built by ``sandbox.run_sealed``) joins the
sandbox's cgroups, and as root stages the mounts in a private mount namespace and drops
to the sandbox user; then it sets ``no_new_privs`` and replaces itself with bubblewrap
(``exec``: same process, same id). Doing this in a fresh process rather than between
``fork`` and ``exec`` of the grader keeps it safe in a multi-threaded grader (a Jupyter
server): nothing here can wait on a lock another thread held at ``fork``.

Standard library only, and no ``site``: it starts in a few milliseconds. On failure it
writes one line to the file descriptor ``report_fd`` of SPEC (a pipe the grader reads;
``exec`` closes it, so a started sandbox can never write there) and exits with ``FAILED``.
"""

import ctypes
import json
import os
import resource
import sys

FAILED = 126
CLONE_NEWNS = 0x00020000
MS_BIND, MS_REC, MS_PRIVATE = 4096, 16384, 1 << 18
PR_SET_NO_NEW_PRIVS = 38

libc = ctypes.CDLL(None, use_errno=True)


def check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def stage(folder: str, sources: list[str]) -> None:
    """A private mount namespace with ``folder/N`` bound to the Nth source."""
    check(libc.unshare(CLONE_NEWNS), "unshare")
    check(libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "mount --make-rprivate /")
    check(libc.mount(b"tmpfs", folder.encode(), b"tmpfs", 0, b"mode=0755,size=64k"), folder)
    for index, source in enumerate(sources):
        target = os.path.join(folder, str(index))
        if os.path.isdir(source):
            os.mkdir(target)
        else:
            open(target, "x").close()
        check(libc.mount(source.encode(), target.encode(), None, MS_BIND | MS_REC, None), target)


def launch(spec: dict) -> None:
    for procs in spec["cgroup_procs"]:
        with open(procs, "w") as handle:
            handle.write(str(os.getpid()))
    if spec["stage"] is not None:
        stage(spec["stage"], spec["sources"])
        os.setgroups([])
        os.setresgid(spec["gid"], spec["gid"], spec["gid"])
        os.setresuid(spec["uid"], spec["uid"], spec["uid"])
    if spec.get("file_bytes") is not None:  # no file written inside can grow past it
        resource.setrlimit(resource.RLIMIT_FSIZE, (spec["file_bytes"], spec["file_bytes"]))
    check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(no_new_privs)")
    os.execv(spec["argv"][0], spec["argv"])


def main() -> int:
    spec = json.loads(sys.argv[1])
    report = spec["report_fd"]
    os.set_inheritable(report, False)  # closed by the exec of bubblewrap
    try:
        launch(spec)
    except (OSError, ValueError, KeyError, IndexError) as exc:
        os.write(report, f"{exc}\n".encode())
    return FAILED


if __name__ == "__main__":
    sys.exit(main())
