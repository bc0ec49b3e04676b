"""The command line: outputs, saved files and one-line errors with exit code 2."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from mnist_widgets.models.presets import EXTRA_PRESETS, PRESETS
from mnist_widgets.runs import list_runs


def cli(*args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "mnist_widgets", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
    )


TELLS_TENSORFLOW = (
    "import sys\nfrom mnist_widgets.cli import main\n"
    "try:\n    code = main(sys.argv[1:])\nexcept SystemExit as exc:\n    code = exc.code\n"
    "print('tensorflow loaded:', 'tensorflow' in sys.modules)\nsys.exit(code)"
)


def cli_telling_tensorflow(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """``cli``, and a last line of stdout saying whether TensorFlow was imported."""
    full_env = {**os.environ, **(env or {})}
    command = [sys.executable, "-c", TELLS_TENSORFLOW, *args]
    return subprocess.run(command, capture_output=True, text=True, env=full_env, timeout=300)


def test_presets_lists_the_ladder_then_the_extras():
    out = cli("presets").stdout.splitlines()
    names = [line.split()[0] for line in out if line and not line.startswith("beyond")]
    assert names == [*PRESETS, *EXTRA_PRESETS]  # the ladder in its order, then the extras
    assert "batch 64" in out[6] and "0.666" in out[6]


@pytest.mark.slow  # trains for about 10 s (in a process that imports TensorFlow)
def test_train_takes_the_fast_route(tmp_path):
    run = cli(
        "train",
        "--preset",
        "cnn-fast",
        "--epochs",
        "2",
        "--limit",
        "4096",
        "--out",
        str(tmp_path),
        "--seed",
        "1",
    )
    assert run.returncode == 0, run.stderr
    accuracy = float(re.fullmatch(r"test_accuracy=(\d\.\d{4})", run.stdout.split()[-1]).group(1))
    assert accuracy > 0.8
    (run,) = list_runs(tmp_path).runs
    assert run.manifest.preset == "cnn-fast" and run.model_path.is_file()


@pytest.mark.parametrize("name", [*PRESETS, *EXTRA_PRESETS])
def test_the_curves_png_plans_every_presets_schedule(name, tmp_path):
    from mnist_widgets.models.presets import get_preset
    from mnist_widgets.reports.curves import curves_figure, save_curves

    schedule = get_preset(name).recipe.rate_schedule(3)
    used = [schedule.rate_at(e) for e in range(3)]
    history = {"loss": [0.5, 0.3, 0.2], "accuracy": [0.8, 0.9, 0.95]}
    rate_axes = curves_figure(history, used, schedule).axes[2]
    planned = next(line for line in rate_axes.lines if line.get_label() == "planned")
    for x, y in zip(planned.get_xdata(), planned.get_ydata(), strict=True):
        assert y == pytest.approx(schedule.rate_at(min(x - 1, 3 - 1e-9)))
    assert save_curves(history, used, tmp_path / "c.png", schedule).stat().st_size > 0


def test_data_info_reports_place_counts_and_checksums():
    run = cli("data", "info", "mnist")
    assert run.returncode == 0, run.stderr
    assert "from MNIST_WIDGETS_DATA" in run.stdout
    assert re.search(r"train-images-idx3-ubyte.gz\s+60000 items .* checksum OK", run.stdout)
    assert re.search(r"t10k-labels-idx1-ubyte.gz\s+10000 items .* checksum OK", run.stdout)


def test_data_info_flags_a_bad_checksum(tmp_path):
    folder = tmp_path / "mnist"
    shutil.copytree(Path(os.environ["MNIST_WIDGETS_DATA"]) / "mnist", folder)
    labels = folder / "t10k-labels-idx1-ubyte.gz"
    labels.chmod(0o644)
    import gzip

    raw = bytearray(gzip.decompress(labels.read_bytes()))
    raw[-1] = (raw[-1] + 1) % 10
    labels.write_bytes(gzip.compress(bytes(raw)))
    run = cli("data", "info", "--dir", str(tmp_path), "mnist")
    assert run.returncode == 1
    assert re.search(r"t10k-labels-idx1-ubyte.gz .* CHECKSUM MISMATCH", run.stdout)
    # training on that folder is refused with one line, no traceback
    train = cli_telling_tensorflow(
        "train",
        "--preset",
        "softmax",
        "--epochs",
        "1",
        "--limit",
        "100",
        "--out",
        str(tmp_path / "out"),
        env={"MNIST_WIDGETS_DATA": str(tmp_path)},
    )
    assert train.returncode == 2
    assert "Traceback" not in train.stderr
    assert re.search(r"^mnist-widgets: error: .*checksum mismatch.*$", train.stderr, re.M)
    assert "tensorflow loaded: False" in train.stdout  # refused before the slow import


@pytest.mark.slow  # trains for about 10 s (in a process that imports TensorFlow)
def test_train_saves_model_and_curves_and_prints_the_accuracy(tmp_path):
    run = cli(
        "train",
        "--preset",
        "dense",
        "--epochs",
        "2",
        "--limit",
        "3000",
        "--out",
        str(tmp_path),
        "--seed",
        "3",
    )
    assert run.returncode == 0, run.stderr
    last = run.stdout.strip().splitlines()[-1]
    match = re.fullmatch(r"test_accuracy=(\d\.\d{4})", last)
    assert match, last
    assert "epoch 2/2" in run.stdout and "val_acc" in run.stdout
    (run,) = list_runs(tmp_path).runs  # the run folder: model, curves PNG, code, manifest
    model_path = run.model_path
    png = run.path / "curves.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the printed figure is the saved model's real accuracy on the test set
    from mnist_widgets.data import load_data

    _, (x_test, y_test) = load_data()
    model = keras.models.load_model(model_path)
    predicted = model.predict(x_test.reshape(-1, 784) / 255.0, verbose=0).argmax(1)
    assert float(match.group(1)) == pytest.approx(np.mean(predicted == y_test), abs=1e-4)
    assert float(match.group(1)) > 0.85


@pytest.mark.parametrize(
    "args, words",
    [
        (["train", "--preset", "resnet"], "invalid choice: 'resnet'"),
        (["train", "--preset", "dense", "--epochs", "-1"], "must be at least 1"),
        (["train", "--preset", "dense", "--epochs", "two"], "not a whole number"),
        (["train", "--preset", "dense", "--out", "/proc/forbidden"], "--out /proc/forbidden"),
        (["fly"], "invalid choice"),
    ],
)
def test_bad_arguments_give_one_line_and_exit_2(args, words):
    run = cli_telling_tensorflow(*args)
    assert run.returncode == 2
    lines = [line for line in run.stderr.splitlines() if line.startswith("mnist-widgets")]
    assert len(lines) == 1 and words in lines[0], run.stderr
    assert "Traceback" not in run.stderr
    assert "tensorflow loaded: False" in run.stdout  # at once, not after TensorFlow's import
