"""``mnist-widgets doctor``: an instructor's preflight check of a class, run as the grader.

Run it from the course folder (the grader service's working folder), as the grader
account: it checks the data, the exchange, that the course folder, the gradebook and every
home are closed to other users, the grading sandbox, and that nbgrader's extensions are on
for the grader and off for students. Each problem is one line that says what to run; the
exit status is 0 only when every check holds.
"""

from __future__ import annotations

import json
import os
import pwd
import stat
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

DEFAULT_HUB_FILES = "/etc/jupyterhub"
HUB_FILES_ENV = "MNIST_WIDGETS_HUB_FILES"
SERVER_EXTENSIONS = (
    "nbgrader.server_extensions.formgrader",
    "nbgrader.server_extensions.assignment_list",
    "nbgrader.server_extensions.course_list",
    "nbgrader.server_extensions.validate_assignment",
)
FORMGRADER = SERVER_EXTENSIONS[0]
BIN = Path(sys.prefix) / "bin"  # the kit's venv: the commands the problems name are its
LAB_ENABLE = f"sudo {BIN / 'jupyter'} labextension enable --level=sys_prefix"
INSTRUCTOR_PLUGINS = (
    "@jupyter/nbgrader:formgrader",
    "@jupyter/nbgrader:create-assignment",
    "@jupyter/nbgrader:course-list",
)


@dataclass(frozen=True)
class Setup:
    """Where the checks look: the course folder, the hub's files, the homes."""

    course: Path
    hub_files: Path
    homes: Path
    users: frozenset[str] = frozenset()  # whose homes to check; empty: every person's


Check = Callable[[Setup], list[str]]


def register(sub) -> None:
    parser = sub.add_parser(
        "doctor", help="check a class's hub setup (run as the grader, in the course folder)"
    )
    parser.add_argument("--course", default=".", help="the course folder (default: here)")
    parser.add_argument(
        "--hub-files",
        default=os.environ.get(HUB_FILES_ENV, DEFAULT_HUB_FILES),
        help=f"the folder of jupyterhub_config.py and its student/ settings "
        f"(default: ${HUB_FILES_ENV} or {DEFAULT_HUB_FILES})",
    )
    parser.add_argument("--homes", default="/home", help="where users' homes are (default /home)")
    parser.add_argument(
        "--users",
        default="",
        help="comma-separated accounts whose homes to check (default: every account in "
        "/etc/login.defs' UID range)",
    )
    parser.set_defaults(func=run)


def run(args) -> int:
    users = frozenset(filter(None, args.users.split(",")))
    setup = Setup(Path(args.course).resolve(), Path(args.hub_files), Path(args.homes), users)
    failed = 0
    for name, check in CHECKS:
        problems = check(setup)
        for problem in problems:
            print(f"FAIL  {name}: {problem}")
        if not problems:
            print(f"ok    {name}")
        failed += len(problems)
    print(f"{failed} problem(s)" if failed else "all checks hold")
    return 1 if failed else 0


# ------------------------------------------------------------------ permissions


def open_to_others(path: Path) -> bool:
    """Whether a user other than the owner (and the owner's own group) can read ``path``.

    Readable means: every folder above it lets others through and ``path`` itself lets
    others read (a folder: list or enter). Group bits count when the group is shared,
    that is, not named after the owner (Debian's user private groups are).
    """
    path = path.resolve()
    for parent in reversed(path.parents):
        if not _grants(parent, stat.S_IXOTH, stat.S_IXGRP):
            return False
    read = stat.S_IROTH | (stat.S_IXOTH if path.is_dir() else 0)
    read_group = stat.S_IRGRP | (stat.S_IXGRP if path.is_dir() else 0)
    return _grants(path, read, read_group, any_bit=True)


def _grants(path: Path, other_bits: int, group_bits: int, any_bit: bool = False) -> bool:
    info = path.stat()
    hit = (lambda m, bits: bool(m & bits)) if any_bit else (lambda m, bits: m & bits == bits)
    if hit(info.st_mode, other_bits):
        return True
    return hit(info.st_mode, group_bits) and _shared_group(info)


def _shared_group(info: os.stat_result) -> bool:
    import grp

    try:
        owner = pwd.getpwuid(info.st_uid).pw_name
        group = grp.getgrgid(info.st_gid)
    except KeyError:
        return True
    return group.gr_name != owner or any(member != owner for member in group.gr_mem)


# ------------------------------------------------------------------ the checks


def check_data(setup: Setup) -> list[str]:
    from ..data.loading import inspect
    from ..errors import DataError

    target = os.environ.get("MNIST_WIDGETS_DATA", "/srv/data")
    fetch = f"run sudo {BIN / 'mnist-widgets'} data fetch mnist --dir {target}"
    try:
        _, folder, reports = inspect("mnist")
    except DataError as exc:
        return [f"MNIST not found ({exc}): {fetch}"]
    problems = [
        f"{report.path} fails its checksum: delete it, then {fetch}"
        for report in reports
        if not report.checksum_ok
    ]
    closed = [report.path for report in reports if not open_to_others(report.path)]
    if closed:
        problems.append(f"{closed[0]} is not readable by students: run sudo chmod -R a+rX {folder}")
    return problems


def nbgrader_config(course: Path):
    """The nbgrader config as nbgrader loads it in ``course``: the folder, then Jupyter's."""
    from jupyter_core.paths import jupyter_config_path
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    config = Config()
    for folder in reversed([str(course), *jupyter_config_path()]):
        if (Path(folder) / "nbgrader_config.py").is_file():
            config.merge(PyFileConfigLoader("nbgrader_config.py", path=folder).load_config())
    return config


def check_exchange(setup: Setup) -> list[str]:
    from nbgrader.exchange.default.exchange import Exchange

    config = nbgrader_config(setup.course)
    root = Path(config.Exchange.get("root", Exchange.root.default_value))
    course_id = config.CourseDirectory.get("course_id", "")
    if not root.is_dir():
        return [f"no exchange at {root}: run sudo install -d -m 1777 {root}"]
    problems = []
    if root.stat().st_mode & 0o1777 != 0o1777:
        problems.append(f"{root} must be world-writable and sticky: run sudo chmod 1777 {root}")
    course = root / course_id
    if not course_id:
        problems.append("no course id: set c.CourseDirectory.course_id in nbgrader_config.py")
    elif course.is_dir():
        me = pwd.getpwuid(os.geteuid()).pw_name
        owner = pwd.getpwuid(course.stat().st_uid).pw_name
        if owner != me:
            problems.append(f"{course} belongs to {owner}: run sudo chown -R {me} {course}")
        inbound, feedback = course / "inbound", course / "feedback"
        if inbound.is_dir() and inbound.stat().st_mode & 0o007 != 0o003:
            problems.append(
                f"students could list others' submissions in {inbound}: run chmod 2733 {inbound}"
            )
        if feedback.is_dir() and feedback.stat().st_mode & 0o004:
            problems.append(f"students could list others' feedback: run chmod 711 {feedback}")
    return problems


def check_course_folder(setup: Setup) -> list[str]:
    course = setup.course
    if not (course / "nbgrader_config.py").is_file():
        return [f"no nbgrader_config.py in {course}: run the doctor in the course folder"]
    if open_to_others(course):
        return [f"the course folder is open to other users: run chmod 700 {course}"]
    problems = []
    for inside in (course / "gradebook.db", course / "source"):
        if inside.exists() and open_to_others(inside):
            problems.append(f"{inside} is open to other users: run chmod go-rwx {inside}")
    return problems


def _login_range() -> tuple[int, int]:
    """UID_MIN and UID_MAX of /etc/login.defs: the range of people's accounts."""
    bounds = {"UID_MIN": 1000, "UID_MAX": 60000}
    try:
        for line in Path("/etc/login.defs").read_text().splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[0] in bounds and parts[1].isdigit():
                bounds[parts[0]] = int(parts[1])
    except OSError:
        pass
    return bounds["UID_MIN"], bounds["UID_MAX"]


def check_homes(setup: Setup) -> list[str]:
    low, high = _login_range()
    problems = []
    for user in sorted(pwd.getpwall(), key=lambda entry: entry.pw_name):
        home = Path(user.pw_dir)
        chosen = user.pw_name in setup.users if setup.users else low <= user.pw_uid <= high
        if not chosen or home.parent != setup.homes or not home.is_dir():
            continue
        if open_to_others(home):
            problems.append(f"{home} is open to other users: run sudo chmod 700 {home}")
    return problems


def check_sandbox(setup: Setup) -> list[str]:
    try:
        from ..grading.sandbox import unavailable_reason
    except ImportError:
        return [
            "the kit's sandbox module (mnist_widgets.grading.sandbox) is missing: "
            "install a kit with sealed grading"
        ]
    reason = unavailable_reason()
    return [f"the grading sandbox cannot start: {reason}"] if reason else []


def server_extensions(paths: list[str]) -> dict[str, bool]:
    """Which server extensions a Jupyter server with this config path enables."""
    from jupyter_server.extension.config import ExtensionConfigManager

    return ExtensionConfigManager(read_config_path=paths).get_jpserver_extensions()


def disabled_lab_plugins(paths: list[str]) -> set[str]:
    """The JupyterLab plugins the page config of this config path turns off."""
    settings = Path(sys.prefix) / "share" / "jupyter" / "lab" / "settings"
    files = [settings / "page_config.json"]
    files += [Path(folder) / "labconfig" / "page_config.json" for folder in reversed(paths)]
    disabled: dict[str, bool] = {}
    for path in files:
        if path.is_file() and path.stat().st_size:
            found = json.loads(path.read_text()).get("disabledExtensions", {})
            disabled.update(dict.fromkeys(found, True) if isinstance(found, list) else found)
    return {name for name, off in disabled.items() if off}


def _base_config_path() -> list[str]:
    """Jupyter's config path without this process's JUPYTER_CONFIG_PATH."""
    from jupyter_core.paths import jupyter_config_path

    extra = set(filter(None, os.environ.get("JUPYTER_CONFIG_PATH", "").split(os.pathsep)))
    return [folder for folder in jupyter_config_path() if folder not in extra]


def check_extensions(setup: Setup) -> list[str]:
    from jupyter_core.paths import jupyter_config_path

    problems = []
    labextension = (
        Path(sys.prefix) / "share" / "jupyter" / "labextensions" / "@jupyter" / "nbgrader"
    )
    if not labextension.is_dir():
        problems.append(
            f"nbgrader's JupyterLab extension is missing: run sudo {BIN / 'pip'} install "
            "nbgrader==0.9.6"
        )
    grader = jupyter_config_path()
    enabled = server_extensions(grader)
    for name in SERVER_EXTENSIONS:
        if not enabled.get(name):
            enable = f"sudo {BIN / 'jupyter'} server extension enable --sys-prefix {name}"
            problems.append(f"{name} is off for the grader: run {enable}")
    for plugin in sorted(disabled_lab_plugins(grader) & set(INSTRUCTOR_PLUGINS)):
        problems.append(
            f"{plugin} is off in the grader's JupyterLab: remove it from page_config.json"
        )

    student = setup.hub_files / "student"
    copy = f"copy assignments/jupyterhub/student/ to {student}"
    if not student.is_dir():
        return [*problems, f"no students' settings in {setup.hub_files}: {copy} (or --hub-files)"]
    paths = [str(student), str(setup.hub_files / "course"), *_base_config_path()]
    if server_extensions(paths).get(FORMGRADER):
        problems.append(f"students' servers would run the formgrader: {copy}")
    hidden = disabled_lab_plugins(paths)
    if not hidden >= set(INSTRUCTOR_PLUGINS):
        shown = ", ".join(sorted(set(INSTRUCTOR_PLUGINS) - hidden))
        problems.append(f"students' JupyterLab would show {shown}: {copy}")
    return problems


CHECKS: tuple[tuple[str, Check], ...] = (
    ("data", check_data),
    ("exchange", check_exchange),
    ("course folder", check_course_folder),
    ("homes", check_homes),
    ("sandbox", check_sandbox),
    ("nbgrader extensions", check_extensions),
)
