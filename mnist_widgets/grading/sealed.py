"""Sealed grading: a student's notebook, and the grader's measurement of its model, in a sandbox.

Neither entry point touches the gradebook; both are usable from a worker process:

- ``execute_sealed(nb, folder, settings) -> (executed_nb, ExecutionOutcome)`` runs one
  notebook (``nb``, as nbgrader restored it) in a sandbox whose only writable places are a
  private copy of ``folder`` (``/home/student``) and a private ``/tmp``, both capped in
  size (``scratch``: a tmpfs of ``settings.disk_bytes`` as root; ``/tmp`` is charged to the
  memory cap). The executor and
  its kernel both run inside (``executor``). Back come the outputs of each code cell
  (validated, sources and metadata from ``nb``) and the files matching
  ``settings.copy_out`` (regular files, size-capped), copied into ``folder``. Test cells
  that the fresh-process replay measures are not run in the kernel at all.
- ``measure.measure_sealed(model_path, settings) -> ModelReport`` measures a saved model
  in a sandbox that sees only that file and the test data.

``SandboxSettings`` (from ``sandbox``) holds the limits; ``ExecutionOutcome`` says how far
the notebook got and, when a limit stopped it, which one in one sentence.
"""

from __future__ import annotations

import copy
import errno
import fnmatch
import os
import shutil
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbformat.notebooknode import NotebookNode

from ..errors import GradingError
from .measure import DATA, data_mounts, read_regular_file, size_text
from .sandbox import (
    MiB,
    Mount,
    SandboxSettings,
    require_sandbox,
    run_sealed,
    running_as_root,
    sandbox_env,
    settings_to_json,
)
from .scratch import is_full, scratch

HOME = "/home/student"
RUN = "/sealed"
EXECUTOR_MODULE = "mnist_widgets.grading.executor"
_OUTPUT_TYPES = frozenset({"stream", "display_data", "execute_result", "error"})


@dataclass
class ExecutionOutcome:
    """How one sealed run went.

    ``limit`` is "memory", "processes", "time" or "kernel" (it died on its own) when the
    notebook did not run to its end normally; ``message`` is the sentence the feedback shows.
    """

    cells_run: int
    cells_total: int
    seconds: float
    limit: str | None = None
    message: str | None = None
    copied: tuple[str, ...] = ()
    log: str = ""
    caps_note: str | None = None
    peak_memory: int | None = None


def is_replayed(cell: NotebookNode, marker: str) -> bool:
    """A graded test cell (not a solution) that the fresh-process replay measures."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return (
        bool(marker)
        and cell.cell_type == "code"
        and bool(meta.get("grade"))
        and not meta.get("solution")
        and marker in cell.source
    )


def limit_sentence(limit: str | None, settings: SandboxSettings) -> str | None:
    """One sentence for the feedback, naming the limit the notebook went past."""
    sentences = {
        "memory": f"Your notebook used more than {size_text(settings.memory_bytes)} of memory "
        "and was stopped.",
        "processes": f"Your notebook tried to run more than {settings.max_processes} "
        "processes and threads at once; the extra ones were refused.",
        "time": f"Your notebook ran longer than the grader's {settings.wall_timeout:.0f} s "
        "and was stopped.",
        "kernel": "Your notebook's kernel died, and the cells after it did not run.",
        "disk": f"Your notebook wrote more than {size_text(settings.disk_bytes)} of files; "
        "what it wrote after that was refused.",
    }
    return sentences.get(limit) if limit else None


def _give_to_sandbox(path: Path, settings: SandboxSettings) -> None:
    if running_as_root():
        os.chown(path, settings.uid, settings.gid)


def _copy_in(folder: Path, home: Path, settings: SandboxSettings, log: list[str]) -> None:
    """Regular files and folders of ``folder`` (no links, no notebooks) into ``home``.

    A file that does not fit in the sandbox's disk stays out, with a line in ``log``.
    """
    for dirpath, dirnames, filenames in os.walk(folder):
        rel = Path(dirpath).relative_to(folder)
        target_dir = home / rel
        for name in list(dirnames):
            if os.path.islink(os.path.join(dirpath, name)):
                dirnames.remove(name)
                continue
            (target_dir / name).mkdir(mode=0o755)
            _give_to_sandbox(target_dir / name, settings)
        for name in filenames:
            source = Path(dirpath) / name
            # the notebooks there hold the restored hidden tests: they stay outside
            if name.endswith(".ipynb") or not stat.S_ISREG(os.lstat(source).st_mode):
                continue
            try:
                shutil.copyfile(source, target_dir / name, follow_symlinks=False)
            except OSError as exc:
                if exc.errno not in (errno.ENOSPC, errno.EFBIG):
                    raise
                (target_dir / name).unlink(missing_ok=True)
                log.append(f"not copied in: {rel / name}: larger than the sandbox's disk")
                continue
            _give_to_sandbox(target_dir / name, settings)


def _copy_out(home: Path, folder: Path, settings: SandboxSettings, log: list[str]) -> list[str]:
    copied = []
    for entry in sorted(os.scandir(home), key=lambda e: e.name):
        if not any(fnmatch.fnmatch(entry.name, p) for p in settings.copy_out):
            continue
        try:
            data = read_regular_file(Path(entry.path), settings.max_copy_bytes)
        except (OSError, GradingError) as exc:
            log.append(f"not copied out: {entry.name}: {exc}")
            continue
        target = folder / entry.name
        if target.is_symlink() or target.exists():
            target.unlink()
        partial = folder / f".{entry.name}.partial"
        partial.write_bytes(data)
        os.replace(partial, target)
        copied.append(entry.name)
    return copied


def _clean_outputs(outputs) -> list[NotebookNode]:
    """The outputs, if they form a valid nbformat-4 output list; else nothing."""
    if not isinstance(outputs, list) or not all(
        isinstance(o, dict) and o.get("output_type") in _OUTPUT_TYPES for o in outputs
    ):
        return []
    try:
        cell = nbformat.v4.new_code_cell(outputs=outputs)  # validates the outputs
        nbformat.validate(nbformat.v4.new_notebook(cells=[cell]))
    except Exception:  # nbformat raises several kinds: any invalid output drops them all
        return []
    return [nbformat.from_dict(o) for o in outputs]


def _read_executed(path: Path, max_bytes: int) -> NotebookNode | None:
    try:
        return nbformat.reads(read_regular_file(path, max_bytes).decode("utf-8"), as_version=4)
    except Exception:  # missing, too big, not JSON, not a notebook: nothing ran that we trust
        return None


def _stream(text: str, name: str = "stderr") -> NotebookNode:
    return nbformat.v4.new_output("stream", name=name, text=text)


def merge_outputs(
    trusted: NotebookNode, ran: NotebookNode | None, settings: SandboxSettings, sentence: str | None
) -> tuple[NotebookNode, int]:
    """``trusted`` with the validated outputs of ``ran``; cells not run get no points."""
    merged = copy.deepcopy(trusted)
    executed: set[int] = set()
    ran_cells = []
    if ran is not None and len(ran.cells) == len(merged.cells):
        ran_cells = ran.cells
        recorded = ran.metadata.get("sealed", {}).get("executed", [])
        executed = {i for i in recorded if isinstance(i, int)}
    stopped_at = None
    for index, cell in enumerate(merged.cells):
        if cell.cell_type != "code":
            continue
        cell.outputs = []
        cell.execution_count = None
        if is_replayed(cell, settings.skip_marker) or not cell.source.strip():
            continue
        if index in executed:
            cell.outputs = _clean_outputs(ran_cells[index].get("outputs"))
            count = ran_cells[index].get("execution_count")
            cell.execution_count = count if isinstance(count, int) else None
            continue
        if stopped_at is None:
            stopped_at = index
        if cell.metadata.get("nbgrader", {}).get("grade"):
            why = sentence or "This cell did not run."
            cell.outputs = [
                nbformat.v4.new_output(
                    "error", ename="NotRun", evalue=why, traceback=[f"NotRun: {why}"]
                )
            ]
    if sentence:
        code = [i for i, c in enumerate(merged.cells) if c.cell_type == "code"]
        where = stopped_at if stopped_at is not None else max(executed | {code[0]} if code else {0})
        if where < len(merged.cells) and merged.cells[where].cell_type == "code":
            merged.cells[where].outputs.insert(0, _stream(sentence + "\n"))
    return merged, len(executed)


def execute_sealed(
    nb: NotebookNode, folder: Path, settings: SandboxSettings
) -> tuple[NotebookNode, ExecutionOutcome]:
    """Execute ``nb`` in a sandbox over a private copy of ``folder``; see the module docstring.

    Raises ``SandboxError`` when no sandbox can start here.
    """
    require_sandbox()
    folder = Path(folder)
    inside = copy.deepcopy(nb)
    for cell in inside.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            if is_replayed(cell, settings.skip_marker):
                cell.source = ""  # the hidden thresholds never enter the sandbox
    log: list[str] = []
    # the run folder holds the notebook going in and its outputs (at most max_output_bytes)
    sizes = {"home": settings.disk_bytes, "run": 2 * settings.max_output_bytes + 16 * MiB}
    with scratch(sizes) as (work, disk_capped):
        home, run = work / "home", work / "run"
        for path in (home, run):
            _give_to_sandbox(path, settings)
        _copy_in(folder, home, settings, log)
        nbformat.write(inside, run / "in.ipynb")
        (run / "settings.json").write_text(settings_to_json(settings))
        mounts = [Mount(home, HOME, writable=True), Mount(run, RUN, writable=True)]
        mounts += data_mounts() + [Mount(Path(p), p) for p in settings.readonly]
        argv = [sys.executable, "-I", "-m", EXECUTOR_MODULE]
        argv += [f"{RUN}/in.ipynb", f"{RUN}/out.ipynb", f"{RUN}/settings.json"]
        env = sandbox_env(HOME, {"MNIST_WIDGETS_DATA": DATA, "NBGRADER_EXECUTION": "autograde"})
        done = run_sealed(argv, mounts, settings, cwd=HOME, env=env)
        ran = _read_executed(run / "out.ipynb", settings.max_output_bytes)
        limit = done.limit
        if limit is None and disk_capped and is_full(home):
            limit = "disk"
        if limit is None and (ran is None or ran.metadata.get("sealed", {}).get("stopped")):
            limit = "kernel"
        sentence = limit_sentence(limit, settings)
        merged, cells_run = merge_outputs(nb, ran, settings, sentence)
        log += [done.stderr.strip()] if done.stderr.strip() else []
        copied = _copy_out(home, folder, settings, log)
    code_cells = sum(1 for c in nb.cells if c.cell_type == "code" and c.source.strip())
    outcome = ExecutionOutcome(
        cells_run=cells_run,
        cells_total=code_cells,
        seconds=done.seconds,
        limit=limit,
        message=sentence,
        copied=tuple(copied),
        log="\n".join(log),
        caps_note=done.caps_note,
        peak_memory=done.peak_memory,
    )
    return merged, outcome
