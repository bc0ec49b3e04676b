"""The cloud-ready trainer: a real two-worker run, a killed run that resumes, its flags.

The runs are real subprocesses of ``python -m mnist_widgets.cloud`` on a small slice of the
real MNIST on the CPU, each with a timeout so that a hang fails instead of blocking.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from mnist_widgets.cloud.strategy import Task, worker_path

REPO = Path(__file__).resolve().parents[1]
RUN_TIMEOUT = 240  # seconds for one trainer process (the CI machine may be busy)


def trainer_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k != "TF_CONFIG" and not k.startswith(("AIP_", "CLOUD_ML_"))
    }
    env.update(
        TF_CPP_MIN_LOG_LEVEL="3",
        CUDA_VISIBLE_DEVICES="-1",
        TF_NUM_INTRAOP_THREADS="1",
        TF_NUM_INTEROP_THREADS="1",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def trainer(*args: str) -> list[str]:
    return [sys.executable, "-m", "mnist_widgets.cloud", *args]


def run_one(command: list[str], env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Run one trainer process to its end (or the timeout): (returncode, stdout, stderr)."""
    process = subprocess.Popen(
        command,
        env=env or trainer_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    return finish([process], RUN_TIMEOUT)[0]


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def finish(processes: list[subprocess.Popen], timeout: float) -> list[tuple[int, str, str]]:
    """Wait for every process; kill them all and fail when one overruns."""
    results = []
    deadline = time.monotonic() + timeout
    try:
        for process in processes:
            out, err = process.communicate(timeout=max(1.0, deadline - time.monotonic()))
            results.append((process.returncode, out, err))
    except subprocess.TimeoutExpired:
        for process in processes:
            process.kill()
        pytest.fail(f"trainer processes still running after {timeout} s")
    return results


def metric_line(stdout: str) -> float:
    lines = [line for line in stdout.splitlines() if line.startswith("test_accuracy=")]
    assert len(lines) == 1, stdout
    return float(lines[0].split("=", 1)[1])


def saved_model_accuracy(export_dir: Path, images: np.ndarray, labels: np.ndarray) -> float:
    """Accuracy of the exported SavedModel through its serving signature, checked on the way."""
    import tensorflow as tf

    serve = tf.saved_model.load(str(export_dir)).signatures["serving_default"]
    ((_, inputs),) = serve.structured_input_signature[1].items()
    assert inputs.shape.as_list() == [None, 28, 28] and inputs.dtype == tf.float32
    outputs = serve(tf.constant(images[:7] / 255.0, tf.float32))
    assert set(outputs) == {"probabilities", "classes"}
    probabilities = outputs["probabilities"].numpy()
    assert probabilities.shape == (7, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    assert outputs["classes"].dtype.is_integer
    np.testing.assert_array_equal(outputs["classes"].numpy(), probabilities.argmax(axis=1))
    classes = np.concatenate(
        [
            serve(tf.constant(images[i : i + 2000] / 255.0, tf.float32))["classes"].numpy()
            for i in range(0, len(images), 2000)
        ]
    )
    return float((classes == labels).mean())


def start_workers(args: list[str], ports: list[int], **popen) -> list[subprocess.Popen]:
    """Two trainer processes of one cluster on this machine (TF_CONFIG on 127.0.0.1)."""
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    popen = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True, **popen}
    return [
        subprocess.Popen(
            trainer(*args, "--strategy", "multi-worker"),
            env=trainer_env(
                TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}})
            ),
            cwd=REPO,
            **popen,
        )
        for i in range(len(ports))
    ]


@pytest.mark.slow
def test_two_workers_train_together_and_the_chief_exports_what_it_reports(tmp_path, mnist):
    _, (x_test, y_test) = mnist
    job = tmp_path / "job"
    common = ["--job-dir", str(job), "--preset", "dense", "--limit", "2000", "--epochs", "1"]
    common += ["--seed", "3", "--lr-start", "0.003"]
    workers = start_workers(common, free_ports(2))
    (rc0, out0, err0), (rc1, out1, err1) = finish(workers, RUN_TIMEOUT)
    assert rc0 == 0, err0[-3000:]
    assert rc1 == 0, err1[-3000:]
    assert "2 worker(s), 2 replica(s), global batch 256 (128 per replica)" in out0
    assert "[worker-1] finished; the chief keeps the export" in out1
    assert "test_accuracy=" not in out1  # only the chief reports
    reported = metric_line(out0)

    # the chief's files, and nothing left behind by the other worker
    metrics = json.loads((job / "metrics.json").read_text())
    assert metrics["workers"] == 2 and metrics["replicas"] == 2
    assert metrics["global_batch_size"] == 256
    assert metrics["global_step"] == 8  # ceil(2000 / 256) steps, counted once, not per worker
    assert f"{metrics['test_accuracy']:.4f}" == f"{reported:.4f}"
    assert (job / "export" / "saved_model.pb").is_file()
    assert (job / "model.keras").is_file()
    assert not list(job.rglob("workertemp_*"))
    assert list((job / "logs" / "train").iterdir())  # TensorBoard events

    exported = saved_model_accuracy(job / "export", x_test, y_test)
    assert abs(exported - metrics["test_accuracy"]) <= 1e-4
    assert reported > 0.5  # it learned something on 2,000 images

    # one process with the same global batch: about the same model
    single = tmp_path / "single"
    hypertune = tmp_path / "hypertune" / "output.metrics"
    args = [a for a in common if a not in ("--job-dir", str(job))] + ["--batch-size", "256"]
    env = trainer_env(AIP_MODEL_DIR=str(single), CLOUD_ML_HP_METRIC_FILE=str(hypertune))
    rc, out, err = run_one(trainer(*args), env)
    assert rc == 0, err[-3000:]
    alone = metric_line(out)
    assert abs(alone - reported) < 0.05, (alone, reported)
    assert (single / "export" / "saved_model.pb").is_file()  # AIP_MODEL_DIR was the job dir
    (entry,) = [json.loads(line) for line in hypertune.read_text().splitlines()]
    assert set(entry) == {"timestamp", "trial", "test_accuracy", "global_step"}
    assert float(entry["test_accuracy"]) == pytest.approx(alone, abs=5e-5)
    assert entry["global_step"] == "8"


def read_lines(stream, lines: queue.Queue) -> None:
    for line in stream:
        lines.put(line.rstrip("\n"))
    lines.put(None)


@pytest.mark.slow
def test_a_killed_run_resumes_from_its_last_backup(tmp_path):
    job = tmp_path / "job"
    epochs = 4
    args = trainer("--job-dir", str(job), "--preset", "dense", "--limit", "2000")
    args += ["--epochs", str(epochs), "--seed", "5"]
    first = subprocess.Popen(
        args,
        env=trainer_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=REPO,
    )
    try:
        # BackupAndRestore has written its backup when the epoch line is printed
        wait_for_line(first, f"epoch 1/{epochs}:", RUN_TIMEOUT)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    finally:
        first.kill()
    assert first.returncode == -signal.SIGKILL
    backup = job / "backup"
    done = json.loads((backup / "training_metadata.json").read_text())["epoch"]
    assert 1 <= done < epochs, "killed after the run had finished"
    assert not (job / "export").exists()

    rc, out, err = run_one(args)
    assert rc == 0, err[-3000:]
    epoch_lines = [line for line in out.splitlines() if line.startswith("epoch ")]
    assert epoch_lines[0].startswith(f"epoch {done + 1}/{epochs}:"), out
    assert len(epoch_lines) == epochs - done
    metrics = json.loads((job / "metrics.json").read_text())
    assert metrics["epochs_this_run"] == epochs - done
    # the optimizer's step count came back too, so the learning rate resumed where it was
    assert metrics["global_step"] == epochs * 16  # ceil(2000 / 128) steps per epoch
    assert not backup.exists() or not any(backup.iterdir())  # Keras removes it when done


def wait_for_line(process: subprocess.Popen, prefix: str, timeout: float) -> list[str]:
    """Read ``process``'s output until a line starts with ``prefix``; the lines read."""
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=read_lines, args=(process.stdout, lines), daemon=True).start()
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while True:
        line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
        assert line is not None, f"the run ended before {prefix!r}: {seen}"
        seen.append(line)
        if line.startswith(prefix):
            return seen


@pytest.mark.slow
def test_killed_workers_resume_together_from_the_chiefs_backup(tmp_path, mnist):
    _, (x_test, y_test) = mnist
    job = tmp_path / "job"
    epochs = 3
    args = ["--job-dir", str(job), "--preset", "dense", "--limit", "2000"]
    args += ["--epochs", str(epochs), "--seed", "4"]
    first = start_workers(args, free_ports(2), stderr=subprocess.DEVNULL)
    try:
        wait_for_line(first[0], f"[worker-0] epoch 1/{epochs}:", RUN_TIMEOUT)
    finally:
        for process in first:
            process.kill()  # SIGKILL: no clean-up, as when a machine is preempted
        for process in first:
            process.wait(timeout=30)
    chief_backup = job / "backup" / "chief"
    done = json.loads((chief_backup / "training_metadata.json").read_text())["epoch"]
    assert 1 <= done < epochs

    (rc0, out0, err0), (rc1, out1, err1) = finish(start_workers(args, free_ports(2)), RUN_TIMEOUT)
    assert rc0 == 0, err0[-3000:]
    assert rc1 == 0, err1[-3000:]
    for name, out in (("worker-0", out0), ("worker-1", out1)):
        assert f"[{name}] resuming after epoch {done} from the backup" in out, out
        epoch_lines = [line for line in out.splitlines() if line.startswith(f"[{name}] epoch ")]
        assert epoch_lines[0].startswith(f"[{name}] epoch {done + 1}/{epochs}:"), out
        assert len(epoch_lines) == epochs - done
    metrics = json.loads((job / "metrics.json").read_text())
    assert metrics["global_step"] == epochs * 8  # ceil(2000 / 256) steps per epoch
    exported = saved_model_accuracy(job / "export", x_test, y_test)
    assert abs(exported - metric_line(out0)) <= 1e-4


@pytest.mark.slow
def test_mirrored_strategy_trains_the_batchnorm_cnn_and_exports_it(tmp_path, mnist):
    _, (x_test, y_test) = mnist
    job = tmp_path / "job"
    args = ["--job-dir", str(job), "--strategy", "mirrored", "--limit", "512", "--epochs", "1"]
    args += ["--conv1", "2", "--conv2", "4", "--conv3", "4", "--bn-momentum", "0.9"]
    rc, out, err = run_one(trainer(*args))
    assert rc == 0, err[-3000:]
    assert "training cnn-batchnorm" in out and "MirroredStrategy" in out  # the default preset
    metrics = json.loads((job / "metrics.json").read_text())
    assert metrics["hyperparameters"] == {"conv1": 2, "conv2": 4, "conv3": 4, "bn_momentum": 0.9}
    assert metrics["global_step"] == 8  # 512 images, the preset's batch of 64
    exported = saved_model_accuracy(job / "export", x_test, y_test)
    assert abs(exported - metric_line(out)) <= 1e-4  # batch norm's moving statistics included


def test_hyperparameters_change_the_preset_layers():
    from mnist_widgets.cloud.hyperparameters import Hyperparameters, layers_with, recipe_with
    from mnist_widgets.cloud.task import compiled_model
    from mnist_widgets.models.presets import get_preset

    preset = get_preset("cnn-batchnorm")
    hp = Hyperparameters(conv1=4, conv2=8, conv3=16, dropout=0.1, bn_momentum=0.9, lr_start=0.02)
    recipe = recipe_with(preset, hp, steps_per_epoch=100)
    model = compiled_model(layers_with(preset, hp), recipe, 100, recipe.epochs)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == [layer.kind for layer in preset.layers[1:]]  # same ladder rung
    convs = [layer for layer in model.layers if type(layer).__name__ == "Conv2D"]
    assert [layer.filters for layer in convs] == [4, 8, 16]
    assert {layer.rate for layer in model.layers if type(layer).__name__ == "Dropout"} == {0.1}
    norms = [layer for layer in model.layers if type(layer).__name__ == "BatchNormalization"]
    assert norms and {layer.momentum for layer in norms} == {0.9}
    assert [layer.params.get("filters") for layer in preset.layers if layer.kind == "Conv2D"] == [
        12,
        24,
        32,
    ]  # the preset itself is untouched
    # --lr-start replaces the start of the preset's per-epoch decay (x0.666 each epoch)
    rate = model.optimizer.learning_rate
    schedule = model.optimizer._learning_rate
    assert [float(schedule(step)) for step in (0, 99, 100, 300)] == pytest.approx(
        [0.02, 0.02, 0.02 * 0.666, 0.02 * 0.666**3]
    )
    assert float(rate) == pytest.approx(0.02)


def test_learning_rate_flags():
    from mnist_widgets.cloud.hyperparameters import Hyperparameters, recipe_with
    from mnist_widgets.errors import PresetError
    from mnist_widgets.models.presets import get_preset
    from mnist_widgets.models.schedules import OneCycle

    dense = get_preset("dense")  # Adam at 0.001, no schedule
    assert recipe_with(dense, Hyperparameters(), 50) == dense.recipe
    assert recipe_with(dense, Hyperparameters(lr_start=0.02), 50).rate_schedule().rate_at(9) == 0.02
    decay = recipe_with(
        dense, Hyperparameters(lr_start=0.02, lr_end=1e-4, lr_decay_steps=600), 50
    ).schedule
    assert decay.rate_at(600 / 50) == pytest.approx(1e-4 + 0.02 / np.e)  # 600 steps: 12 epochs
    assert decay.rate_at(10**5) == pytest.approx(1e-4)
    assert float(decay.keras_schedule(50)(600)) == pytest.approx(1e-4 + 0.02 / np.e, rel=1e-5)
    with pytest.raises(PresetError, match="--lr-end needs --lr-decay-steps"):
        recipe_with(dense, Hyperparameters(lr_end=1e-4), 50)
    batchnorm = get_preset("cnn-batchnorm").recipe.schedule
    floored = recipe_with(get_preset("cnn-batchnorm"), Hyperparameters(lr_end=1e-4), 50)
    assert floored.schedule.rate_at(3) == pytest.approx(1e-4 + batchnorm.rate_at(3))
    fast = get_preset("cnn-fast")  # its one cycle, or its peak moved by --lr-start
    assert recipe_with(fast, Hyperparameters(), 50) == fast.recipe
    peak = recipe_with(fast, Hyperparameters(lr_start=0.005), 50).schedule
    assert isinstance(peak, OneCycle) and peak.peak == 0.005 and peak.opening == 0.67
    own = recipe_with(fast, Hyperparameters(lr_start=0.01, lr_decay_steps=100), 50)
    assert own.rate_schedule().rate_at(2) == pytest.approx(0.01 / np.e)  # 100 steps: 2 epochs
    assert own.betas == (0.7, 0.9) and own.label_smoothing == 0.1  # the rest of the recipe


class Compiled(Exception):
    """Raised by the patched ``fit`` once it has seen how its model was compiled."""


def compiled_configs(monkeypatch, start) -> dict:
    """How the model that ``start()`` goes on to fit was compiled: optimizer and loss configs."""
    import keras

    seen = {}

    def fit(model, *args, **kwargs):
        loss = model.loss
        seen["optimizer"] = model.optimizer.get_config()
        seen["optimizer"]["name"] = type(model.optimizer).__name__  # Keras numbers the names
        seen["loss"] = loss if isinstance(loss, str) else keras.losses.serialize(loss)
        raise Compiled

    with monkeypatch.context() as patch:
        patch.setattr(keras.Model, "fit", fit)
        with pytest.raises(Compiled):
            start()
    return seen


@pytest.mark.parametrize("name", ["cnn-fast", "cnn-batchnorm"])
def test_every_entry_point_compiles_the_presets_recipe(name, monkeypatch, tmp_path, mnist):
    """``mnist-widgets train``, the engine and ``mnist-widgets trainer`` compile one preset
    with the same optimizer (betas, per-step schedule) and loss (label smoothing). 2048
    images make the same number of steps per epoch on every route (whole batches, whole
    groups of steps), so the schedules' configs match exactly."""
    from mnist_widgets.cli import main
    from mnist_widgets.models.presets import get_preset
    from mnist_widgets.training.engine import train_preset

    limit = "2048"
    cli = compiled_configs(
        monkeypatch,
        lambda: main(["train", "--preset", name, "--limit", limit, "--out", str(tmp_path / "c")]),
    )
    engine = compiled_configs(
        monkeypatch,
        lambda: train_preset(name, limit=int(limit), data=mnist, fast=name == "cnn-fast"),
    )
    cloud = compiled_configs(
        monkeypatch,
        lambda: main(["trainer", "--preset", name, "--limit", limit, "--job-dir", str(tmp_path)]),
    )
    assert cli == engine == cloud
    recipe = get_preset(name).recipe
    optimizer = cloud["optimizer"]
    assert optimizer["name"] == "Adam" and isinstance(optimizer["learning_rate"], dict)
    assert (optimizer["beta_1"], optimizer["beta_2"]) == (recipe.betas or (0.9, 0.999))
    schedule = optimizer["learning_rate"]["config"]
    if name == "cnn-fast":
        assert schedule["peak"] == 0.01 and schedule["opening_steps"] == round(0.67 * 8)
        assert cloud["loss"]["config"]["label_smoothing"] == 0.1
    else:
        assert schedule["decay_rate"] == 0.666 and schedule["decay_steps"] == 2048 // 64
        assert cloud["loss"] == "sparse_categorical_crossentropy"


def test_chief_and_worker_paths():
    assert Task().is_chief and Task("chief", 0, 3, True).is_chief
    assert Task("worker", 0, 2).is_chief  # no "chief" task: worker 0 is the chief
    assert not Task("worker", 0, 3, has_chief_task=True).is_chief
    assert not Task("worker", 1, 2).is_chief
    assert worker_path("gs://b/job/export", Task("worker", 0, 2)) == "gs://b/job/export"
    assert (
        worker_path("gs://b/job/export", Task("worker", 1, 2)) == "gs://b/job/workertemp_1/export"
    )


TWO_WORKERS = json.dumps(
    {"cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}, "task": {"type": "worker", "index": 0}}
)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--job-dir", "J", "--tf-config", TWO_WORKERS], "use --strategy multi-worker"),
        (
            ["--job-dir", "J", "--strategy", "multi-worker", "--tf-config", '{"cluster": {}}'],
            'TF_CONFIG needs "cluster"',
        ),
        (["--job-dir", "J", "--strategy", "multi-worker", "--tf-config", "{"], "not valid JSON"),
        (["--preset", "dense"], "give --job-dir or set AIP_MODEL_DIR"),
        (["--job-dir", "J", "--strategy", "multi-worker"], "needs TF_CONFIG"),
        (
            ["--job-dir", "J", "--preset", "dense", "--conv1", "8"],
            "--conv1: preset dense has 0 conv",
        ),
        (
            ["--job-dir", "J", "--preset", "dense", "--dropout", "0.2"],
            "--dropout: preset dense has no Dropout",
        ),
    ],
)
def test_bad_settings_are_one_line_errors(argv, message, monkeypatch, capsys, tmp_path):
    from mnist_widgets.cli import main

    for name in ("AIP_MODEL_DIR", "TF_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    if "--tf-config" in argv:  # not a flag: the environment variable, set for this test
        at = argv.index("--tf-config")
        monkeypatch.setenv("TF_CONFIG", argv[at + 1])
        argv = argv[:at] + argv[at + 2 :]
    argv = [str(tmp_path / "job") if a == "J" else a for a in argv]
    assert main(["trainer", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "job" / "export").exists()


def test_bad_flag_values_are_refused(capsys):
    from mnist_widgets.cli import main

    for argv in (
        ["--dropout", "1.5"],
        ["--conv1", "0"],
        ["--lr-start", "-1"],
        ["--strategy", "tpu"],
    ):
        with pytest.raises(SystemExit) as exit_info:
            main(["trainer", "--job-dir", "J", *argv])
        assert exit_info.value.code == 2
    assert capsys.readouterr().err.count("error:") == 4


def test_tuning_config_names_real_flags_and_the_reported_metric():
    import yaml

    from mnist_widgets.cloud.task import build_parser

    config = yaml.safe_load((REPO / "docs" / "cloud" / "hptuning.yaml").read_text())
    study = config["studySpec"]
    assert [m["metricId"] for m in study["metrics"]] == ["test_accuracy"]
    argv = []
    for parameter in study["parameters"]:
        spec = parameter.get("integerValueSpec") or parameter.get("doubleValueSpec")
        argv.append(f"--{parameter['parameterId']}={spec['minValue']}")
    args = build_parser().parse_args(argv)  # every parameter is a trainer flag
    assert {"conv1", "conv2", "conv3", "lr_start", "lr_end", "lr_decay_steps"} <= {
        name for name, value in vars(args).items() if value is not None
    }
    job = yaml.safe_load((REPO / "docs" / "cloud" / "job.yaml").read_text())
    pool = job["workerPoolSpecs"][0]
    assert "mnist_widgets.cloud" in " ".join(pool["containerSpec"]["command"])
