"""Runs INSIDE the sandbox: execute one notebook with a kernel that lives there too.

``python -I -m mnist_widgets.grading.executor IN.ipynb OUT.ipynb SETTINGS.json``

The kernel and this executor share the sandbox's own network namespace (their loopback is
not the grader's). It drives the kernel with nbclient, set up as nbgrader's ``Execute``
sets it up (errors do not stop the notebook; a cell over the timeout is interrupted and
shows a ``CellTimeoutError``), without importing nbgrader, and without the slow optional
import nbformat would bring (``lean_imports``). When the last cell has run, the kernel is
killed rather than asked to shut down: the sandbox ends whatever it leaves anyway.
OUT is rewritten after every cell, with the indexes of the cells that ran in
``metadata.sealed.executed``, so the trusted side knows how far the notebook got even if
this process is killed; a kernel that dies is recorded in ``metadata.sealed.stopped``.
Nothing here is trusted: the grader keeps only validated outputs of OUT.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

from .lean_imports import skip_slow_format_checks

skip_slow_format_checks()

import nbformat  # noqa: E402 - after the slow import is kept out
from nbformat.notebooknode import NotebookNode  # noqa: E402

# nbgrader's Execute.error_on_timeout: what a cell interrupted at its timeout shows
TIMEOUT_ERROR = {
    "ename": "CellTimeoutError",
    "evalue": "",
    "traceback": ["\x1b[0;31mCellTimeoutError\x1b[0m: No reply from kernel before timeout"],
}


def _write(nb, path: Path, executed: list[int], stopped: str | None = None) -> None:
    nb.metadata["sealed"] = {"executed": list(executed), "stopped": stopped}
    partial = path.with_suffix(".partial")
    nbformat.write(nb, partial)
    os.replace(partial, path)


def record_reply_error(cell: NotebookNode, reply: dict) -> None:
    """Append the reply's error to the cell unless an output holds it (as nbgrader does)."""
    content = reply.get("content", {})
    if content.get("status") != "error":
        return
    if any(o.output_type == "error" and o.ename == content.get("ename") for o in cell.outputs):
        return
    traceback = content.get("traceback") or [
        "ERROR: An error occurred while showtraceback was disabled"
    ]
    cell.outputs.append(
        nbformat.v4.new_output(
            "error", ename=content.get("ename"), evalue=content.get("evalue"), traceback=traceback
        )
    )


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    source, target, settings_file = (Path(a) for a in args)
    settings = json.loads(settings_file.read_text())
    logging.basicConfig(level=logging.WARNING, format="[sandbox] %(levelname)s %(message)s")

    from nbclient import NotebookClient

    nb = nbformat.read(source, as_version=4)
    executed: list[int] = []

    def on_cell_executed(cell, cell_index, execute_reply, **_):
        record_reply_error(cell, execute_reply)
        executed.append(int(cell_index))
        _write(nb, target, executed)

    client = NotebookClient(
        nb,
        timeout=settings["cell_timeout"] or None,
        startup_timeout=settings["startup_timeout"],
        interrupt_on_timeout=settings["interrupt_on_timeout"],
        error_on_timeout=TIMEOUT_ERROR,
        allow_errors=True,
        raise_on_iopub_timeout=True,
        resources={"metadata": {"path": os.getcwd()}},
        shutdown_kernel="immediate",
        on_cell_executed=on_cell_executed,
    )
    client.log = logging.getLogger("executor")
    try:
        client.execute()
    except Exception as exc:  # a dead kernel, a kernel that never started
        stopped = f"{type(exc).__name__}: {str(exc)[:300]}"
        client.log.error("execution stopped: %s", stopped)
        _write(nb, target, executed, stopped)
        return 0
    _write(nb, target, executed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
