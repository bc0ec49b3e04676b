"""Shared fixtures: the real MNIST from $MNIST_WIDGETS_DATA, loaded once per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
REPO = Path(__file__).resolve().parents[1]


def pytest_configure(config):
    if not os.environ.get("MNIST_WIDGETS_DATA"):
        shared = REPO.parent / "shared" / "data"
        if (shared / "mnist").is_dir():
            os.environ["MNIST_WIDGETS_DATA"] = str(shared)


@pytest.fixture(scope="session")
def mnist():
    """((x_train, y_train), (x_test, y_test)) of the real MNIST, as uint8 arrays."""
    from mnist_widgets.data import load_data

    return load_data("mnist", download=False)


@pytest.fixture(scope="session")
def small_mnist(mnist):
    """The first 6,000 training images with the full 10,000 test images."""
    (x_train, y_train), test = mnist
    return (x_train[:6000], y_train[:6000]), test
