"""``make lab``'s server step, as root and as a normal user: JupyterLab starts and answers.

The test runs the Makefile's own ``lab-server`` target on a free port with no browser. As
root it uses the test venv. As ``nobody`` (through ``runuser``) it needs a venv that user can
read: this one's Python lives under /root (mode 700), so the test makes a venv from Debian's
``/usr/bin/python3`` in a world-readable temporary folder and installs the same JupyterLab
version into it (from pip's cache when it is warm). The kit itself is not needed to start
the server.
"""

from __future__ import annotations

import importlib.metadata
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
SYSTEM_PYTHON = Path("/usr/bin/python3")
START_S = 120


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def lab_page(port: int, token: str) -> str | None:
    """The HTML of ``/lab``, or None while the server does not answer."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/lab?token={token}", timeout=5) as r:
            return r.read().decode("utf-8", "replace") if r.status == 200 else None
    except (OSError, urllib.error.URLError):
        return None


def serve_and_fetch(command: list[str], env: dict[str, str], port: int, token: str, log: Path):
    """Start ``command`` (make lab-server ...), wait for JupyterLab's page, stop the server;
    returns the page and everything the command printed."""
    with open(log, "wb") as out:
        process = subprocess.Popen(
            command,
            env=env,
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    page = None
    try:
        deadline = time.monotonic() + START_S
        while page is None and process.poll() is None and time.monotonic() < deadline:
            page = lab_page(port, token)
            if page is None:
                time.sleep(0.5)
    finally:
        try:
            os.killpg(process.pid, signal.SIGTERM)  # make and the server it started
            process.wait(timeout=20)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=20)
    return page, log.read_text(errors="replace")


def make_command(bin_dir: Path, port: int, token: str) -> list[str]:
    return [
        "make",
        "--no-print-directory",
        "-C",
        str(REPO),
        "lab-server",
        f"BIN={bin_dir}",
        f"PORT={port}",
        f"LAB_ARGS=--no-browser --ServerApp.port_retries=0 --IdentityProvider.token={token}",
    ]


def jupyter_dirs(home: Path) -> dict[str, str]:
    """Jupyter's per-user folders under ``home``, so the test leaves the user's own alone."""
    return {
        "HOME": str(home),
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTER_DATA_DIR": str(home / "data"),
        "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
    }


@pytest.fixture(scope="module")
def readable_root() -> Iterator[Path]:
    """A temporary folder every user can read (pytest's own tmp folders are root's only)."""
    base = Path(tempfile.mkdtemp(prefix="mnist-widgets-lab-"))
    base.chmod(0o755)
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def nobody_venv(readable_root: Path) -> Path:
    """A venv ``nobody`` can run, with this venv's JupyterLab version; its bin folder."""
    if os.geteuid() != 0:
        pytest.skip("only root can start a process as nobody")
    if shutil.which("runuser") is None:
        pytest.skip("runuser (util-linux) is not installed")
    if not SYSTEM_PYTHON.exists():
        pytest.skip(f"{SYSTEM_PYTHON} is missing: nobody cannot reach this venv's Python")
    venv = readable_root / "venv"
    made = subprocess.run(
        [str(SYSTEM_PYTHON), "-m", "venv", str(venv)], capture_output=True, text=True
    )
    if made.returncode != 0:
        pytest.skip(
            f"Debian's Python cannot make a venv (apt-get install python3-venv): "
            f"{made.stderr.strip().splitlines()[-1:]}"
        )
    version = importlib.metadata.version("jupyterlab")
    subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", f"jupyterlab=={version}"],
        check=True,
        capture_output=True,
    )
    subprocess.run(["chmod", "-R", "a+rX", str(venv)], check=True)
    return venv / "bin"


@pytest.mark.skipif(os.geteuid() != 0, reason="the root case needs root")
def test_make_lab_serves_jupyterlab_as_root(tmp_path: Path):
    port, token = free_port(), secrets.token_hex(8)
    env = {**os.environ, **jupyter_dirs(tmp_path)}
    bin_dir = Path(sys.executable).parent
    page, output = serve_and_fetch(
        make_command(bin_dir, port, token), env, port, token, tmp_path / "lab.log"
    )
    assert page is not None, f"JupyterLab did not answer on port {port}:\n{output[-3000:]}"
    assert "<title>JupyterLab</title>" in page
    assert "--allow-root" in output.splitlines()[0]  # the flag only root needs
    assert "Running as root is not recommended" not in output


def test_make_lab_serves_jupyterlab_as_nobody(nobody_venv: Path, readable_root: Path):
    home = readable_root / "home"
    home.mkdir()
    shutil.chown(home, "nobody", "nogroup")
    port, token = free_port(), secrets.token_hex(8)
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", **jupyter_dirs(home)}
    command = [
        shutil.which("runuser"),
        "-u",
        "nobody",
        "--",
        "env",
        *(f"{k}={v}" for k, v in env.items()),
        *make_command(nobody_venv, port, token),
    ]
    page, output = serve_and_fetch(command, env, port, token, readable_root / "lab.log")
    assert page is not None, f"JupyterLab did not answer on port {port}:\n{output[-3000:]}"
    assert "<title>JupyterLab</title>" in page
    assert "--allow-root" not in output.splitlines()[0]  # a normal user needs no flag
