"""Runs INSIDE the sandbox: execute one notebook with a kernel that lives there too.

``python -I -m mnist_widgets.grading.executor IN.ipynb OUT.ipynb SETTINGS.json``

The kernel and this executor share the sandbox's own network namespace (their loopback is
not the grader's). It uses nbgrader's ``Execute`` (same timeouts, interrupts and
``CellTimeoutError`` outputs as an unsealed autograde) and rewrites OUT after every cell,
with the indexes of the cells that ran in ``metadata.sealed.executed``, so the trusted
side knows how far the notebook got even if this process is killed. A kernel that dies
is recorded in ``metadata.sealed.stopped``. Nothing here is trusted: the grader keeps only
validated outputs of OUT.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

import nbformat


def _write(nb, path: Path, executed: list[int], stopped: str | None = None) -> None:
    nb.metadata["sealed"] = {"executed": list(executed), "stopped": stopped}
    partial = path.with_suffix(".partial")
    nbformat.write(nb, partial)
    os.replace(partial, path)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    source, target, settings_file = (Path(a) for a in args)
    settings = json.loads(settings_file.read_text())
    logging.basicConfig(level=logging.INFO, format="[sandbox] %(levelname)s %(message)s")

    from nbgrader.preprocessors import Execute

    nb = nbformat.read(source, as_version=4)
    executed: list[int] = []

    class SealedExecutor(Execute):
        def on_cell_executed(self, **kwargs):
            super().on_cell_executed(**kwargs)
            executed.append(int(kwargs["cell_index"]))
            _write(self.nb, target, executed)

    executor = SealedExecutor(
        timeout=settings["cell_timeout"],
        startup_timeout=settings["startup_timeout"],
        interrupt_on_timeout=settings["interrupt_on_timeout"],
    )
    executor.log = logging.getLogger("executor")
    resources = {"metadata": {"path": os.getcwd()}}
    try:
        executor.preprocess(nb, resources)
    except Exception as exc:  # a dead kernel, a kernel that never started
        stopped = f"{type(exc).__name__}: {str(exc)[:300]}"
        executor.log.error("execution stopped: %s", stopped)
        _write(nb, target, executed, stopped)
        return 0
    _write(nb, target, executed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
