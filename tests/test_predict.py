"""``mnist-widgets predict``: pictures and JSON instances through a .keras file or a SavedModel."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from mnist_widgets.cli import main

DIGITS = 20  # test digits written as pictures


@pytest.fixture(scope="module")
def models(tmp_path_factory, small_mnist):
    """A dense model trained for one epoch on 3,000 images, saved both ways."""
    from mnist_widgets.cloud.export import save_keras, save_saved_model
    from mnist_widgets.training.engine import train_preset

    (x_train, y_train), test = small_mnist
    data = ((x_train[:3000], y_train[:3000]), test)
    model, result = train_preset("dense", epochs=1, data=data, seed=7)
    assert result.test_accuracy > 0.8
    folder = tmp_path_factory.mktemp("models")
    save_keras(model, str(folder / "dense.keras"))
    save_saved_model(model, str(folder / "export"))
    return model, folder


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, small_mnist):
    """MNIST test digits as PNGs (white on black, black on white, 200x200, black on
    transparent) and JSON files."""
    _, (x_test, _) = small_mnist
    folder = tmp_path_factory.mktemp("inputs")
    kinds = {"white": [], "black": [], "big": [], "transparent": []}
    for i in range(DIGITS):
        digit = x_test[i]
        ink = np.zeros((28, 28, 4), np.uint8)
        ink[..., 3] = digit  # black ink on a transparent background, as drawing apps export
        for kind, picture in (
            ("white", Image.fromarray(digit)),
            ("black", Image.fromarray(255 - digit)),
            ("big", Image.fromarray(255 - digit).resize((200, 200), Image.BILINEAR)),
            ("transparent", Image.fromarray(ink, "RGBA")),
        ):
            path = folder / f"{kind}-{i}.png"
            picture.save(path)
            kinds[kind].append(path)
    jpeg = folder / "black-0.jpg"
    Image.fromarray(255 - x_test[0]).convert("RGB").save(jpeg, quality=95)
    batch = folder / "batch.json"
    batch.write_text(json.dumps({"instances": (x_test[:5] / 255.0).round(4).tolist()}))
    plain = folder / "plain.json"
    plain.write_text(json.dumps(x_test[5:8].tolist()))  # 0-255 values, a bare list
    return kinds, jpeg, batch, plain


def parse(stdout: str) -> dict[str, tuple[int, float]]:
    result = {}
    for line in stdout.strip().splitlines():
        name, rest = line.rsplit(": ", 1)
        digit, probability = rest.split(" ")
        result[name] = (int(digit), float(probability.strip("()")))
    return result


@pytest.mark.slow
@pytest.mark.parametrize("which", ["dense.keras", "export"])
def test_pictures_and_json_get_the_classes_of_the_originals(
    which, models, inputs, small_mnist, capsys
):
    model, folder = models
    kinds, jpeg, batch, plain = inputs
    _, (x_test, _) = small_mnist
    expected = model.predict(x_test[:DIGITS].reshape(-1, 784) / 255.0, verbose=0)
    files = [str(p) for paths in kinds.values() for p in paths] + [
        str(jpeg),
        str(batch),
        str(plain),
    ]

    assert main(["predict", "--model", str(folder / which), *files]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    lines = parse(captured.out)
    assert len(lines) == 4 * DIGITS + 1 + 5 + 3  # one line per digit

    for kind, paths in kinds.items():
        predicted = np.array([lines[str(p)][0] for p in paths])
        agree = (predicted == expected.argmax(axis=1)).mean()
        assert agree >= 0.85, (kind, agree)  # the same digits after to_mnist, mostly
    assert lines[str(jpeg)][0] == lines[str(kinds["black"][0])][0]
    # JSON instances go in as they are: the model's own answers, with its probabilities
    for i in range(5):
        digit, probability = lines[f"{batch}[{i}]"]
        assert digit == expected[i].argmax()
        assert probability == pytest.approx(expected[i].max(), abs=1.5e-3)
    for i in range(3):
        assert lines[f"{plain}[{i}]"][0] == expected[5 + i].argmax()


@pytest.mark.slow
def test_bad_files_get_an_error_each_and_the_others_are_still_predicted(
    models, inputs, tmp_path, capsys
):
    _, folder = models
    kinds, _, batch, _ = inputs
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    malformed = tmp_path / "malformed.json"
    malformed.write_text('{"instances": [[0, 1,')
    wrong_shape = tmp_path / "shape.json"
    wrong_shape.write_text(json.dumps([[0.0] * 10]))
    text = tmp_path / "notes.txt"
    text.write_text("7")
    good = str(kinds["white"][0])
    files = [str(corrupt), good, str(malformed), str(batch), str(wrong_shape), str(text)]
    files.append(str(tmp_path / "missing.png"))

    assert main(["predict", "--model", str(folder / "export"), *files]) == 1
    captured = capsys.readouterr()
    errors = captured.err.strip().splitlines()
    assert len(errors) == 5, errors
    assert errors[0].startswith(f"{corrupt}: error: not a readable PNG/JPEG picture")
    assert errors[1].startswith(f"{malformed}: error: malformed JSON")
    assert errors[2] == f"{wrong_shape}: error: instances must be 28x28 arrays, got shape (10,)"
    assert errors[3].startswith(f"{text}: error: expected a .png")
    assert errors[4] == f"{tmp_path / 'missing.png'}: error: no such file"
    assert set(parse(captured.out)) == {good} | {f"{batch}[{i}]" for i in range(5)}


@pytest.mark.parametrize("model", ["missing.keras", "folder", "model.txt"])
def test_an_unreadable_model_exits_2(model, tmp_path, capsys):
    (tmp_path / "folder").mkdir()
    (tmp_path / "model.txt").write_text("not a model")
    picture = tmp_path / "digit.png"
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(picture)
    assert main(["predict", "--model", str(tmp_path / model), str(picture)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("mnist-widgets: error: ") and len(err.splitlines()) == 1


def test_a_blank_picture_is_predicted_not_refused(models, tmp_path, capsys):
    _, folder = models
    blank = tmp_path / "blank.png"
    Image.fromarray(np.full((50, 80), 255, np.uint8)).save(blank)
    assert main(["predict", "--model", str(folder / "dense.keras"), str(blank)]) == 0
    digit, probability = parse(capsys.readouterr().out)[str(blank)]
    assert 0 <= digit <= 9 and 0 < probability <= 1


def test_a_model_trained_with_the_kits_schedule_and_loss_saves_for_plain_keras(
    tmp_path, small_mnist
):
    """cnn-fast trains with the kit's one-cycle schedule and smoothed loss; its saved .keras
    file loads, compiled, in a process that never imports the kit."""
    import subprocess
    import sys

    from mnist_widgets.cloud.export import save_keras
    from mnist_widgets.training.engine import train_preset

    (x_train, y_train), (x_test, y_test) = small_mnist
    data = ((x_train[:512], y_train[:512]), (x_test[:200], y_test[:200]))
    model, _ = train_preset("cnn-fast", epochs=1, data=data, seed=1, fast=True)
    path = tmp_path / "fast.keras"
    save_keras(model, str(path))
    np.save(tmp_path / "x.npy", x_test[:5].reshape(-1, 28, 28, 1) / 255.0)
    code = (
        "import sys, keras, numpy as np; m = keras.models.load_model(sys.argv[1]); "
        "assert m.optimizer is not None and m.loss == 'sparse_categorical_crossentropy'; "
        "assert not any(k.startswith('mnist_widgets') for k in sys.modules); "
        "print(m.predict(np.load(sys.argv[2]), verbose=0).argmax(1).tolist())"
    )
    run = subprocess.run(
        [sys.executable, "-c", code, str(path), str(tmp_path / "x.npy")],
        capture_output=True,
        text=True,
        timeout=120,
        env={"TF_CPP_MIN_LOG_LEVEL": "3", "PATH": "/usr/bin:/bin"},
    )
    assert run.returncode == 0, run.stderr[-2000:]
    expected = model.predict(x_test[:5].reshape(-1, 28, 28, 1) / 255.0, verbose=0).argmax(1)
    assert run.stdout.split("\n")[-2] == str(expected.tolist())
