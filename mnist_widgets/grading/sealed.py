"""Sealed grading: a student's notebook, and the grader's measurement of its model, in a sandbox.

Two entry points, neither touching the gradebook, both usable from a worker process:

- ``execute_sealed(nb, folder, settings) -> (executed_nb, ExecutionOutcome)`` runs one
  notebook (``nb``, as nbgrader restored it) in a sandbox whose only writable places are a
  private copy of ``folder`` (``/home/student``) and a private ``/tmp``. The executor and
  its kernel both run inside (``executor``). Back come the outputs of each code cell
  (validated, sources and metadata from ``nb``) and the files matching
  ``settings.copy_out`` (regular files, size-capped), copied into ``folder``. Test cells
  that the fresh-process replay measures are not run in the kernel at all.
- ``measure_sealed(model_path, settings) -> ModelReport`` measures a saved model in a
  sandbox that sees only that file and the test data.

``SandboxSettings`` (from ``sandbox``) holds the limits; ``ExecutionOutcome`` says how far
the notebook got and, when a limit stopped it, which one in one sentence.
"""

from __future__ import annotations

import copy
import fnmatch
import json
import os
import shutil
import stat
import sys
import tempfile
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import nbformat
from nbformat.notebooknode import NotebookNode

from ..data.sources import locate
from ..errors import GradingError, SandboxError
from .evaluate import ModelReport
from .sandbox import (
    GiB,
    MiB,
    Mount,
    SandboxSettings,
    run_sealed,
    running_as_root,
    sandbox_env,
    unavailable_reason,
)

HOME = "/home/student"
RUN = "/sealed"
DATA = "/data"
MODEL_DIR = "/grading"
EXECUTOR_MODULE = "mnist_widgets.grading.executor"
EVALUATE_MODULE = "mnist_widgets.grading.evaluate"
DATASETS = ("mnist", "fashion-mnist")
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


def settings_to_json(settings: SandboxSettings) -> str:
    return json.dumps(asdict(settings))


def settings_from_json(text: str) -> SandboxSettings:
    data = json.loads(text)
    return SandboxSettings(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


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


def data_mounts(names: tuple[str, ...] = DATASETS) -> list[Mount]:
    """The data sets found on this machine, read-only under ``/data``."""
    mounts = []
    for name in names:
        hit = locate(name)
        if hit:
            mounts.append(Mount(hit[1].resolve(), f"{DATA}/{name}"))
    return mounts


def limit_sentence(limit: str | None, settings: SandboxSettings) -> str | None:
    """One sentence for the feedback, naming the limit the notebook went past."""
    sentences = {
        "memory": f"Your notebook used more than {_size(settings.memory_bytes)} of memory "
        "and was stopped.",
        "processes": f"Your notebook tried to run more than {settings.max_processes} "
        "processes and threads at once; the extra ones were refused.",
        "time": f"Your notebook ran longer than the grader's {settings.wall_timeout:.0f} s "
        "and was stopped.",
        "kernel": "Your notebook's kernel died, and the cells after it did not run.",
    }
    return sentences.get(limit) if limit else None


def _size(n: int | None) -> str:
    if n is None:
        return "the allowed amount"
    return f"{n / GiB:g} GiB" if n >= GiB else f"{n / MiB:g} MiB"


def _require_sandbox() -> None:
    reason = unavailable_reason()
    if reason:
        raise SandboxError(reason)


def _give_to_sandbox(path: Path, settings: SandboxSettings) -> None:
    if running_as_root():
        os.chown(path, settings.uid, settings.gid)


def _copy_in(folder: Path, home: Path, settings: SandboxSettings) -> None:
    """Regular files and folders of ``folder`` (no links, no notebooks) into ``home``."""
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
            shutil.copyfile(source, target_dir / name, follow_symlinks=False)
            _give_to_sandbox(target_dir / name, settings)


def read_regular_file(path: Path, max_bytes: int) -> bytes:
    """The bytes of ``path`` if it is a regular file (not a link) of at most ``max_bytes``."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise GradingError(f"{path.name} is not a regular file")
        if info.st_size > max_bytes:
            raise GradingError(f"{path.name} is larger than {_size(max_bytes)}")
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(max_bytes + 1)
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        raise GradingError(f"{path.name} is larger than {_size(max_bytes)}")
    return data


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
    _require_sandbox()
    folder = Path(folder)
    inside = copy.deepcopy(nb)
    for cell in inside.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            if is_replayed(cell, settings.skip_marker):
                cell.source = ""  # the hidden thresholds never enter the sandbox
    with tempfile.TemporaryDirectory(prefix="mnist-widgets-sealed-") as work:
        home, run = Path(work) / "home", Path(work) / "run"
        for path in (home, run):
            path.mkdir()
            _give_to_sandbox(path, settings)
        _copy_in(folder, home, settings)
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
        if limit is None and (ran is None or ran.metadata.get("sealed", {}).get("stopped")):
            limit = "kernel"
        sentence = limit_sentence(limit, settings)
        merged, cells_run = merge_outputs(nb, ran, settings, sentence)
        log = [done.stderr.strip()] if done.stderr.strip() else []
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


def measure_sealed(
    model_path: str | Path, settings: SandboxSettings | None = None, probe: bool = True
) -> ModelReport:
    """Measure a saved model in a sandbox that sees only it and the test data.

    ``probe=False`` skips ``unavailable_reason`` (a caller that already checked it).
    Raises ``GradingError`` (missing, unsafe or unmeasurable model) or ``SandboxError``.
    """
    settings = settings or SandboxSettings()
    if probe:
        _require_sandbox()
    path = Path(model_path).absolute()
    try:
        data = read_regular_file(path, settings.max_copy_bytes)
    except FileNotFoundError:
        raise GradingError(
            f"{path.name} not found: run the cell that saves your model first"
        ) from None
    except OSError as exc:
        raise GradingError(f"{path.name} cannot be read ({exc.strerror})") from None
    with tempfile.TemporaryDirectory(prefix="mnist-widgets-measure-") as work:
        model_dir = Path(work) / "model"
        model_dir.mkdir()
        (model_dir / path.name).write_bytes(data)
        os.chmod(model_dir, 0o755)
        os.chmod(model_dir / path.name, 0o644)
        mounts = [Mount(model_dir, MODEL_DIR), *data_mounts(("mnist",))]
        argv = [sys.executable, "-I", "-m", EVALUATE_MODULE, f"{MODEL_DIR}/{path.name}"]
        env = sandbox_env("/tmp", {"MNIST_WIDGETS_DATA": DATA})
        done = run_sealed(
            argv, mounts, settings, cwd="/tmp", env=env, timeout=settings.measure_timeout
        )
    if done.limit:
        what = {
            "memory": f"more than {_size(settings.memory_bytes)} of memory",
            "time": f"over {settings.measure_timeout:.0f} s",
        }.get(done.limit, "too many processes")
        raise GradingError(f"measuring {path.name} took {what}; is the model far too big?")
    lines = done.stdout.strip().splitlines()
    try:
        result = json.loads(lines[-1])
    except (IndexError, ValueError):
        tail = done.stderr.strip().splitlines()[-1:] or ["no output"]
        raise GradingError(
            f"the grader could not evaluate {path.name} (exit {done.returncode}: {tail[0][:200]})"
        ) from None
    if "error" in result:
        raise GradingError(str(result["error"]))
    return replace(ModelReport.from_dict(result), path=str(path))
