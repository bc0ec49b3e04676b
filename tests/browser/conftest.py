"""Fixtures for the browser tests: JupyterLab and Notebook 7 servers, Debian's Chromium.

``lab`` starts ``python -m jupyterlab`` and ``notebook7`` starts ``python -m notebook``, each on
127.0.0.1 (free port, our own token, a temporary root, settings and workspaces directory), once
per session, killed at the end even when a test fails. ``notebook`` (JupyterLab) and
``notebook7_page`` (Notebook 7) write a notebook into that root with nbformat and open it in a
Chromium page driven by Playwright; the returned ``NotebookPage`` runs cells through the Run
menu (Notebook 7 has JupyterLab's menu bar and notebook panel, at ``/notebooks/PATH``) and
waits by polling, never by fixed sleeps. On a failure the page's screenshot, its console and
the server's log are saved under ``test-output/browser/``.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
OUTPUT = REPO / "test-output"
SCREENSHOTS = OUTPUT / "screenshots"
FAILURES = OUTPUT / "browser"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
# JupyterLab's settings (Notebook 7 reads the same plugins') for a quiet, fully rendered page:
# no news or update pop-ups, and every cell kept in the DOM (the default windowing drops cells
# scrolled out of view).
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
    "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
}
SERVER_START_S = 120
KERNEL_IDLE_S = 120
WIDGET_ERRORS = ("Error displaying widget", "Loading widget...")


TOUR = REPO / "notebooks" / "tour.ipynb"


def tour_cells(until_step: int, limit: int, epochs: int) -> list[str | tuple[str, str]]:
    """The tour's cells before ``## <until_step>.``, with its knobs turned down: as papermill
    does, a cell after the one tagged ``parameters`` sets ``LIMIT`` and ``EPOCHS``."""
    import nbformat

    cells: list[str | tuple[str, str]] = []
    for cell in nbformat.read(TOUR, as_version=4).cells:
        if cell.cell_type == "markdown":
            if cell.source.startswith(f"## {until_step}."):
                break
            cells.append(("markdown", cell.source))
        else:
            cells.append(cell.source)
            if "parameters" in cell.metadata.get("tags", []):
                cells.append(f"LIMIT = {limit}\nEPOCHS = {epochs}")
    return cells


@pytest.fixture(scope="session")
def tour() -> Callable[..., list[str | tuple[str, str]]]:
    """``tour(until_step, limit, epochs)``: the tour's first steps as cells (``tour_cells``)."""
    return tour_cells


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class JupyterServer:
    """A running Jupyter server: its address, token, root directory and log file."""

    app = "Jupyter"  # the application's name in messages

    url: str
    token: str
    root: Path
    log: Path
    process: subprocess.Popen = field(repr=False)

    def api(self, method: str, path: str, body: dict | None = None, timeout: float = 10.0):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            f"{self.url}{path}",
            data=data,
            method=method,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read()
        return json.loads(raw) if raw else None

    def write_notebook(self, name: str, cells: list[str | tuple[str, str]]) -> Path:
        """Write ``name.ipynb``: each cell is code, or ``("markdown", text)``."""
        import nbformat

        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = dict(KERNELSPEC)
        for cell in cells:
            if isinstance(cell, tuple):
                nb.cells.append(nbformat.v4.new_markdown_cell(cell[1]))
            else:
                nb.cells.append(nbformat.v4.new_code_cell(cell))
        path = self.root / f"{name}.ipynb"
        nbformat.write(nb, path)
        return path

    def notebook_url(self, path: Path) -> str:
        """The address that opens the notebook at ``path`` in this application."""
        raise NotImplementedError

    def shutdown_sessions(self, path: Path) -> None:
        """Shut down the kernels of the notebook at ``path`` (frees the CPU for the next test)."""
        relative = path.relative_to(self.root).as_posix()
        try:
            for session in self.api("GET", "/api/sessions"):
                if session.get("path") == relative:
                    self.api("DELETE", f"/api/sessions/{session['id']}", timeout=30)
        except (OSError, urllib.error.URLError):
            pass

    def running(self) -> bool:
        return self.process.poll() is None


class LabServer(JupyterServer):
    """A running JupyterLab."""

    app = "JupyterLab"

    def notebook_url(self, path: Path) -> str:
        """The notebook alone in a fresh workspace (no tabs restored from earlier tests)."""
        relative = path.relative_to(self.root).as_posix()
        workspace = re.sub(r"[^\w-]+", "-", path.stem) + "-" + secrets.token_hex(4)
        return f"{self.url}/lab/workspaces/{workspace}/tree/{relative}?reset&token={self.token}"


class Notebook7Server(JupyterServer):
    """A running Notebook 7 (the ``notebook`` package): one document per page."""

    app = "Notebook 7"

    def notebook_url(self, path: Path) -> str:
        relative = path.relative_to(self.root).as_posix()
        return f"{self.url}/notebooks/{relative}?token={self.token}"


def _write_settings(settings_dir: Path) -> None:
    for plugin, values in LAB_SETTINGS.items():
        target = settings_dir / f"{plugin}.jupyterlab-settings"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(values))


def _wait_for_status(server: JupyterServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not server.running():
            raise RuntimeError(f"{server.app} exited early; log: {server.log}")
        try:
            if "started" in server.api("GET", "/api/status", timeout=5):
                return
        except (OSError, urllib.error.URLError, ValueError):
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{server.app} did not answer /api/status within {timeout:.0f} s")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    process.terminate()  # the server shuts its kernels down on SIGTERM
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        pass
    try:  # whatever is left of the group we started (kernels included)
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    process.wait(timeout=15)


@contextmanager
def _serve(
    base: Path, module: str, app_class: str, server_class: type[JupyterServer]
) -> Iterator[JupyterServer]:
    """Start ``python -m module`` in ``base``; ``app_class`` names its settings' traits."""
    root, settings, workspaces, config, runtime = (
        base / name for name in ("root", "settings", "workspaces", "config", "runtime")
    )
    for directory in (root, settings, workspaces, config, runtime):
        directory.mkdir()
    _write_settings(settings)
    log = base / f"{module}.log"  # copied to test-output/browser/ when a test fails
    port, token = free_port(), secrets.token_hex(16)
    env = dict(os.environ)
    # kernels start as a user's do: the kit's configuration acts, and ipykernel forwards
    # C-level output (it does not while PYTEST_CURRENT_TEST is set)
    for name in ("TF_CPP_MIN_LOG_LEVEL", "PYTEST_CURRENT_TEST"):
        env.pop(name, None)
    env.update(
        JUPYTER_CONFIG_DIR=str(config),
        JUPYTER_RUNTIME_DIR=str(runtime),
        PYTHONUNBUFFERED="1",
    )
    # kernels inherit the server's environment, so they find the data where the tests do
    if os.environ.get("MNIST_WIDGETS_DATA"):
        env["MNIST_WIDGETS_DATA"] = os.environ["MNIST_WIDGETS_DATA"]
    command = [
        sys.executable,
        "-m",
        module,
        "--no-browser",
        "--ServerApp.open_browser=False",
        "--allow-root",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        f"--{app_class}.user_settings_dir={settings}",
        f"--{app_class}.workspaces_dir={workspaces}",
    ]
    with open(log, "wb") as log_file:
        process = subprocess.Popen(
            command,
            cwd=root,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = server_class(f"http://127.0.0.1:{port}", token, root, log, process)
    try:
        _wait_for_status(server, SERVER_START_S)
        yield server
    finally:
        _stop(process)


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    """A JupyterLab server for the session, in a temporary root, killed at the end."""
    pytest.importorskip("jupyterlab")
    with _serve(tmp_path_factory.mktemp("lab"), "jupyterlab", "LabApp", LabServer) as server:
        yield server


@pytest.fixture(scope="session")
def notebook7(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Notebook7Server]:
    """A Notebook 7 server for the session, in a temporary root, killed at the end."""
    pytest.importorskip("notebook", minversion="7")
    base = tmp_path_factory.mktemp("notebook7")
    with _serve(base, "notebook", "JupyterNotebookApp", Notebook7Server) as server:
        yield server


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """Debian's Chromium, headless, through Playwright (its own browser download is not used)."""
    if not CHROMIUM.exists():
        pytest.skip(f"Debian's Chromium is not at {CHROMIUM} (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()


class NotebookPage:
    """One notebook open in JupyterLab or Notebook 7, driven the way a person would: menus
    and clicks (both have JupyterLab's menu bar, Run menu and notebook panel)."""

    def __init__(self, page, server: JupyterServer, path: Path) -> None:
        self.page = page
        self.server = server
        self.path = path

    # -- opening and running ------------------------------------------------------------------
    def open(self, timeout: float = KERNEL_IDLE_S) -> NotebookPage:
        self.page.goto(self.server.notebook_url(self.path))
        self.page.locator(".jp-NotebookPanel .jp-Notebook").first.wait_for(timeout=timeout * 1000)
        self.wait_for_kernel_idle(timeout)
        return self

    def kernel_state(self) -> str | None:
        relative = self.path.relative_to(self.server.root).as_posix()
        for session in self.server.api("GET", "/api/sessions"):
            if session.get("path") == relative and session.get("kernel"):
                return session["kernel"].get("execution_state")
        return None

    def wait_for_kernel_idle(self, timeout: float = KERNEL_IDLE_S) -> None:
        """Both the server and the page's toolbar indicator say the kernel is idle."""
        indicator = self.page.locator('.jp-Notebook-ExecutionIndicator[data-status="idle"]')
        self.wait_until(
            lambda: self.kernel_state() == "idle" and indicator.count() > 0,
            timeout,
            "the kernel to be idle",
        )

    def run_menu(self, command: str) -> None:
        """Click Run in the main menu, then the item for the JupyterLab ``command``."""
        self.page.locator("#jp-MainMenu .lm-MenuBar-item", has_text=re.compile(r"^Run$")).click()
        self.page.locator(f'#jp-mainmenu-run li[data-command="{command}"]').click()

    def run_all(self, timeout: float = 180) -> None:
        """Run > Run All Cells, then wait until every code cell has an execution count."""
        self.run_menu("runmenu:run-all")
        self.wait_for_cells(range(self.code_cell_count()), timeout)

    def run_cell(self, index: int, timeout: float = 180) -> None:
        """Select code cell ``index`` and run it with Run > Run Selected Cell."""
        before = self.prompt(index)
        self.code_cell(index).locator(".jp-InputPrompt").click()
        self.run_menu("runmenu:run")
        self.wait_until(
            lambda: self.prompt(index) not in (before, "[*]:", "[ ]:", ""),
            timeout,
            f"code cell {index} to run",
        )

    def wait_for_cells(self, indices, timeout: float = 180) -> None:
        """Wait until the code cells ``indices`` have run; fail at once on a traceback."""
        indices = list(indices)

        def done() -> bool:
            failed = self.tracebacks()
            if failed:
                raise AssertionError("a cell failed:\n" + failed[0])
            return all(re.fullmatch(r"\[\d+\]:", self.prompt(i)) for i in indices)

        self.wait_until(done, timeout, f"code cells {indices} to finish")

    # -- reading the page ------------------------------------------------------------------------
    def code_cells(self):
        return self.page.locator(".jp-NotebookPanel .jp-Notebook .jp-CodeCell")

    def code_cell_count(self) -> int:
        return self.code_cells().count()

    def code_cell(self, index: int):
        return self.code_cells().nth(index)

    def prompt(self, index: int) -> str:
        return self.code_cell(index).locator(".jp-InputPrompt").first.inner_text().strip()

    def output(self, index: int):
        """The output area of code cell ``index``."""
        return self.code_cell(index).locator(".jp-OutputArea").first

    def output_text(self, index: int) -> str:
        return self.output(index).inner_text()

    def assert_no_errors(self) -> None:
        """No Python tracebacks, and no widget that failed or is still loading."""
        notebook = self.page.locator(".jp-NotebookPanel .jp-Notebook").first
        text = notebook.inner_text()
        for phrase in WIDGET_ERRORS:
            assert phrase not in text, f"the page shows {phrase!r}"
        tracebacks = self.tracebacks()
        assert not tracebacks, "a cell failed:\n" + "\n".join(tracebacks)

    def tracebacks(self) -> list[str]:
        """The texts of the error outputs on the page (stderr that names an error)."""
        errors = self.page.locator(
            '.jp-NotebookPanel .jp-Notebook [data-mime-type="application/vnd.jupyter.stderr"]'
        )
        return [t for t in errors.all_inner_texts() if "Traceback" in t or "Error" in t]

    def wait_for_widgets(self, index: int, timeout: float = 60):
        """Wait until code cell ``index`` shows a rendered widget; return the widget's node."""
        view = self.output(index).locator(".jupyter-widgets").first
        view.wait_for(state="visible", timeout=timeout * 1000)
        self.wait_until(
            lambda: not any(p in self.output_text(index) for p in WIDGET_ERRORS),
            timeout,
            f"the widgets of cell {index} to finish loading",
        )
        return view

    def click_image(self, image, x: float, y: float) -> None:
        """Click the ``<img>`` ``image`` at (``x``, ``y``) of its own pixels, however scaled."""
        image.wait_for(state="visible")
        self.wait_until(
            lambda: image.evaluate("img => img.complete && img.naturalWidth > 0"),
            30,
            "the image to load",
        )
        scale = image.bounding_box()["width"] / image.evaluate("img => img.naturalWidth")
        image.click(position={"x": x * scale, "y": y * scale})

    def screenshot(self, locator, name: str) -> Path:
        """Save ``locator`` as ``test-output/screenshots/<name>.png``.

        The notebook scrolls inside its panel, so an element taller than the panel would be cut:
        the viewport grows to fit it for the shot and is put back afterwards.
        """
        box = locator.bounding_box() or {"height": 0}
        with self._viewport_height(int(box["height"]) + 400):
            locator.scroll_into_view_if_needed()
            return self._save(locator, name)

    def screenshot_page(self, name: str, height: int = 0, top=None) -> Path:
        """Save the page as ``test-output/screenshots/<name>.png``, at least ``height`` pixels
        tall, with the element ``top`` (a locator) scrolled to the top of the notebook."""
        with self._viewport_height(height):
            if top is not None:
                top.evaluate("node => node.scrollIntoView({block: 'start'})")
            return self._save(self.page, name)

    def _save(self, target, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        target.screenshot(path=str(path), animations="disabled")
        return path

    @contextmanager
    def _viewport_height(self, height: int) -> Iterator[None]:
        """A viewport at least ``height`` pixels tall for the block, then the old one back."""
        viewport = self.page.viewport_size
        try:
            if viewport and height > viewport["height"]:
                self.page.set_viewport_size({"width": viewport["width"], "height": height})
                self.page.wait_for_timeout(300)  # let the application lay its panels out again
            yield
        finally:
            if viewport and self.page.viewport_size != viewport:
                self.page.set_viewport_size(viewport)

    def wait_until(self, condition: Callable[[], object], timeout: float, what: str):
        """Poll ``condition`` until it returns something true; fail after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while True:
            value = condition()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
            self.page.wait_for_timeout(250)


@contextmanager
def _pages(browser, server: JupyterServer, request: pytest.FixtureRequest) -> Iterator[Callable]:
    """``open_notebook(name, cells)`` in a fresh browser context; failure artefacts saved."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(30_000)
    console: list[str] = []
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    page.on("pageerror", lambda error: console.append(f"pageerror: {error}"))
    opened: list[Path] = []

    def open_notebook(name: str, cells: list[str | tuple[str, str]]) -> NotebookPage:
        path = server.write_notebook(name, cells)
        opened.append(path)
        return NotebookPage(page, server, path).open()

    try:
        yield open_notebook
    finally:
        report = getattr(request.node, "report_call", None)
        if report is not None and report.failed:
            FAILURES.mkdir(parents=True, exist_ok=True)
            stem = re.sub(r"[^\w.-]+", "_", request.node.name)
            try:
                page.screenshot(path=str(FAILURES / f"{stem}.png"), full_page=True)
            except Exception as exc:  # the page may be gone; the log still helps
                console.append(f"screenshot failed: {exc}")
            (FAILURES / f"{stem}.console.txt").write_text("\n".join(console))
            shutil.copy(server.log, FAILURES / f"{stem}.{server.log.name}")
        context.close()
        for path in opened:
            server.shutdown_sessions(path)


@pytest.fixture
def notebook(browser, lab: LabServer, request: pytest.FixtureRequest) -> Iterator[Callable]:
    """``notebook(name, cells)`` writes the notebook into the lab's root and opens it."""
    with _pages(browser, lab, request) as open_notebook:
        yield open_notebook


@pytest.fixture
def notebook7_page(
    browser, notebook7: Notebook7Server, request: pytest.FixtureRequest
) -> Iterator[Callable]:
    """``notebook7_page(name, cells)`` writes the notebook into Notebook 7's root, opens it."""
    with _pages(browser, notebook7, request) as open_notebook:
        yield open_notebook
