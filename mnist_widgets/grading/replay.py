"""Re-run an assignment's test cells in a fresh interpreter, away from the student's kernel.

The autograder runs a student's notebook in one kernel; whatever the student's cells did to
that kernel (patched ``subprocess``, ``keras``, our own checks, IPython's error display)
can bend what a test cell prints there. ``ReplayTestsInFreshProcess`` (see
``preprocessors``) hands the instructor's test cell sources, restored from the gradebook,
to this module, started as ``python -I -m mnist_widgets.grading.replay CELLS OUT [SANDBOX]``
in the notebook's folder; with SANDBOX (a ``SandboxSettings`` as JSON) every saved model is
measured in a sandbox (``measure.measure_sealed``). Each cell runs in a namespace of its own,
like a small kernel: its printed text, its error, and the value of a last bare expression
are written to OUT as JSON, one entry per cell.
"""

from __future__ import annotations

import ast
import contextlib
import io
import json
import sys
import traceback
from pathlib import Path
from typing import Any

MAX_TRACEBACK_LINES = 12


def run_cell(source: str, name: str) -> dict[str, Any]:
    """Execute one cell's source; return ``{"stdout", "result", "error"}``."""
    outcome: dict[str, Any] = {"stdout": "", "result": None, "error": None}
    namespace: dict[str, Any] = {"__name__": "__main__"}
    buffer = io.StringIO()
    try:
        tree = ast.parse(source, filename=name)
        last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
        with contextlib.redirect_stdout(buffer):
            exec(compile(tree, name, "exec"), namespace)
            if last is not None:
                value = eval(compile(ast.Expression(last.value), name, "eval"), namespace)
                outcome["result"] = None if value is None else repr(value)
    except BaseException as exc:  # the cell's own failure is the test result
        frames = traceback.format_exception(type(exc), exc, exc.__traceback__)
        lines = "".join(frames).rstrip().splitlines()
        if len(lines) > MAX_TRACEBACK_LINES:
            lines = lines[:2] + ["  ..."] + lines[-(MAX_TRACEBACK_LINES - 3) :]
        outcome["error"] = {"ename": type(exc).__name__, "evalue": str(exc), "traceback": lines}
    outcome["stdout"] = buffer.getvalue()
    return outcome


def replay(sources: list[str]) -> list[dict[str, Any]]:
    return [run_cell(source, f"<test cell {i + 1}>") for i, source in enumerate(sources)]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) not in (2, 3):
        print(
            "usage: python -m mnist_widgets.grading.replay CELLS.json OUT.json [SANDBOX.json]",
            file=sys.stderr,
        )
        return 2
    if len(args) == 3:
        from .checks import measure_with
        from .measure import measure_sealed
        from .sandbox import settings_from_json

        settings = settings_from_json(Path(args[2]).read_text())
        # the grader checked that a sandbox starts before it started this replay
        measure_with(lambda path, timeout: measure_sealed(path, settings, probe=False))
    else:  # the grader opted out of the sandbox: still a fresh interpreter, never this one
        from .checks import evaluate_in_fresh_process, measure_with

        measure_with(evaluate_in_fresh_process)
    sources = json.loads(Path(args[0]).read_text())
    Path(args[1]).write_text(json.dumps(replay(sources)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
