"""Load a data set's four IDX files into numpy arrays, the way Keras returns them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataError
from .download import checksum_match, download_file
from .idx import parse_idx, read_bytes
from .sources import (
    FILE_STEMS,
    TEST_IMAGES,
    TEST_LABELS,
    TRAIN_IMAGES,
    TRAIN_LABELS,
    DatasetInfo,
    KnownFile,
    cache_dir,
    candidate_dirs,
    dataset_info,
    find_file,
    locate,
    mirrors_for,
)

Split = tuple[np.ndarray, np.ndarray]
EXPECTED_SHAPES = {
    TRAIN_IMAGES: (60000, 28, 28),
    TRAIN_LABELS: (60000,),
    TEST_IMAGES: (10000, 28, 28),
    TEST_LABELS: (10000,),
}


@dataclass(frozen=True)
class FileReport:
    """What ``data info`` says of one file."""

    path: Path
    shape: tuple[int, ...]
    checksum_ok: bool
    which: str  # "gz", "raw" or "mismatch"


def _load_one(path: Path, known: KnownFile, verify: bool) -> tuple[np.ndarray, str]:
    idx = read_bytes(path)
    which = checksum_match(idx, known) if verify else "unchecked"
    if which == "mismatch":
        raise DataError(
            f"{path}: checksum mismatch (not the published {known.stem}); "
            "delete it or point MNIST_WIDGETS_DATA at good files"
        )
    array = parse_idx(idx.raw, str(path))
    expected = EXPECTED_SHAPES[known.stem]
    if array.shape != expected:
        raise DataError(f"{path}: shape {array.shape}, expected {expected}")
    return np.array(array, dtype=np.uint8), which


def resolve_dir(
    name: str = "mnist", data_dir: str | Path | None = None, download: bool = True
) -> tuple[str, Path]:
    """The folder holding all four files; downloads them into the cache when allowed."""
    info = dataset_info(name)
    hit = locate(info.name, data_dir)
    if hit:
        return hit
    if not download:
        looked = ", ".join(str(p) for _, p in candidate_dirs(info.name, data_dir))
        raise DataError(
            f"{info.name} not found (looked in {looked}); set MNIST_WIDGETS_DATA or allow download"
        )
    target = Path(data_dir).expanduser() / info.name if data_dir else cache_dir() / info.name
    fetch_missing(info, target)
    return "download", target


def fetch_missing(info: DatasetInfo, target: Path) -> None:
    """Download each of the four files that ``target`` does not have yet."""
    for stem, known in info.files.items():
        if find_file(target, stem) is None:
            download_file(known, target, mirrors_for(info))


def _load_files(
    name: str, data_dir: str | Path | None, download: bool, verify: bool, stems: tuple[str, ...]
) -> dict[str, np.ndarray]:
    info = dataset_info(name)
    _, folder = resolve_dir(info.name, data_dir, download)
    # One file after another, on this thread (bench/data_load.py times the loading).
    return {stem: _load_one(find_file(folder, stem), info.files[stem], verify)[0] for stem in stems}


def load_data(
    name: str = "mnist",
    data_dir: str | Path | None = None,
    download: bool = True,
    verify: bool = True,
) -> tuple[Split, Split]:
    """Return ``(x_train, y_train), (x_test, y_test)`` as uint8 arrays, like Keras does.

    Files are looked for in ``data_dir``, ``$MNIST_WIDGETS_DATA``, the system location
    (Fashion-MNIST's Debian package), the user cache, and last fetched from a mirror.
    """
    arrays = _load_files(name, data_dir, download, verify, FILE_STEMS)
    return (arrays[TRAIN_IMAGES], arrays[TRAIN_LABELS]), (arrays[TEST_IMAGES], arrays[TEST_LABELS])


def load_test_data(
    name: str = "mnist",
    data_dir: str | Path | None = None,
    download: bool = True,
    verify: bool = True,
) -> Split:
    """Return ``(x_test, y_test)`` only, found and verified as ``load_data`` does."""
    arrays = _load_files(name, data_dir, download, verify, (TEST_IMAGES, TEST_LABELS))
    return arrays[TEST_IMAGES], arrays[TEST_LABELS]


def inspect(name: str = "mnist", data_dir: str | Path | None = None) -> tuple[str, Path, list]:
    """Where a data set was found and a report per file (no download)."""
    info = dataset_info(name)
    origin, folder = resolve_dir(info.name, data_dir, download=False)
    reports = []
    for stem in FILE_STEMS:
        path = find_file(folder, stem)
        idx = read_bytes(path)
        which = checksum_match(idx, info.files[stem])
        shape = parse_idx(idx.raw, str(path)).shape
        reports.append(FileReport(path, shape, which != "mismatch", which))
    return origin, folder, reports
