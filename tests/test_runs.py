"""Saved runs: what a Trainer given a runs folder writes, and how the folder is listed,
loaded and cleaned up (atomic saves, corrupt folders reported, deletes)."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from tiny_runs import TRAIN_IMAGES, narrower_dense, tiny_data, train_run

from mnist_widgets.errors import RunError
from mnist_widgets.models import PRESETS, build, get_preset, to_code
from mnist_widgets.models.presets import EXTRA_PRESETS
from mnist_widgets.runs import (
    FORMAT_VERSION,
    RunCurves,
    RunManifest,
    delete_run,
    list_runs,
    load_run,
    recipe_from_dict,
    recipe_to_dict,
    save_run,
)
from mnist_widgets.training import Trainer


@pytest.fixture(scope="module")
def saved(tmp_path_factory, mnist):
    """A runs folder with two tiny runs: the dense preset, then a narrower custom variant."""
    folder = tmp_path_factory.mktemp("runs")
    data = tiny_data(mnist)
    trainers = [train_run(folder, data), train_run(folder, data, layers=narrower_dense())]
    return folder, trainers


def copy_runs(saved, target: Path) -> Path:
    shutil.copytree(saved[0], target)
    return target


def test_a_run_saves_what_it_trained_and_how_it_went(saved):
    folder, (trainer, _) = saved
    result = trainer.result
    listing = list_runs(folder)
    assert not listing.problems
    run = listing.runs[0]
    assert result.run_folder == run.path and run.path.parent == folder
    assert sorted(p.name for p in run.path.iterdir()) == [
        "curves.npz",
        "model.keras",
        "model.py",
        "run.json",
    ]
    m = run.manifest
    preset = get_preset("dense")
    assert m.preset == "dense"
    assert m.recipe == dataclasses.replace(preset.recipe, epochs=2)
    assert [(s.kind, s.full_params()) for s in m.layers] == [
        (s.kind, s.full_params()) for s in preset.layers
    ]
    assert m.parameters == trainer.model.count_params() == 169_670
    assert (m.epochs, m.epochs_run, m.status) == (2, 2, "finished")
    assert m.test_accuracy == pytest.approx(result.test_accuracy)
    assert m.seconds == pytest.approx(result.seconds)
    assert m.images_per_second == pytest.approx(2 * TRAIN_IMAGES / result.seconds)
    assert m.train_images == TRAIN_IMAGES and m.dataset == "mnist" and m.seed == 1
    assert run.read_code() == to_code(preset.layers, m.recipe)
    assert "EPOCHS = 2" in run.read_code()
    # the curves are the run's own: each batch's values and each epoch's logs
    curves = run.read_curves()
    batches = trainer.history.batch_series()
    np.testing.assert_allclose(curves.batches["x"], [0.25, 0.5, 0.75, 1, 1.25, 1.5, 1.75, 2])
    np.testing.assert_allclose(curves.batches["loss"], batches["loss"])
    np.testing.assert_allclose(curves.batches["accuracy"], batches["accuracy"])
    np.testing.assert_allclose(curves.epochs["x"], [1.0, 2.0])
    np.testing.assert_allclose(curves.epochs["val_accuracy"], result.history["val_accuracy"])
    np.testing.assert_allclose(curves.epochs["loss"], result.history["loss"])
    np.testing.assert_allclose(curves.learning_rates, result.learning_rates)
    # the model file holds the trained weights
    x = trainer.data[1][0][:20].reshape(20, -1) / 255.0
    np.testing.assert_allclose(
        run.load_model().predict(x, verbose=0), trainer.model.predict(x, verbose=0), atol=1e-6
    )


def test_a_model_that_is_no_preset_is_custom_with_its_own_layers(saved):
    folder, (_, custom) = saved
    run = list_runs(folder).runs[1]
    assert run.path == custom.result.run_folder
    assert run.manifest.preset == "custom"
    assert run.manifest.layers[2].full_params()["units"] == 30
    assert run.manifest.parameters == custom.model.count_params()
    assert "tf.keras.layers.Dense(30, activation='relu')," in run.read_code()
    assert load_run(run.path) == run


def test_runs_are_listed_oldest_first(saved):
    listing = list_runs(saved[0])
    created = [run.manifest.created for run in listing.runs]
    assert created == sorted(created) and len(created) == 2
    assert listing.names() == [t.result.run_folder.name for t in saved[1]]
    assert list_runs(saved[0] / "not-yet").runs == []


def test_a_stopped_run_is_saved_as_stopped(tmp_path, mnist):
    preset = get_preset("dense")
    trainer = Trainer(
        build(preset.layers), preset.recipe, data=tiny_data(mnist), epochs=3, runs=tmp_path
    )

    def stop_after_first_batch(event):
        if event.kind == "batch_end":
            trainer.stop()

    trainer.emitter.listeners.append(stop_after_first_batch)
    trainer.run()
    (run,) = list_runs(tmp_path).runs
    assert trainer.result.stop_reason == "user"
    assert (run.manifest.status, run.manifest.epochs, run.manifest.epochs_run) == (
        "stopped",
        3,
        1,
    )
    assert run.manifest.stopped_early
    assert len(run.read_curves().batches["x"]) == 1


def test_no_runs_folder_saves_nothing(tmp_path, mnist, monkeypatch):
    monkeypatch.chdir(tmp_path)
    trainer = train_run(None, tiny_data(mnist), epochs=1)
    assert trainer.result.run_folder is None and trainer.runs is None
    assert list(tmp_path.iterdir()) == []


def test_corrupt_folders_are_listed_with_a_reason_not_a_crash(saved, tmp_path):
    folder = copy_runs(saved, tmp_path / "runs")
    good, other = list_runs(folder).runs
    broken = {}
    for name in ("bad-json", "no-field", "newer", "no-model", "bad-curves", "bad-recipe"):
        broken[name] = folder / name
        shutil.copytree(other.path, broken[name])
    (broken["bad-json"] / "run.json").write_text('{"format": "mnist-widgets run", ')
    manifest = json.loads((other.path / "run.json").read_text())
    del manifest["parameters"]
    (broken["no-field"] / "run.json").write_text(json.dumps(manifest))
    manifest = json.loads((other.path / "run.json").read_text())
    (broken["newer"] / "run.json").write_text(
        json.dumps({**manifest, "format_version": FORMAT_VERSION + 1})
    )
    (broken["no-model"] / "model.keras").unlink()
    (broken["bad-curves"] / "curves.npz").write_bytes(b"not a zip")
    (broken["bad-recipe"] / "run.json").write_text(
        json.dumps({**manifest, "recipe": {**manifest["recipe"], "optimizer": "adagrad"}})
    )
    (folder / "not-a-run").mkdir()
    (folder / ".saving-20261201-000000-dense-0000").mkdir()  # a save in progress: skipped
    (folder / "notes.txt").write_text("plain files are not runs")

    listing = list_runs(folder)
    assert [run.name for run in listing.runs] == [good.name, other.name, "bad-curves"]
    reasons = {problem.path.name: problem.reason for problem in listing.problems}
    assert sorted(reasons) == [
        "bad-json",
        "bad-recipe",
        "newer",
        "no-field",
        "no-model",
        "not-a-run",
    ]
    assert "not valid JSON (line 1" in reasons["bad-json"]
    assert "lacks parameters" in reasons["no-field"]
    assert "newer mnist-widgets" in reasons["newer"] and "upgrade" in reasons["newer"]
    assert reasons["no-model"] == "model.keras missing"
    assert "adagrad" in reasons["bad-recipe"]
    assert reasons["not-a-run"] == "no run.json: not a saved run"
    assert all("\n" not in str(problem) for problem in listing.problems)
    assert str(listing.problems[0]).startswith("bad-json: ")
    # the curves file is read on demand: its fault is reported then, in one line
    with pytest.raises(RunError, match=r"^bad-curves: curves.npz is not a curves file"):
        listing.runs[-1].read_curves()


def test_delete_removes_the_folder_and_only_run_folders(saved, tmp_path):
    folder = copy_runs(saved, tmp_path / "runs")
    first, second = list_runs(folder).runs
    delete_run(first)
    assert not first.path.exists()
    assert list_runs(folder).names() == [second.name]
    assert sorted(p.name for p in folder.iterdir()) == [second.name]  # nothing hidden left
    (folder / "keep").mkdir()
    with pytest.raises(RunError, match="not a saved run"):
        delete_run(folder / "keep")
    assert (folder / "keep").is_dir()


class FailingModel:
    def save(self, path):
        Path(path).write_bytes(b"half a model")
        raise OSError(28, "No space left on device")


class InterruptedModel:
    def save(self, path):
        raise KeyboardInterrupt


@pytest.mark.parametrize(
    "model, error", [(FailingModel(), RunError), (InterruptedModel(), KeyboardInterrupt)]
)
def test_a_failed_save_leaves_no_half_run(saved, tmp_path, model, error):
    run = list_runs(saved[0]).runs[0]
    folder = tmp_path / "runs"
    with pytest.raises(error) as caught:
        save_run(folder, run.manifest, run.read_curves(), run.read_code(), model)
    if error is RunError:
        assert "No space left on device" in str(caught.value)
    assert list(folder.iterdir()) == []


class CopiedModel:
    def __init__(self, source: Path) -> None:
        self.source = source

    def save(self, path):
        shutil.copy(self.source, path)


def test_runs_saved_in_the_same_second_get_their_own_folders(saved, tmp_path):
    run = list_runs(saved[0]).runs[0]
    model = CopiedModel(run.model_path)
    paths = [
        save_run(tmp_path, run.manifest, run.read_curves(), run.read_code(), model).path
        for _ in range(3)
    ]
    base = run.name
    assert [p.name for p in paths] == [base, f"{base}-2", f"{base}-3"]
    assert [r.path for r in list_runs(tmp_path).runs] == paths


@pytest.mark.parametrize("name", [*PRESETS, *EXTRA_PRESETS])
def test_every_presets_recipe_round_trips_through_json(name):
    recipe = get_preset(name).recipe
    assert recipe_from_dict(json.loads(json.dumps(recipe_to_dict(recipe)))) == recipe


def test_a_manifest_round_trips_and_refuses_nonsense(saved):
    manifest = list_runs(saved[0]).runs[0].manifest
    data = json.loads(json.dumps(manifest.to_dict()))
    assert data["format_version"] == FORMAT_VERSION
    assert RunManifest.from_dict(data) == manifest
    with pytest.raises(RunError, match="not a run manifest"):
        RunManifest.from_dict([1, 2])
    with pytest.raises(RunError, match="unknown run status"):
        RunManifest.from_dict({**data, "status": "exploded"})
    with pytest.raises(RunError, match="has 2 points, not 3"):
        RunCurves(batches={"x": np.arange(3), "loss": np.arange(2)})


def test_train_out_writes_a_run(tmp_path):
    out = tmp_path / "runs"
    command = [sys.executable, "-m", "mnist_widgets", "train", "--preset", "softmax"]
    command += ["--epochs", "1", "--limit", "512", "--seed", "2", "--out", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, env=os.environ, timeout=300)
    assert done.returncode == 0, done.stderr
    (run,) = list_runs(out).runs
    accuracy = re.fullmatch(r"test_accuracy=(\d\.\d{4})", done.stdout.split()[-1]).group(1)
    assert float(accuracy) == pytest.approx(run.manifest.test_accuracy, abs=5e-5)
    assert f"saved {run.path}" in done.stdout
    assert run.manifest.preset == "softmax" and run.manifest.extra_files == ["curves.png"]
    assert (run.path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert run.manifest.epochs_run == 1 and run.manifest.train_images == 512
    assert len(run.read_curves().batches["x"]) == 4  # 512 images in batches of 128
