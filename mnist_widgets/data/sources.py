"""Where the data sets live: known files, checksums, mirrors and search order."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import DataError

ENV_VAR = "MNIST_WIDGETS_DATA"
CACHE_ENV_VAR = "MNIST_WIDGETS_CACHE"
MIRROR_ENV_VAR = "MNIST_WIDGETS_MIRROR"
SYSTEM_DIRS = {"fashion-mnist": Path("/usr/share/datasets/fashion-mnist")}

TRAIN_IMAGES = "train-images-idx3-ubyte"
TRAIN_LABELS = "train-labels-idx1-ubyte"
TEST_IMAGES = "t10k-images-idx3-ubyte"
TEST_LABELS = "t10k-labels-idx1-ubyte"
FILE_STEMS = (TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS)


@dataclass(frozen=True)
class KnownFile:
    """One of a data set's four files and the SHA-256 digests it may carry."""

    stem: str
    raw_sha256: str
    gz_sha256: frozenset[str] = field(default_factory=frozenset)

    @property
    def gz_name(self) -> str:
        return self.stem + ".gz"

    def matches(self, stored_sha256: str | None = None, raw_sha256: str | None = None) -> bool:
        return stored_sha256 in self.gz_sha256 or raw_sha256 == self.raw_sha256


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    files: dict[str, KnownFile]
    mirrors: tuple[str, ...]


MNIST = DatasetInfo(
    name="mnist",
    files={
        TRAIN_IMAGES: KnownFile(
            TRAIN_IMAGES,
            "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
            frozenset(
                {
                    "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
                    "0b367032e93c5d0cea0925647cfdb18614af8ee15f83e6f2fc2ad904a6835971",
                }
            ),
        ),
        TRAIN_LABELS: KnownFile(
            TRAIN_LABELS,
            "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
            frozenset({"3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"}),
        ),
        TEST_IMAGES: KnownFile(
            TEST_IMAGES,
            "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
            frozenset({"8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"}),
        ),
        TEST_LABELS: KnownFile(
            TEST_LABELS,
            "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
            frozenset({"f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"}),
        ),
    },
    mirrors=(
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
    ),
)

FASHION_MNIST = DatasetInfo(
    name="fashion-mnist",
    files={
        TRAIN_IMAGES: KnownFile(
            TRAIN_IMAGES,
            "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
            frozenset({"b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7"}),
        ),
        TRAIN_LABELS: KnownFile(
            TRAIN_LABELS,
            "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
            frozenset({"0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056"}),
        ),
        TEST_IMAGES: KnownFile(
            TEST_IMAGES,
            "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
            frozenset({"cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa"}),
        ),
        TEST_LABELS: KnownFile(
            TEST_LABELS,
            "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
            frozenset({"8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05"}),
        ),
    },
    mirrors=(
        "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    ),
)

DATASETS: dict[str, DatasetInfo] = {d.name: d for d in (MNIST, FASHION_MNIST)}


def dataset_info(name: str) -> DatasetInfo:
    key = name.lower().replace("_", "-")
    if key not in DATASETS:
        raise DataError(f"unknown data set {name!r}; choose one of {', '.join(DATASETS)}")
    return DATASETS[key]


def mirrors_for(info: DatasetInfo) -> tuple[str, ...]:
    """Base URLs to download from: ``$MNIST_WIDGETS_MIRROR`` (comma-separated) first."""
    extra = os.environ.get(MIRROR_ENV_VAR, "")
    own = tuple(u.strip() for u in extra.split(",") if u.strip())
    return own + info.mirrors


def cache_dir() -> Path:
    """The per-user download cache (``$MNIST_WIDGETS_CACHE`` or ``~/.cache/mnist-widgets``)."""
    if os.environ.get(CACHE_ENV_VAR):
        return Path(os.environ[CACHE_ENV_VAR]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "mnist-widgets"


def find_file(folder: Path, stem: str) -> Path | None:
    """The gzipped or raw copy of a file in ``folder``, if either exists."""
    for candidate in (folder / (stem + ".gz"), folder / stem):
        if candidate.is_file():
            return candidate
    return None


def candidate_dirs(name: str, data_dir: str | Path | None = None) -> list[tuple[str, Path]]:
    """Folders to look in, in order, each with a word saying where it came from.

    An explicit ``data_dir`` may be the data set's own folder or a parent that holds
    ``mnist/`` and ``fashion-mnist/``; so may ``$MNIST_WIDGETS_DATA``.
    """
    info = dataset_info(name)
    found: list[tuple[str, Path]] = []
    if data_dir is not None:
        root = Path(data_dir).expanduser()
        return [("argument", root / info.name), ("argument", root)]
    env = os.environ.get(ENV_VAR)
    if env:
        root = Path(env).expanduser()
        found += [(ENV_VAR, root / info.name), (ENV_VAR, root)]
    if info.name in SYSTEM_DIRS:
        found.append(("system", SYSTEM_DIRS[info.name]))
    found.append(("cache", cache_dir() / info.name))
    return found


def locate(name: str, data_dir: str | Path | None = None) -> tuple[str, Path] | None:
    """The first candidate folder holding all four files, or None."""
    info = dataset_info(name)
    for origin, folder in candidate_dirs(name, data_dir):
        if all(find_file(folder, stem) for stem in info.files):
            return origin, folder
    return None
