"""The class on a live JupyterHub: the project's hub files as shipped, with system users.

The fast tests read the hub files. The live test (root only; marked ``hub`` and ``slow``)
creates four system users with passwords (an instructor, two students and the grader
account), the grader's course folder and an exchange, starts JupyterHub on 127.0.0.1 with
``assignments/jupyterhub/jupyterhub_config.py`` and the small layer ``LAYER`` below (ports,
the proxy's path, the exchange and the hub's database in a temporary folder), logs everyone
in through PAM, and runs the course through the hub: the instructor generates and releases
``01-softmax`` with the grader service's formgrader API, the students fetch and submit from
their own servers, the instructor collects, autogrades and releases feedback, the students
fetch it. Teardown stops the hub (and with it every server), ends any process left to the
test's users, and removes the users with their homes, even when a step failed.

Needs: root, JupyterHub (the ``test`` extra), configurable-http-proxy (``make hub-proxy``),
``useradd``/``chpasswd``, and a Python other users may run (the venv's, or a system Python
of the same version the test lays over the venv's packages). Otherwise it is skipped with
the reason.
"""

from __future__ import annotations

import importlib.util
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pytest
from grade_course import solution_sources

REPO = Path(__file__).resolve().parents[1]
HUB_FILES = REPO / "assignments" / "jupyterhub"
HUB_CONFIG = HUB_FILES / "jupyterhub_config.py"
GUIDE = REPO / "docs" / "jupyterhub.md"
VENV_BIN = Path(sys.prefix) / "bin"
PROXY = REPO / ".node" / "node_modules" / ".bin" / "configurable-http-proxy"
COURSE = "mnist-widgets"
GRADER = f"grader-{COURSE}"
INSTRUCTOR = "instructor1"
STUDENTS = ("student1", "student2")
ASSIGNMENT = "01-softmax"
NOTEBOOK = "softmax"
TEST_USER_MARK = "mnist-widgets hub test"  # the GECOS field of the users this test creates
NBGRADER_LAB_MENUS = (
    "@jupyter/nbgrader:formgrader",
    "@jupyter/nbgrader:create-assignment",
    "@jupyter/nbgrader:course-list",
)

# The layer over the project's hub config: where things listen and live in this test.
LAYER = """\
load_subconfig({config!r})
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = {port}
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = {hub_port}
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{proxy_api_port}"
c.ConfigurableHTTPProxy.command = [{proxy!r}]
c.JupyterHub.db_url = "sqlite:///{state}/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = "{state}/jupyterhub_cookie_secret"
c.JupyterHub.services[0]["url"] = "http://127.0.0.1:{service_port}"
# the exchange in this test's folder: one more config folder, first on every server's path
_service = c.JupyterHub.services[0]["environment"]
_service["JUPYTER_CONFIG_PATH"] = {exchange_config!r} + ":" + _service["JUPYTER_CONFIG_PATH"]
_profile = c.Spawner.environment["JUPYTER_CONFIG_PATH"]
c.Spawner.environment["JUPYTER_CONFIG_PATH"] = lambda spawner: (
    {exchange_config!r} + ":" + _profile(spawner)
)
"""


def load_hub_config(environ: dict[str, str] | None = None):
    """The hub config as JupyterHub loads it (with ``environ`` as the hub's environment)."""
    from traitlets.config.loader import PyFileConfigLoader

    saved = dict(os.environ)
    try:
        if environ is not None:
            os.environ.clear()
            os.environ.update(environ)
        return PyFileConfigLoader(HUB_CONFIG.name, path=str(HUB_FILES)).load_config()
    finally:
        os.environ.clear()
        os.environ.update(saved)


# ---------------------------------------------------------------- the hub files, read


def test_servers_and_service_start_from_the_venv_by_absolute_path():
    """Defect 1: `jupyterhub-singleuser` looked up on PATH (the hub's PATH lacks the venv)."""
    config = load_hub_config()
    service = config.JupyterHub.services[0]
    for command in (service["command"], config.Spawner.cmd):
        program = Path(command[0])
        assert program.is_absolute() and program.name == "jupyterhub-singleuser", command
        assert program == VENV_BIN / "jupyterhub-singleuser" and program.exists()
    for environment in (service["environment"], config.Spawner.environment):
        assert environment["PATH"].split(":")[0] == str(VENV_BIN)  # nbgrader runs `alembic`


def test_students_settings_are_scoped_to_their_servers():
    """Defect 2: the students' page config installed for the whole environment."""
    config = load_hub_config()
    profile = config.Spawner.environment["JUPYTER_CONFIG_PATH"]
    student = _FakeSpawner([f"nbgrader-{COURSE}"])
    instructor = _FakeSpawner([f"formgrade-{COURSE}"])
    assert profile(student) == f"{HUB_FILES / 'student'}:{HUB_FILES / 'course'}"
    assert profile(instructor) == f"{HUB_FILES / 'instructor'}:{HUB_FILES / 'course'}"
    # the grader's service gets its own settings: its JupyterLab keeps every menu
    service = config.JupyterHub.services[0]["environment"]
    assert service["JUPYTER_CONFIG_PATH"] == f"{HUB_FILES / 'grader'}:{HUB_FILES / 'course'}"
    assert not list((HUB_FILES / "grader").glob("labconfig/*"))
    disabled = _disabled_lab_plugins(HUB_FILES / "student")
    assert disabled >= set(NBGRADER_LAB_MENUS)
    server = _server_extensions(HUB_FILES / "student")
    assert server["nbgrader.server_extensions.formgrader"] is False
    assert server.get("nbgrader.server_extensions.assignment_list", True) is True
    assert not list((HUB_FILES / "course").glob("labconfig/*"))


def test_homes_are_closed_before_a_server_starts(tmp_path):
    """Defect 3: Debian's homes are 755; the hub closes a user's home before spawning."""
    config = load_hub_config()
    home = tmp_path / "home"
    home.mkdir(mode=0o755)
    home.chmod(0o755)
    spawner = _FakeSpawner([f"nbgrader-{COURSE}"], name=pwd.getpwuid(os.getuid()).pw_name)
    hook = config.Spawner.pre_spawn_hook
    real_getpwnam = pwd.getpwnam
    try:
        pwd.getpwnam = lambda name: _Passwd(str(home))
        hook(spawner)
    finally:
        pwd.getpwnam = real_getpwnam
    assert home.stat().st_mode & 0o777 == 0o700


def test_limits_are_stated_as_the_spawner_applies_them():
    """Defect 4: cpu_limit/mem_limit under LocalProcessSpawner were said to cap memory."""
    config = load_hub_config()
    text = GUIDE.read_text()
    spawner = config.JupyterHub.get("spawner_class", "localprocess")
    if "systemd" not in str(spawner).lower():
        assert config.Spawner.mem_limit, "the config sets limits for the spawners that apply them"
        assert re.search(r"LocalProcessSpawner[^.]*does not enforce", text), (
            "the guide must say that LocalProcessSpawner does not enforce the limits"
        )
        assert "SystemdSpawner" in text and "KubeSpawner" in text
    assert "sandbox" in text  # grading's own caps


def test_course_roles_say_what_nbgrader_uses():
    """Defects 5 and 7: the services API comment, `inherit` on `server`, `--debug`."""
    config = load_hub_config()
    roles = {role["name"]: role for role in config.JupyterHub.load_roles}
    assert "server" not in roles or "inherit" not in roles["server"]["scopes"]
    scopes = config.Spawner.server_token_scopes
    assert "inherit" not in scopes and not any(scope.startswith("admin") for scope in scopes)
    assert "read:users:groups!user" in scopes  # JupyterHubAuthPlugin reads the user's groups
    for profile in ("student", "instructor", "grader"):
        text = (HUB_FILES / profile / "nbgrader_config.py").read_text()
        assert 'plugin_class = "nbgrader.auth.JupyterHubAuthPlugin"' in text
    # the service's own token may ask about the grader's groups, and list its own formgrader
    service = roles[f"grader-{COURSE}"]
    assert service["services"] == [COURSE] and service["users"] == [GRADER]
    assert f"read:users:groups!user={GRADER}" in service["scopes"]
    assert f"access:services!service={COURSE}" in service["scopes"]
    assert "--debug" not in config.JupyterHub.services[0]["command"]


def test_kubernetes_files_give_servers_no_admin_rights():
    """Defect 7 on Kubernetes: the values gave the `server` role `inherit`."""
    import yaml

    values = yaml.safe_load((REPO / "docs" / "jupyterhub" / "values.yaml").read_text())
    roles = values["hub"]["loadRoles"]
    assert "inherit" not in roles.get("server", {}).get("scopes", [])
    assert roles["grader"]["services"] == [COURSE]
    dockerfile = (REPO / "docs" / "jupyterhub" / "Dockerfile").read_text()
    copied = re.findall(r"^COPY\s+(?:--\S+\s+)*(\S+)\s", dockerfile, re.M)
    assert copied and all((REPO / path).exists() for path in copied), copied


def test_data_folder_is_the_hubs_own_when_set():
    """Defect 6: the config's /srv/data overrode the MNIST_WIDGETS_DATA the hub had."""
    base = {k: v for k, v in os.environ.items() if k != "MNIST_WIDGETS_DATA"}
    assert load_hub_config(base).Spawner.environment["MNIST_WIDGETS_DATA"] == "/srv/data"
    config = load_hub_config({**base, "MNIST_WIDGETS_DATA": "/opt/data"})
    assert config.Spawner.environment["MNIST_WIDGETS_DATA"] == "/opt/data"
    assert config.JupyterHub.services[0]["environment"]["MNIST_WIDGETS_DATA"] == "/opt/data"


def test_guide_names_files_that_exist():
    """Defect 6: the guide sent readers to docs/jupyterhub/ for files in assignments/."""
    text = GUIDE.read_text()
    named = set(re.findall(r"(?:assignments|docs)/[\w./-]+\w", text))
    assert named, "the guide names the files it uses"
    missing = sorted(path for path in named if not (REPO / path).exists())
    assert not missing, f"the guide names files that do not exist: {missing}"
    for step in ("mnist-widgets data fetch mnist --dir /srv/data", f"/home/{GRADER}/{COURSE}"):
        assert step in text, f"the one-machine path lacks: {step}"


# ---------------------------------------------------------------- the doctor, offline


@pytest.fixture
def open_folder():
    """A folder under /tmp that other users can enter (pytest's own tmp_path is closed)."""
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="mnist-widgets-doctor-", dir="/tmp"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _doctor_setup(folder: Path, course_mode: int = 0o700, exchange_mode: int = 0o1777):
    from mnist_widgets.commands.doctor import Setup

    course, exchange = folder / "course", folder / "exchange"
    course.mkdir()
    exchange.mkdir()
    course.chmod(course_mode)
    exchange.chmod(exchange_mode)
    (course / "nbgrader_config.py").write_text(
        f"c = get_config()\nc.CourseDirectory.course_id = {COURSE!r}\n"
        f"c.Exchange.root = {str(exchange)!r}\n"
    )
    return Setup(course, HUB_FILES, folder / "homes"), exchange


def test_doctor_names_the_exchange_modes_to_set(open_folder, monkeypatch):
    from mnist_widgets.commands.doctor import check_exchange

    monkeypatch.delenv("JUPYTER_CONFIG_PATH", raising=False)
    setup, exchange = _doctor_setup(open_folder, exchange_mode=0o755)
    assert check_exchange(setup) == [
        f"{exchange} must be world-writable and sticky: run sudo chmod 1777 {exchange}"
    ]
    exchange.chmod(0o1777)
    inbound = exchange / COURSE / "inbound"
    inbound.mkdir(parents=True)
    inbound.chmod(0o777)  # anyone could list the submissions
    assert check_exchange(setup) == [
        f"students could list others' submissions in {inbound}: run chmod 2733 {inbound}"
    ]
    inbound.chmod(0o2733)
    assert check_exchange(setup) == []


def test_doctor_finds_a_course_folder_open_to_others(open_folder, monkeypatch):
    from mnist_widgets.commands.doctor import check_course_folder, open_to_others

    setup, _ = _doctor_setup(open_folder, course_mode=0o755)
    (setup.course / "gradebook.db").write_text("")
    assert open_to_others(setup.course / "gradebook.db")
    assert check_course_folder(setup) == [
        f"the course folder is open to other users: run chmod 700 {setup.course}"
    ]
    setup.course.chmod(0o700)
    assert not open_to_others(setup.course / "gradebook.db")  # readable, but not reachable
    assert check_course_folder(setup) == []


def test_doctor_checks_students_settings_where_the_hub_files_are(tmp_path):
    from mnist_widgets.commands.doctor import Setup, check_extensions

    assert check_extensions(Setup(tmp_path, HUB_FILES, tmp_path)) == []
    problems = check_extensions(Setup(tmp_path, tmp_path / "elsewhere", tmp_path))
    assert problems == [
        f"no students' settings in {tmp_path / 'elsewhere'}: copy assignments/jupyterhub/"
        f"student/ to {tmp_path / 'elsewhere' / 'student'} (or --hub-files)"
    ]


@dataclass
class _Group:
    name: str


@dataclass
class _User:
    name: str
    groups: list = field(default_factory=list)


class _FakeSpawner:
    def __init__(self, groups: list[str], name: str = "someone") -> None:
        self.user = _User(name, [_Group(group) for group in groups])


@dataclass
class _Passwd:
    pw_dir: str


def _disabled_lab_plugins(folder: Path) -> set[str]:
    data = json.loads((folder / "labconfig" / "page_config.json").read_text())
    return {name for name, off in data.get("disabledExtensions", {}).items() if off}


def _server_extensions(folder: Path) -> dict[str, bool]:
    found: dict[str, bool] = {}
    for path in sorted((folder / "jupyter_server_config.d").glob("*.json")):
        found.update(json.loads(path.read_text())["ServerApp"]["jpserver_extensions"])
    return found


# ---------------------------------------------------------------- the live hub

USERS = (INSTRUCTOR, *STUDENTS, GRADER)
SERVICE = f"/services/{COURSE}"
HTTP_TIMEOUT_S = 600  # one autograde request trains and measures a model
START_TIMEOUT_S = 120


def _skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "the live-hub test creates system users: run it as root (CI does)"
    try:
        import jupyterhub  # noqa: F401
        import requests  # noqa: F401
    except ImportError:
        return "JupyterHub is not installed: run make install-test (the test extra)"
    if _proxy() is None:
        return "configurable-http-proxy is missing: run make hub-proxy (needs nodejs and npm)"
    for tool in ("useradd", "userdel", "chpasswd"):
        if shutil.which(tool) is None:
            return f"{tool} is missing (Debian's passwd package)"
    if _as("nobody", "test", "-r", str(HUB_CONFIG)).returncode:
        return f"other users cannot read {REPO}: clone the project where they can (not /root)"
    return None


def _proxy() -> str | None:
    return str(PROXY) if PROXY.exists() else shutil.which("configurable-http-proxy")


def _as(user: str, *argv: str, env: dict[str, str] | None = None, cwd: str | None = None):
    """Run ``argv`` as ``user`` (no supplementary groups); the finished process."""
    entry = pwd.getpwnam(user)
    try:
        return subprocess.run(
            argv,
            user=entry.pw_uid,
            group=entry.pw_gid,
            extra_groups=[],
            env=env or {"PATH": "/usr/bin:/bin", "HOME": entry.pw_dir},
            cwd=cwd or "/",
            capture_output=True,
            text=True,
            timeout=300,
        )
    except OSError as exc:  # the program itself is out of the user's reach
        return subprocess.CompletedProcess(argv, 126, "", str(exc))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _python_reach(folder: Path) -> list[str]:
    """A command prefix under which other users can run this venv's Python (maybe none).

    When the venv's base interpreter lives where other users cannot go (a pyenv under
    /root, mode 700), the prefix starts the command in a private mount namespace where
    that folder is an empty tmpfs (mode 711) holding only the interpreter's tree. The hub
    and every process it starts inherit it; nothing changes outside.
    """
    probe = [str(VENV_BIN / "python"), "-c", "import mnist_widgets"]
    if _as("nobody", *probe).returncode == 0:
        return []
    interpreter = Path(os.path.realpath(sys.executable))
    closed = next(
        (parent for parent in reversed(interpreter.parents) if not parent.stat().st_mode & 0o001),
        None,
    )
    if closed is None or shutil.which("unshare") is None or shutil.which("nsenter") is None:
        pytest.skip(f"other users cannot run {VENV_BIN}/python")
    keep = interpreter.parents[len(interpreter.parents) - len(closed.parts) - 1]
    held = folder / "held"
    held.mkdir()
    script = (
        f"mount --bind {keep} {held} && mount -t tmpfs -o mode=711 tmpfs {closed} && "
        f'mkdir -p {keep} && mount --bind {held} {keep} && umount {held} && exec "$@"'
    )
    return ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script, "sh"]


def _remove_user(name: str) -> None:
    """Remove a user this test created, with their home, after ending their processes."""
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        return
    if entry.pw_gecos != TEST_USER_MARK:
        return
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if proc.stat().st_uid == entry.pw_uid:
                    os.kill(int(proc.name), signal.SIGKILL)
            except (FileNotFoundError, ProcessLookupError):
                pass
    subprocess.run(["userdel", "--remove", name], capture_output=True)


def _create_user(name: str, password: str) -> None:
    for existing in pwd.getpwall():
        if existing.pw_name == name and existing.pw_gecos != TEST_USER_MARK:
            pytest.skip(f"user {name} exists on this machine; the test creates its own")
    _remove_user(name)  # left over from an interrupted run
    subprocess.run(
        ["useradd", "--create-home", "--shell", "/bin/bash", "--comment", TEST_USER_MARK, name],
        check=True,
    )
    subprocess.run(["chpasswd"], input=f"{name}:{password}\n", text=True, check=True)


def _copy_as(source: Path, target: Path, owner: str) -> None:
    shutil.copytree(source, target) if source.is_dir() else shutil.copy2(source, target)
    entry = pwd.getpwnam(owner)
    for path in [target, *target.rglob("*")] if target.is_dir() else [target]:
        os.chown(path, entry.pw_uid, entry.pw_gid)


def _wait(what: str, ready, timeout: float = START_TIMEOUT_S, log: Path | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = ready()
        if value:
            return value
        time.sleep(0.5)
    tail = log.read_text()[-4000:] if log else ""
    raise AssertionError(f"{what} not ready after {timeout:.0f} s\n{tail}")


@dataclass
class LiveHub:
    """A running hub: its URL, folders, users' passwords and what the flow measured."""

    url: str
    folder: Path
    pid: int
    namespace_pid: int | None  # the hub's pid, when it runs in its own mount namespace
    exchange: Path
    log: Path
    passwords: dict[str, str]
    timings: dict[str, float] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    results: dict = field(default_factory=dict)

    @property
    def course(self) -> Path:
        return Path(pwd.getpwnam(GRADER).pw_dir) / COURSE

    def client(self, user: str):
        import requests

        session = requests.Session()
        session.headers["Authorization"] = f"token {self.tokens[user]}"
        return session

    def login(self, user: str) -> str:
        """Log in through the hub's login form (PAM); a new API token of that user."""
        import requests

        session = requests.Session()
        session.get(f"{self.url}/hub/login", timeout=30).raise_for_status()
        xsrf = session.cookies.get("_xsrf")
        form = {"username": user, "password": self.passwords[user], "_xsrf": xsrf}
        response = session.post(
            f"{self.url}/hub/login", data=form, allow_redirects=False, timeout=60
        )
        assert response.status_code == 302, f"PAM login of {user}: {response.status_code}"
        # the XSRF token is bound to the new login session: take the one the hub sets now
        session.get(f"{self.url}/hub/home", timeout=30).raise_for_status()
        xsrf = [cookie.value for cookie in session.cookies if cookie.name == "_xsrf"][-1]
        response = session.post(
            f"{self.url}/hub/api/users/{user}/tokens",
            json={"note": "live-hub test", "expires_in": 3600},
            headers={"X-XSRFToken": xsrf},
            timeout=30,
        )
        response.raise_for_status()
        self.tokens[user] = response.json()["token"]
        return self.tokens[user]

    def spawn(self, *users: str) -> dict[str, float]:
        """Start the users' own servers through the REST API; seconds until each is ready."""
        began = time.monotonic()
        for user in users:
            response = self.client(user).post(f"{self.url}/hub/api/users/{user}/server", timeout=60)
            assert response.status_code in (201, 202), response.text
        seconds = {}

        def ready():
            for user in set(users) - set(seconds):
                url = f"{self.url}/hub/api/users/{user}"
                model = self.client(user).get(url, timeout=30).json()
                if model.get("servers", {}).get("", {}).get("ready"):
                    seconds[user] = time.monotonic() - began
            return len(seconds) == len(users)

        _wait(f"the servers of {', '.join(users)}", ready, log=self.log)
        return seconds

    def formgrader(self, action: str) -> dict:
        """POST one formgrader action to the grader's service, as the instructor."""
        response = self.client(INSTRUCTOR).post(
            f"{self.url}{SERVICE}/formgrader/api/{action}", timeout=HTTP_TIMEOUT_S
        )
        assert response.status_code == 200, f"{action}: {response.status_code} {response.text}"
        result = response.json()
        assert result.get("success", True), f"{action}: {result}"
        return result

    def student(self, user: str, action: str, **params) -> dict:
        """An action of the student's own server's assignment list (list, fetch, submit)."""
        client = self.client(user)
        base = f"{self.url}/user/{user}/assignments"
        data = {"course_id": COURSE, **params}
        if action == "list":
            response = client.get(base, params=data, timeout=120)
        else:
            response = client.post(f"{base}/{action}", data=data, timeout=300)
        assert response.status_code == 200, f"{user} {action}: {response.text}"
        result = response.json()
        assert result["success"], f"{user} {action}: {result['value']}"
        return result

    def run_as(self, user: str, *argv: str, env: dict[str, str], cwd: Path):
        """Run ``argv`` as ``user`` where the hub's processes run (its mount namespace)."""
        if self.namespace_pid is None:
            return _as(user, *argv, env=env, cwd=str(cwd))
        entry = pwd.getpwnam(user)
        enter = [
            "nsenter",
            f"--mount=/proc/{self.namespace_pid}/ns/mnt",
            f"--setgid={entry.pw_gid}",
            f"--setuid={entry.pw_uid}",
            f"--wdns={cwd}",
            "--",
        ]
        return subprocess.run([*enter, *argv], env=env, capture_output=True, text=True, timeout=300)

    def doctor(self):
        """`mnist-widgets doctor` as the grader, in the course folder, with the service's env."""
        env = {
            "PATH": f"{VENV_BIN}:/usr/bin:/bin",
            "HOME": pwd.getpwnam(GRADER).pw_dir,
            "MNIST_WIDGETS_DATA": os.environ["MNIST_WIDGETS_DATA"],
            "JUPYTER_CONFIG_PATH": ":".join(
                str(path)
                for path in (
                    self.folder / "exchange-config",
                    HUB_FILES / "grader",
                    HUB_FILES / "course",
                )
            ),
            "MNIST_WIDGETS_HUB_FILES": str(HUB_FILES),
        }
        argv = [str(VENV_BIN / "mnist-widgets"), "doctor", "--users", ",".join(USERS)]
        return self.run_as(GRADER, *argv, env=env, cwd=self.course)


@pytest.fixture(scope="module")
def hub():
    """A JupyterHub on 127.0.0.1 with the project's hub files; stopped, users removed after."""
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    if not os.environ.get("MNIST_WIDGETS_DATA"):
        pytest.skip("MNIST_WIDGETS_DATA is not set: the hub passes it on to every server")
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="mnist-widgets-hub-", dir="/tmp"))
    folder.chmod(0o755)
    process = None
    try:
        reach = _python_reach(folder)
        passwords = {user: f"pw-{user}-{os.urandom(6).hex()}" for user in USERS}
        for user in USERS:
            _create_user(user, passwords[user])
        # the guide's one-time steps: the course folder, closed; the exchange, 1777
        grader_home = Path(pwd.getpwnam(GRADER).pw_dir)
        grader_home.chmod(0o700)
        course = grader_home / COURSE
        course.mkdir(mode=0o700)
        _copy_as(REPO / "assignments" / "nbgrader_config.py", course / "nbgrader_config.py", GRADER)
        _copy_as(REPO / "assignments" / "source", course / "source", GRADER)
        os.chown(course, pwd.getpwnam(GRADER).pw_uid, pwd.getpwnam(GRADER).pw_gid)
        exchange = folder / "exchange"
        exchange.mkdir()
        exchange.chmod(0o1777)
        exchange_config = folder / "exchange-config"
        exchange_config.mkdir()
        (exchange_config / "nbgrader_config.py").write_text(
            f"c = get_config()\nc.Exchange.root = {str(exchange)!r}\n"
        )
        state = folder / "hub"
        state.mkdir(mode=0o700)
        ports = {name: _free_port() for name in ("port", "hub_port", "proxy_api_port")}
        ports["service_port"] = _free_port()
        layer = folder / "jupyterhub_test_layer.py"
        layer.write_text(
            LAYER.format(
                config=str(HUB_CONFIG),
                proxy=_proxy(),
                state=str(state),
                exchange_config=str(exchange_config),
                **ports,
            )
        )
        log = folder / "hub.log"
        # the hub's environment lacks the venv's bin on PATH (defect 1)
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "HOME": "/root",
            "MNIST_WIDGETS_DATA": os.environ["MNIST_WIDGETS_DATA"],
        }
        began = time.monotonic()
        with open(log, "wb") as out:
            process = subprocess.Popen(
                [*reach, str(VENV_BIN / "jupyterhub"), "-f", str(layer)],
                cwd=state,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        url = f"http://127.0.0.1:{ports['port']}"
        namespace = process.pid if reach else None
        live_hub = LiveHub(url, folder, process.pid, namespace, exchange, log, passwords)
        _wait("the hub", lambda: _answers(f"{url}/hub/api/", process), log=log)
        service = f"http://127.0.0.1:{ports['service_port']}{SERVICE}/api"
        _wait("the grader's service", lambda: _answers(service, process), log=log)
        live_hub.timings["hub start (s)"] = time.monotonic() - began
        yield live_hub
        _report_timings(live_hub.timings, live_hub.results.get("autograde log", {}))
    finally:
        if process is not None:
            _stop(process)
        for user in USERS:
            _remove_user(user)
        shutil.rmtree(folder, ignore_errors=True)


def _answers(url: str, process: subprocess.Popen) -> bool:
    import requests

    if process.poll() is not None:
        raise AssertionError(f"the hub exited with status {process.returncode}")
    try:
        return requests.get(url, timeout=5).status_code == 200
    except requests.ConnectionError:
        return False


def _stop(process: subprocess.Popen) -> None:
    """Stop the hub (it stops the servers and the service), then its whole session."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()


def _page_config(client, url: str) -> dict:
    """The JupyterLab page config a server serves (the JSON in its /lab page)."""
    response = client.get(url, timeout=60)
    response.raise_for_status()
    found = re.search(
        r'<script id="jupyter-config-data" type="application/json">(.*?)</script>',
        response.text,
        re.S,
    )
    assert found, f"no page config in {url}"
    return json.loads(found.group(1))


@pytest.fixture(scope="module")
def course_flow(hub):
    """Release -> fetch -> submit -> collect -> autograde -> feedback, through the hub."""
    for user in (INSTRUCTOR, *STUDENTS):
        hub.login(user)
    for user, seconds in hub.spawn(*STUDENTS).items():
        hub.timings[f"spawn {user} (s)"] = seconds

    hub.formgrader(f"assignment/{ASSIGNMENT}/assign")  # generate the student version
    hub.formgrader(f"assignment/{ASSIGNMENT}/release")

    # student1 fills in the reference solution; student2 submits the notebook untouched
    solutions = solution_sources()
    for user in STUDENTS:
        listing = hub.student(user, "fetch", assignment_id=ASSIGNMENT)["value"]
        fetched = next(item for item in listing if item["assignment_id"] == ASSIGNMENT)
        path = fetched["notebooks"][0]["path"]
        if user == STUDENTS[0]:
            contents = f"{hub.url}/user/{user}/api/contents/{path}"
            client = hub.client(user)
            model = client.get(contents, params={"content": 1}, timeout=60).json()
            notebook = nbformat.from_dict(model["content"])
            for cell in notebook.cells:
                grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
                if grade_id in solutions:
                    cell.source = solutions[grade_id].strip()
            body = {"type": "notebook", "format": "json", "content": notebook}
            client.put(contents, json=body, timeout=60).raise_for_status()
        hub.student(user, "submit", assignment_id=ASSIGNMENT)
    hub.results["fetched path"] = path

    hub.formgrader(f"assignment/{ASSIGNMENT}/collect")
    for user in STUDENTS:
        began = time.monotonic()
        result = hub.formgrader(f"submission/{ASSIGNMENT}/{user}/autograde")
        hub.timings[f"autograde {user} (s)"] = time.monotonic() - began
        hub.results.setdefault("autograde log", {})[user] = result.get("log", "")
    hub.formgrader(f"assignment/{ASSIGNMENT}/generate_feedback")
    hub.formgrader(f"assignment/{ASSIGNMENT}/release_feedback")
    for user in STUDENTS:
        hub.student(user, "fetch_feedback", assignment_id=ASSIGNMENT)
    response = hub.client(INSTRUCTOR).get(
        f"{hub.url}{SERVICE}/formgrader/api/submissions/{ASSIGNMENT}", timeout=60
    )
    response.raise_for_status()
    hub.results["submissions"] = {item["student"]: item for item in response.json()}
    return hub


def _report_timings(timings: dict[str, float], logs: dict[str, str]) -> None:
    """Print the timings; keep them and the autograde logs in test-output/ (for the guide)."""
    out = REPO / "test-output"
    out.mkdir(exist_ok=True)
    rounded = {name: round(seconds, 1) for name, seconds in timings.items()}
    rounded["load average (1 min)"] = round(os.getloadavg()[0], 2)
    (out / "hub-timings.json").write_text(json.dumps(rounded, indent=2) + "\n")
    for student, log in logs.items():
        (out / f"hub-autograde-{student}.log").write_text(log)
    print("\nlive hub timings:", json.dumps(rounded))


@pytest.mark.parametrize("student, score", [(STUDENTS[0], 10.0), (STUDENTS[1], 0.0)])
@pytest.mark.slow
@pytest.mark.hub
def test_course_flow_through_the_hub_grades_each_student(course_flow, student, score):
    submission = course_flow.results["submissions"][student]
    assert submission["autograded"] and submission["max_score"] == 10.0
    assert submission["score"] == score, submission
    home = Path(pwd.getpwnam(student).pw_dir)
    feedback = list((home / COURSE / ASSIGNMENT / "feedback").rglob(f"{NOTEBOOK}.html"))
    assert feedback, f"{student} fetched no feedback"
    assert "test accuracy" in feedback[0].read_text() or score == 0.0
    sandbox = importlib.util.find_spec("mnist_widgets.grading.sandbox") is not None
    if sandbox:  # the notebook ran sealed, as the grader account, not in the service
        log = course_flow.results["autograde log"][student]
        assert "sealed run:" in log
        # the grader account is not root: no cgroup caps, no tmpfs, and it says so
        assert "no disk cap but on each file's size (1 GiB)" in log or student != STUDENTS[0]


@pytest.mark.slow
@pytest.mark.hub
def test_grader_keeps_nbgrader_menus_and_students_do_not(course_flow):
    """Defect 2, live: each server's page config and server extensions."""
    hub = course_flow
    instructor = hub.client(INSTRUCTOR)
    grader = set(_page_config(instructor, f"{hub.url}{SERVICE}/lab")["disabledExtensions"])
    assert not grader & set(NBGRADER_LAB_MENUS), grader
    status = instructor.get(f"{hub.url}{SERVICE}/formgrader/api/status", timeout=30)
    assert status.status_code == 200
    for user in STUDENTS:
        client = hub.client(user)
        page = _page_config(client, f"{hub.url}/user/{user}/lab")
        assert set(NBGRADER_LAB_MENUS) <= set(page["disabledExtensions"]), page
        status = client.get(f"{hub.url}/user/{user}/formgrader/api/status", timeout=30)
        assert status.status_code == 404, "the formgrader runs on a student's server"


@pytest.mark.slow
@pytest.mark.hub
def test_instructor_sees_the_course_once(hub):
    """Defect 5: the course list, from the grader's service and the instructor's server."""
    if INSTRUCTOR not in hub.tokens:
        hub.login(INSTRUCTOR)
    hub.timings[f"spawn {INSTRUCTOR} (s)"] = hub.spawn(INSTRUCTOR)[INSTRUCTOR]
    client = hub.client(INSTRUCTOR)
    own = client.get(f"{hub.url}/user/{INSTRUCTOR}/formgraders", timeout=60).json()
    assert own["success"], own
    assert [(c["course_id"], c["kind"]) for c in own["value"]] == [(COURSE, "jupyterhub")]
    assert own["value"][0]["url"].startswith(f"{hub.url}{SERVICE}/")
    service = client.get(f"{hub.url}{SERVICE}/formgraders", timeout=60).json()
    assert service["success"], service["value"]
    assert [(c["course_id"], c["kind"]) for c in service["value"]] == [(COURSE, "local")]
    assert "Formgrader not available" not in hub.log.read_text()


@pytest.mark.slow
@pytest.mark.hub
def test_students_cannot_read_each_other_or_the_course(course_flow):
    """Defect 3 and the exchange: homes, the course folder, the gradebook, the inbound."""
    hub = course_flow
    other, reader = STUDENTS
    notebook = Path(pwd.getpwnam(other).pw_dir) / hub.results["fetched path"]
    inbound = hub.exchange / COURSE / "inbound"
    outbound = hub.exchange / COURSE / "outbound" / ASSIGNMENT
    # what a student may read: their own work and the released assignment
    own = Path(pwd.getpwnam(reader).pw_dir) / hub.results["fetched path"]
    assert _as(reader, "cat", str(own)).returncode == 0
    assert _as(reader, "ls", str(outbound)).returncode == 0
    closed = {
        "another student's home": ["ls", str(notebook.parents[2])],
        "another student's notebook": ["cat", str(notebook)],
        "the course folder": ["ls", str(hub.course)],
        "the gradebook": ["cat", str(hub.course / "gradebook.db")],
        "the solutions": ["cat", str(hub.course / "source" / ASSIGNMENT / f"{NOTEBOOK}.ipynb")],
        "others' submissions": ["ls", str(inbound)],
    }
    opened = [what for what, argv in closed.items() if _as(reader, *argv).returncode == 0]
    assert not opened, f"{reader} can read: {opened}"
    assert (hub.course / "gradebook.db").is_file()  # it exists; the student just cannot read it


@pytest.mark.slow
@pytest.mark.hub
def test_doctor_verdicts_before_and_after_closing_a_home(course_flow):
    hub = course_flow
    done = hub.doctor()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "all checks hold" in done.stdout
    home = Path(pwd.getpwnam(STUDENTS[1]).pw_dir)
    home.chmod(0o755)  # as Debian's useradd leaves it
    try:
        done = hub.doctor()
        assert done.returncode == 1, done.stdout
        failing = [line for line in done.stdout.splitlines() if line.startswith("FAIL")]
        assert failing == [
            f"FAIL  homes: {home} is open to other users: run sudo chmod 700 {home}"
        ], done.stdout
    finally:
        home.chmod(0o700)
    assert hub.doctor().returncode == 0


@pytest.mark.slow
@pytest.mark.hub
def test_local_spawner_limits_are_variables_the_guide_says_so(course_flow):
    """Defect 4, live: under LocalProcessSpawner a server gets MEM_LIMIT but no cap."""
    hub = course_flow
    uid = pwd.getpwnam(STUDENTS[0]).pw_uid
    servers = [
        proc
        for proc in Path("/proc").iterdir()
        if proc.name.isdigit()
        and _owner(proc) == uid
        and b"jupyterhub-singleuser" in _read(proc / "cmdline")
    ]
    assert servers, f"no server process of {STUDENTS[0]}"
    environ = _read(servers[0] / "environ").split(b"\0")
    for name in (b"MEM_LIMIT=", b"CPU_LIMIT="):  # the config's limits, as variables
        assert any(item.startswith(name) for item in environ), name
    hub_cgroup = _read(Path(f"/proc/{hub.pid}/cgroup"))
    if _read(servers[0] / "cgroup") == hub_cgroup:  # no cgroup of its own: nothing enforced
        assert re.search(r"LocalProcessSpawner[^.]*does not enforce", GUIDE.read_text())


def _owner(proc: Path) -> int | None:
    try:
        return proc.stat().st_uid
    except FileNotFoundError:
        return None


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return b""
