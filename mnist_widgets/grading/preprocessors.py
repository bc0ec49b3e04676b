"""nbgrader preprocessors for the course; ``assignments/nbgrader_config.py`` chains them.

- ``SealedExecute`` replaces nbgrader's ``Execute``: the notebook runs in a sandbox
  (``sealed.execute_sealed``) with memory and process caps; a notebook over a limit is
  graded as far as it got, and where no sandbox can start, autograde stops.
- ``ReplayTestsInFreshProcess`` runs after ``Execute``: the test cells that use
  ``mnist_widgets.grading`` are run again, from their gradebook source, in a fresh
  interpreter (``replay``), and their outputs replaced by that run's, so the grade comes
  from a process the student's code never touched.
- ``TruncateOutputs`` caps the characters an output may hold, since nbgrader's
  ``LimitOutput`` counts lines and one line can hold megabytes.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import Execute, NbGraderPreprocessor
from traitlets import Bool, Integer, List, Unicode

from ..errors import SandboxError
from .checks import clean_environment
from .limits import Caps
from .sandbox import (
    NOBODY,
    UNSAFE_SETTING,
    GiB,
    MiB,
    SandboxSettings,
    settings_to_json,
    unavailable_reason,
)
from .scratch import disk_cap_note
from .sealed import execute_sealed, is_replayed

REPLAY_MODULE = "mnist_widgets.grading.replay"
NOTICE = "[re-run by the grader in a fresh Python process]\n"


def _stream(text: str) -> NotebookNode:
    return NotebookNode(output_type="stream", name="stdout", text=text)


def _error(ename: str, evalue: str, traceback: list[str]) -> NotebookNode:
    return NotebookNode(output_type="error", ename=ename, evalue=evalue, traceback=traceback)


def _result(text: str) -> NotebookNode:
    return NotebookNode(
        output_type="execute_result", execution_count=None, metadata={}, data={"text/plain": text}
    )


def outputs_of(outcome: dict[str, Any]) -> list[NotebookNode]:
    """A replayed cell's outcome as notebook outputs, in the order a kernel would give them."""
    outputs = [_stream(NOTICE + outcome.get("stdout", ""))]
    error = outcome.get("error")
    if error:
        outputs.append(_error(error["ename"], error["evalue"], list(error["traceback"])))
    elif outcome.get("result") is not None:
        outputs.append(_result(outcome["result"]))
    return outputs


class SealedExecute(Execute):
    """nbgrader's ``Execute``, with the notebook's kernel and executor in a sandbox.

    ``Execute``'s settings (``timeout``, ``interrupt_on_timeout``, ``startup_timeout``)
    apply inside. Only cell outputs come back; sources and metadata stay nbgrader's.
    """

    memory_limit = Integer(
        6 * GiB,
        allow_none=True,
        help="Bytes of memory one notebook's sandbox may use (None: no cap).",
    ).tag(config=True)
    process_limit = Integer(
        1024,
        allow_none=True,
        help="Processes and threads one notebook's sandbox may run at once (None: no cap).",
    ).tag(config=True)
    disk_limit = Integer(
        1 * GiB,
        allow_none=True,
        help="Bytes of files one notebook may write (a tmpfs of this size as root; without "
        "root, only a cap on each file's size). None: no cap.",
    ).tag(config=True)
    wall_timeout = Integer(
        3600, help="Seconds one notebook's sandbox may run in all, whatever its cells do."
    ).tag(config=True)
    sandbox_uid = Integer(
        NOBODY, help="The uid (and gid) the sandbox runs as when nbgrader runs as root."
    ).tag(config=True)
    copy_out = List(
        ["*.keras"], help="Files of the notebook's folder copied back after it ran (patterns)."
    ).tag(config=True)
    max_copy_bytes = Integer(
        256 * MiB, help="Largest file copied back from the sandbox, in bytes."
    ).tag(config=True)
    readonly_paths = List(
        [], help="Extra host paths the sandbox sees read-only at the same place."
    ).tag(config=True)
    unsafe_grade_without_sandbox = Bool(
        False,
        help="UNSAFE: where no sandbox can start, run students' code with all of the "
        "grader's rights (the kernel can rewrite the grader, the gradebook, the course).",
    ).tag(config=True)

    _said: set[str] = set()  # one-line notices already given in this process

    def settings(self) -> SandboxSettings:
        return SandboxSettings(
            memory_bytes=self.memory_limit,
            disk_bytes=self.disk_limit,
            max_processes=self.process_limit,
            cell_timeout=self.timeout or 0,
            startup_timeout=self.startup_timeout,
            interrupt_on_timeout=self.interrupt_on_timeout,
            wall_timeout=float(self.wall_timeout),
            uid=self.sandbox_uid,
            gid=self.sandbox_uid,
            copy_out=tuple(self.copy_out),
            max_copy_bytes=self.max_copy_bytes,
            readonly=tuple(self.readonly_paths),
            skip_marker=self._replayed_marker(),
        )

    def _replayed_marker(self) -> str:
        """The replay's marker when the replay is in the autograde chain, else "" (run all)."""
        chain = self.config.get("Autograde", {}).get("autograde_preprocessors", [])
        names = {p if isinstance(p, str) else f"{p.__module__}.{p.__name__}" for p in chain}
        if not any(name.endswith(".ReplayTestsInFreshProcess") for name in names):
            return ""
        replay = self.config.get("ReplayTestsInFreshProcess", {})
        return replay.get("marker", ReplayTestsInFreshProcess.marker.default_value)

    def _once(self, text: str, level: str = "warning") -> None:
        if text not in self._said:
            self._said.add(text)
            getattr(self.log, level)(text)

    def _say_if_uncapped(self, settings: SandboxSettings) -> None:
        """Once per process, before the first notebook: one line if no cap can be set."""
        if "caps" in self._said:
            return
        self._said.add("caps")
        caps, note = Caps.create(settings.memory_bytes, settings.max_processes)
        if caps is not None:
            caps.close()
        if note:
            self.log.warning("%s", note)
        disk_note = disk_cap_note(settings.disk_bytes)
        if disk_note:
            self.log.warning("%s", disk_note)

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        folder = Path(resources.get("metadata", {}).get("path") or ".")
        reason = unavailable_reason()
        if reason and self.unsafe_grade_without_sandbox:
            self._once(f"grading WITHOUT a sandbox (unsafe_grade_without_sandbox): {reason}")
            return super().preprocess(nb, resources)
        settings = self.settings()
        try:
            if reason:
                raise SandboxError(reason)
            self._say_if_uncapped(settings)
            executed, outcome = execute_sealed(nb, folder, settings)
        except SandboxError as exc:
            self.log.error(
                "the grading sandbox cannot start: %s; to grade without it (UNSAFE) set %s",
                exc,
                UNSAFE_SETTING,
            )
            shutil.rmtree(folder, ignore_errors=True)  # so the next autograde redoes it
            raise SystemExit(1) from None
        for line in outcome.log.splitlines():
            if line.startswith(
                ("[sandbox] ERROR", "[sandbox] WARNING", "not copied out", "not copied in")
            ):
                self.log.warning("%s", line[:300])
        peak = f", peak memory {outcome.peak_memory / GiB:.2f} GiB" if outcome.peak_memory else ""
        self.log.info(
            "sealed run: %d of %d cells in %.1f s%s%s",
            outcome.cells_run,
            outcome.cells_total,
            outcome.seconds,
            peak,
            f"; {outcome.message}" if outcome.message else "",
        )
        nb.cells = executed.cells
        return nb, resources


class ReplayTestsInFreshProcess(NbGraderPreprocessor):
    """Replace the outputs of graded test cells by a fresh interpreter's run of their source."""

    marker = Unicode(
        "mnist_widgets.grading",
        help="Autograded test cells whose source contains this text are replayed.",
    ).tag(config=True)

    timeout = Integer(900, help="Seconds the replay of one notebook's test cells may take.").tag(
        config=True
    )

    python = Unicode(sys.executable, help="The interpreter that replays the cells.").tag(
        config=True
    )

    sealed_measurement = Bool(
        True,
        help="Measure each saved model in the sandbox (False is UNSAFE: loading a model file "
        "has run code in Keras before; only for timing the sandbox's cost).",
    ).tag(config=True)

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        cells = [cell for cell in nb.cells if is_replayed(cell, self.marker)]
        if not cells:
            return nb, resources
        folder = resources.get("metadata", {}).get("path") or "."
        outcomes = self._replay([cell.source for cell in cells], Path(folder))
        for cell, outcome in zip(cells, outcomes, strict=True):
            cell.outputs = outputs_of(outcome)
        return nb, resources

    def _sealed_settings(self) -> SandboxSettings | None:
        """The sandbox for measurements (``SealedExecute``'s), or None when grading unsafely."""
        sealed = SealedExecute(parent=self.parent, config=self.config)
        if not self.sealed_measurement:
            return None
        if unavailable_reason() and sealed.unsafe_grade_without_sandbox:
            return None
        return sealed.settings()

    def _replay(self, sources: list[str], folder: Path) -> list[dict[str, Any]]:
        with tempfile.TemporaryDirectory(prefix="mnist-widgets-replay-") as scratch:
            cells_file = Path(scratch) / "cells.json"
            out_file = Path(scratch) / "outcomes.json"
            cells_file.write_text(json.dumps(sources))
            command = [self.python, "-I", "-m", REPLAY_MODULE, str(cells_file), str(out_file)]
            settings = self._sealed_settings()
            if settings is not None:
                (Path(scratch) / "sandbox.json").write_text(settings_to_json(settings))
                command.append(str(Path(scratch) / "sandbox.json"))
            try:
                done = subprocess.run(
                    command,
                    cwd=folder,
                    env=clean_environment(scratch),
                    capture_output=True,
                    text=True,
                    timeout=self.timeout,
                    stdin=subprocess.DEVNULL,
                )
                if done.returncode == 0 and out_file.is_file():
                    return json.loads(out_file.read_text())
                why = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
            except subprocess.TimeoutExpired:
                why = f"the test cells took over {self.timeout} s"
        self.log.error("Replaying test cells failed: %s", why)
        failure = {"ename": "GradingError", "evalue": why, "traceback": [f"GradingError: {why}"]}
        return [{"stdout": "", "result": None, "error": failure} for _ in sources]

    def preprocess_cell(self, cell, resources, index):  # the work is done per notebook
        return cell, resources


class TruncateOutputs(NbGraderPreprocessor):
    """Cap each text output at ``max_chars`` and drop rich outputs over ``max_bytes``."""

    max_chars = Integer(20_000, help="Characters kept per stream or text output.").tag(config=True)
    max_bytes = Integer(2_000_000, help="Largest rich output (image, HTML) kept, in bytes.").tag(
        config=True
    )

    def _cut(self, text: str | list[str]) -> str:
        text = "".join(text) if isinstance(text, list) else text
        if len(text) <= self.max_chars:
            return text
        dropped = len(text) - self.max_chars
        return text[: self.max_chars] + f"\n... output truncated ({dropped:,} characters) ...\n"

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return cell, resources
        kept = []
        for output in cell.outputs:
            if output.output_type == "stream":
                output.text = self._cut(output.text)
            elif output.output_type in ("execute_result", "display_data"):
                size = sum(len(str(v)) for v in output.get("data", {}).values())
                if size > self.max_bytes:
                    output = _stream(f"... a {size:,}-byte output was dropped ...\n")
                elif "text/plain" in output.get("data", {}):
                    output.data["text/plain"] = self._cut(output.data["text/plain"])
            elif output.output_type == "error":
                output.evalue = self._cut(output.evalue)
            kept.append(output)
        cell.outputs = kept
        return cell, resources
