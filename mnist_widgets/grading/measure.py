"""The grader's measurement of a saved model, in a sandbox that sees only it and the data.

``measure_sealed(model_path, settings) -> ModelReport`` copies the model (a regular file,
size-capped) into a folder of its own and runs ``python -I -m
mnist_widgets.grading.evaluate`` there in a sandbox (``sandbox.run_sealed``): the
read-only system and Python environment, that folder, the verified test data, a private
``/tmp``, no network. The replay (``replay``) measures every saved model this way.

This module does not import nbformat (the replay's fresh process loads this module only).
"""

from __future__ import annotations

import os
import stat
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from ..data.sources import locate
from ..errors import GradingError
from .evaluate import ModelReport, report_from_output
from .sandbox import GiB, MiB, Mount, SandboxSettings, require_sandbox, run_sealed, sandbox_env

DATA = "/data"
MODEL_DIR = "/grading"
EVALUATE_MODULE = "mnist_widgets.grading.evaluate"
DATASETS = ("mnist", "fashion-mnist")


def size_text(n: int | None) -> str:
    """``n`` bytes as "6 GiB" or "256 MiB"."""
    if n is None:
        return "the allowed amount"
    return f"{n / GiB:g} GiB" if n >= GiB else f"{n / MiB:g} MiB"


def data_mounts(names: tuple[str, ...] = DATASETS) -> list[Mount]:
    """The data sets found on this machine, read-only under ``/data``."""
    mounts = []
    for name in names:
        hit = locate(name)
        if hit:
            mounts.append(Mount(hit[1].resolve(), f"{DATA}/{name}"))
    return mounts


def read_regular_file(path: Path, max_bytes: int) -> bytes:
    """The bytes of ``path`` if it is a regular file (not a link) of at most ``max_bytes``."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise GradingError(f"{path.name} is not a regular file")
        if info.st_size > max_bytes:
            raise GradingError(f"{path.name} is larger than {size_text(max_bytes)}")
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(max_bytes + 1)
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        raise GradingError(f"{path.name} is larger than {size_text(max_bytes)}")
    return data


def measure_sealed(
    model_path: str | Path, settings: SandboxSettings | None = None, probe: bool = True
) -> ModelReport:
    """Measure a saved model in a sandbox that sees only it and the test data.

    ``probe=False`` skips ``unavailable_reason`` (a caller that already checked it).
    Raises ``GradingError`` (missing, unsafe or unmeasurable model) or ``SandboxError``.
    """
    settings = settings or SandboxSettings()
    if probe:
        require_sandbox()
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
            "memory": f"more than {size_text(settings.memory_bytes)} of memory",
            "time": f"over {settings.measure_timeout:.0f} s",
        }.get(done.limit, "too many processes")
        raise GradingError(f"measuring {path.name} took {what}; is the model far too big?")
    report = report_from_output(path.name, done.returncode, done.stdout, done.stderr)
    return replace(report, path=str(path))
