"""One function per grading check; an assignment's hidden tests compose them.

``saved_model`` measures a saved model. What counts is the grader's measurement: after the
notebook has run, ``ReplayTestsInFreshProcess`` runs the test cells again in a fresh
process, which measures the file in a sandbox (``measure.measure_sealed``) or, where the
grader opted out of it, in a fresh interpreter (``python -I -m
mnist_widgets.grading.evaluate``) started from an empty scratch folder with a cleaned
environment. In a student's own kernel (the Validate button, a self-learner's run) the
file is measured in that kernel with the same ``evaluate_file``: a second TensorFlow
process would double the notebook's memory, more than a course hub gives, and nothing the
kernel reports there is trusted by the grader anyway. The other checks look at the report
and raise ``GradingError`` with a sentence the student can act on.

A hidden test reads like::

    from mnist_widgets.grading.checks import saved_model, require_layer, require_accuracy
    report = saved_model("model.keras")
    require_layer(report, "Conv2D")
    require_accuracy(report, 0.988)
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from ..errors import GradingError
from .evaluate import ModelReport, file_sha256, report_from_output

EVALUATE_MODULE = "mnist_widgets.grading.evaluate"
EVALUATE_TIMEOUT_S = 600
# Variables that change what Python, Keras or the loader would run; the grader sets its own.
_DROPPED_PREFIXES = (
    "PYTHON",
    "KERAS_",
    "LD_",
    "DYLD_",
    "JUPYTER",
    "IPY",
    "MPLBACKEND",
    "NBGRADER",
)
# nbgrader sets this in the kernel's environment while it autogrades.
AUTOGRADE_ENV = ("NBGRADER_EXECUTION", "autograde")
_memo: dict[tuple[str, str], ModelReport] = {}


def evaluate_here(path: Path, timeout: float) -> ModelReport:
    """Measure ``path`` in this process (a student's kernel); ``timeout`` is not enforced."""
    from .evaluate import evaluate_file

    return evaluate_file(path)


_measure: Callable[[Path, float], ModelReport] = evaluate_here


def measure_with(measure: Callable[[Path, float], ModelReport]) -> None:
    """Measure models with ``measure(path, timeout)`` from now on (the replay seals it)."""
    global _measure
    _measure = measure
    _memo.clear()


def clean_environment(scratch: str | Path) -> dict[str, str]:
    """The environment for a fresh grader process: no Python/Keras/loader overrides.

    ``MNIST_WIDGETS_DATA`` and the cache location are kept (the data's checksums are
    verified anyway); Keras gets an empty home of its own in ``scratch``.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(_DROPPED_PREFIXES)}
    env.update(
        KERAS_HOME=str(Path(scratch) / "keras"),
        KERAS_BACKEND="tensorflow",
        TF_CPP_MIN_LOG_LEVEL="3",
    )
    return env


def fresh_python() -> list[str]:
    """The interpreter running this code, isolated: no PYTHON* variables, user site or cwd."""
    return [sys.executable, "-I"]


def saved_model(path: str | Path, timeout: float = EVALUATE_TIMEOUT_S) -> ModelReport:
    """Measure the model saved at ``path``; the same file is measured once.

    In a student's kernel it is measured there; in the grader's replay, sealed or in a fresh
    interpreter (``measure_with``). Inside a kernel that nbgrader autogrades, nothing is
    measured: whatever that kernel says is replaced by ``ReplayTestsInFreshProcess``, which
    runs the test cells again in a fresh process (where this variable is gone). Should the
    replay not be configured, the tests fail there instead of trusting the student's kernel.
    """
    if os.environ.get(AUTOGRADE_ENV[0]) == AUTOGRADE_ENV[1]:
        raise GradingError(
            "the model is measured after the notebook has run, in a fresh process "
            "(add ReplayTestsInFreshProcess to Autograde.autograde_preprocessors)"
        )
    path = Path(path).resolve()
    if not path.is_file():
        raise GradingError(f"{path.name} not found: run the cell that saves your model first")
    key = (str(path), file_sha256(path))
    if key not in _memo:
        _memo[key] = _measure(path, timeout)
    return _memo[key]


def evaluate_in_fresh_process(path: Path, timeout: float) -> ModelReport:
    """Measure ``path`` in a fresh, isolated interpreter (the grader's unsandboxed way)."""
    with tempfile.TemporaryDirectory(prefix="mnist-widgets-grade-") as scratch:
        try:
            done = subprocess.run(
                [*fresh_python(), "-m", EVALUATE_MODULE, str(path)],
                cwd=scratch,
                env=clean_environment(scratch),
                capture_output=True,
                text=True,
                timeout=timeout,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            raise GradingError(
                f"evaluating {path.name} took over {timeout:.0f} s; is the model far too big?"
            ) from None
    return report_from_output(path.name, done.returncode, done.stdout, done.stderr)


def require_layer(
    report: ModelReport, kind: str, at_least: int = 1, at_most: int | None = None
) -> None:
    """The model has between ``at_least`` and ``at_most`` layers of the Keras class ``kind``."""
    n = report.count(kind)
    if n < at_least:
        raise GradingError(
            f"the model needs at least {at_least} {kind} layer(s), it has {n}: "
            f"{describe_layers(report)}"
        )
    if at_most is not None and n > at_most:
        raise GradingError(
            f"the model may have at most {at_most} {kind} layer(s), it has {n}: "
            f"{describe_layers(report)}"
        )


def allow_only(report: ModelReport, kinds: Iterable[str]) -> None:
    """Every layer is of one of the Keras classes ``kinds``."""
    allowed = set(kinds)
    extra = sorted({k for k in report.layers if k not in allowed})
    if extra:
        raise GradingError(
            f"this assignment uses only {', '.join(sorted(allowed))} layers; "
            f"the model also has {', '.join(extra)}"
        )


def require_params(report: ModelReport, at_most: int) -> None:
    """The model has no more than ``at_most`` weights."""
    if report.params > at_most:
        raise GradingError(f"the model has {report.params:,} parameters; at most {at_most:,}")


def require_accuracy(report: ModelReport, at_least: float) -> None:
    """The grader's own test accuracy reaches ``at_least``; prints the measurement either way."""
    print(
        f"test accuracy measured by the grader: {report.accuracy:.4f} "
        f"({report.correct}/{report.total} images); target {at_least:.4f}"
    )
    if report.accuracy < at_least:
        raise GradingError(f"test accuracy {report.accuracy:.4f} is below {at_least:.4f}")


def describe_layers(report: ModelReport) -> str:
    return ", ".join(report.layers) or "no layers"
