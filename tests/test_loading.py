"""Loading MNIST like Keras does, from the places the loader looks in, with checksums."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest

from mnist_widgets.data import load_data, sources
from mnist_widgets.data.loading import inspect, resolve_dir
from mnist_widgets.errors import DataError


def shared_mnist() -> Path:
    import os

    return Path(os.environ["MNIST_WIDGETS_DATA"]) / "mnist"


def test_load_data_matches_the_keras_contract(mnist):
    (x_train, y_train), (x_test, y_test) = mnist
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert y_train.shape == (60000,) and y_test.shape == (10000,)
    assert {a.dtype for a in (x_train, y_train, x_test, y_test)} == {np.dtype(np.uint8)}
    # the first training labels of MNIST, and the class balance of the test set
    assert y_train[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert np.bincount(y_test).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert x_train.max() == 255 and x_train.min() == 0
    assert x_train.flags.writeable


def test_raw_files_load_the_same_as_gzipped(tmp_path, mnist):
    folder = tmp_path / "mnist"
    folder.mkdir()
    for gz in shared_mnist().glob("*.gz"):
        (folder / gz.stem).write_bytes(gzip.decompress(gz.read_bytes()))
    (x_train, _), (x_test, y_test) = load_data(data_dir=tmp_path, download=False)
    np.testing.assert_array_equal(x_train, mnist[0][0])
    np.testing.assert_array_equal(y_test, mnist[1][1])
    _, _, reports = inspect("mnist", tmp_path)
    assert all(r.checksum_ok and r.which == "raw" for r in reports)


def copy_mnist(tmp_path: Path) -> Path:
    folder = tmp_path / "mnist"
    shutil.copytree(shared_mnist(), folder)
    for path in folder.iterdir():
        path.chmod(0o644)
    return folder


def test_checksum_mismatch_is_a_one_line_error(tmp_path):
    folder = copy_mnist(tmp_path)
    labels = folder / "t10k-labels-idx1-ubyte.gz"
    raw = bytearray(gzip.decompress(labels.read_bytes()))
    raw[100] = (raw[100] + 1) % 10  # a valid IDX file with one wrong label
    labels.write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.gz: checksum mismatch") as info:
        load_data(data_dir=tmp_path, download=False)
    assert "\n" not in str(info.value)


def test_truncated_file_is_reported(tmp_path):
    folder = copy_mnist(tmp_path)
    images = folder / "t10k-images-idx3-ubyte.gz"
    images.write_bytes(images.read_bytes()[:50000])
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte.gz: truncated"):
        load_data(data_dir=tmp_path, download=False)


def test_missing_file_without_download_says_where_it_looked(tmp_path):
    folder = copy_mnist(tmp_path)
    (folder / "train-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match="mnist not found .*looked in"):
        load_data(data_dir=tmp_path, download=False)


def test_search_order(tmp_path, monkeypatch):
    env_root, cache_root = tmp_path / "env", tmp_path / "cache"
    copy_mnist(env_root)
    copy_mnist(cache_root)
    monkeypatch.setenv(sources.ENV_VAR, str(env_root))
    monkeypatch.setenv(sources.CACHE_ENV_VAR, str(cache_root))
    assert resolve_dir("mnist", download=False) == (sources.ENV_VAR, env_root / "mnist")
    # an explicit folder wins over the environment
    assert resolve_dir("mnist", cache_root, download=False)[1] == cache_root / "mnist"
    # without the environment variable, the user cache is next
    monkeypatch.delenv(sources.ENV_VAR)
    assert resolve_dir("mnist", download=False) == ("cache", cache_root / "mnist")


def test_fashion_mnist_from_the_system_location(monkeypatch, tmp_path):
    if not sources.SYSTEM_DIRS["fashion-mnist"].is_dir():
        pytest.skip("Debian package dataset-fashion-mnist is not installed")
    monkeypatch.delenv(sources.ENV_VAR, raising=False)
    monkeypatch.setenv(sources.CACHE_ENV_VAR, str(tmp_path))
    origin, folder = resolve_dir("fashion-mnist", download=False)
    assert origin == "system"
    (x_train, y_train), (x_test, y_test) = load_data("fashion-mnist", download=False)
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert np.bincount(y_train).tolist() == [6000] * 10


def test_unknown_dataset_name():
    with pytest.raises(DataError, match="unknown data set 'cifar'"):
        load_data("cifar")
