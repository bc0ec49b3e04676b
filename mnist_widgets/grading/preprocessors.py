"""nbgrader preprocessors for the course; ``assignments/nbgrader_config.py`` chains them.

- ``ReplayTestsInFreshProcess`` runs after ``Execute``: the test cells that use
  ``mnist_widgets.grading`` are run again, from their gradebook source, in a fresh
  interpreter (``replay``), and their outputs replaced by that run's, so the grade comes
  from a process the student's code never touched.
- ``TruncateOutputs`` caps the characters an output may hold, since nbgrader's
  ``LimitOutput`` counts lines and one line can hold megabytes.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from nbformat.notebooknode import NotebookNode
from nbgrader import utils
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Integer, Unicode

from .checks import clean_environment

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

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        cells = [
            cell
            for cell in nb.cells
            if cell.cell_type == "code"
            and utils.is_grade(cell)
            and not utils.is_solution(cell)
            and self.marker in cell.source
        ]
        if not cells:
            return nb, resources
        folder = resources.get("metadata", {}).get("path") or "."
        outcomes = self._replay([cell.source for cell in cells], Path(folder))
        for cell, outcome in zip(cells, outcomes, strict=True):
            cell.outputs = outputs_of(outcome)
        return nb, resources

    def _replay(self, sources: list[str], folder: Path) -> list[dict[str, Any]]:
        with tempfile.TemporaryDirectory(prefix="mnist-widgets-replay-") as scratch:
            cells_file = Path(scratch) / "cells.json"
            out_file = Path(scratch) / "outcomes.json"
            cells_file.write_text(json.dumps(sources))
            command = [self.python, "-I", "-m", REPLAY_MODULE, str(cells_file), str(out_file)]
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
