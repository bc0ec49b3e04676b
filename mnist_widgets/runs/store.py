"""Run folders on disk: save one atomically, list a runs folder, load one, delete one.

A run is written into a hidden temporary folder beside its final place and renamed into it
when every file is written, so a crash leaves no half run (only a hidden ``.saving-*``
folder, which listings skip). Listing never stops at a broken folder: it is reported as a
``RunProblem`` with a one-line reason and the other runs are listed.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ..errors import RunError
from .curves import RunCurves
from .manifest import RunManifest

MANIFEST_FILE = "run.json"
CODE_FILE = "model.py"
CURVES_FILE = "curves.npz"
MODEL_FILE = "model.keras"
REQUIRED_FILES = (CODE_FILE, CURVES_FILE, MODEL_FILE)
SAVING_PREFIX = ".saving-"
DELETING_PREFIX = ".deleting-"


def now() -> str:
    """The current time in UTC, ISO 8601 to the microsecond (runs sort by it)."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class SavedRun:
    """One run folder and its manifest; the code, curves and model are read on demand."""

    path: Path
    manifest: RunManifest

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def code_path(self) -> Path:
        return self.path / CODE_FILE

    @property
    def curves_path(self) -> Path:
        return self.path / CURVES_FILE

    @property
    def model_path(self) -> Path:
        return self.path / MODEL_FILE

    def read_code(self) -> str:
        """The generated Keras code of the run's model and recipe."""
        try:
            return self.code_path.read_text(encoding="utf-8")
        except OSError as exc:
            raise RunError(f"{self.name}: cannot read {CODE_FILE} ({exc.strerror})") from None

    def read_curves(self) -> RunCurves:
        try:
            return RunCurves.load(self.curves_path)
        except RunError as exc:
            raise RunError(f"{self.name}: {exc}") from None

    def load_model(self):
        """The trained Keras model (``keras.saving.load_model`` of ``model.keras``)."""
        import keras

        return keras.saving.load_model(self.model_path)


@dataclass(frozen=True)
class RunProblem:
    """A folder in a runs folder that is not a readable run, and why."""

    path: Path
    reason: str

    def __str__(self) -> str:
        return f"{self.path.name}: {self.reason}"


@dataclass
class RunListing:
    """The readable runs of a runs folder, oldest first, and the folders skipped."""

    folder: Path
    runs: list[SavedRun] = field(default_factory=list)
    problems: list[RunProblem] = field(default_factory=list)

    def __iter__(self):
        return iter(self.runs)

    def __len__(self) -> int:
        return len(self.runs)

    def names(self) -> list[str]:
        return [run.name for run in self.runs]


def _folder_name(manifest: RunManifest) -> str:
    """``20261201-134512-cnn-batchnorm``: when (UTC, to the second) and which preset."""
    stamp = datetime.fromisoformat(manifest.created).strftime("%Y%m%d-%H%M%S")
    label = re.sub(r"[^\w.-]+", "-", manifest.preset).strip("-") or "run"
    return f"{stamp}-{label}"


def save_run(
    folder: str | Path,
    manifest: RunManifest,
    curves: RunCurves,
    code: str,
    model,
    extras: dict[str, Callable[[Path], object]] | None = None,
) -> SavedRun:
    """Write one run into a new folder inside ``folder`` (made when missing); return it.

    ``model`` is saved with ``model.save(path)``; each of ``extras`` (file name -> writer
    called with the file's path) adds a file, listed in the manifest's ``extra_files``.
    """
    folder = Path(folder).expanduser()
    extras = dict(extras or {})
    clash = set(extras) & {MANIFEST_FILE, *REQUIRED_FILES}
    if clash or any("/" in name or name.startswith(".") for name in extras):
        raise RunError(f"extra files cannot be named {', '.join(sorted(extras))}")
    manifest.extra_files = sorted(extras)
    base = _folder_name(manifest)
    temporary = folder / f"{SAVING_PREFIX}{base}-{uuid.uuid4().hex[:8]}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        temporary.mkdir()
        (temporary / CODE_FILE).write_text(code, encoding="utf-8")
        curves.save(temporary / CURVES_FILE)
        model.save(temporary / MODEL_FILE)
        for name, write in extras.items():
            write(temporary / name)
        text = json.dumps(manifest.to_dict(), indent=2, allow_nan=False)
        (temporary / MANIFEST_FILE).write_text(text + "\n", encoding="utf-8")
        final = _rename_free(temporary, folder, base)
    except OSError as exc:
        shutil.rmtree(temporary, ignore_errors=True)
        raise RunError(
            f"cannot save the run into {folder} ({exc.strerror or exc}): "
            "give a writable runs folder"
        ) from None
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    return SavedRun(final, manifest)


def _rename_free(temporary: Path, folder: Path, base: str) -> Path:
    """Rename ``temporary`` to ``folder/base`` or, when taken, ``base-2``, ``base-3``..."""
    for number in range(1, 1000):
        final = folder / (base if number == 1 else f"{base}-{number}")
        if final.exists():
            continue
        try:
            os.rename(temporary, final)  # atomic; fails if another run took the name since
            return final
        except OSError as exc:
            if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise
    raise RunError(f"{folder} already holds 999 runs named {base}: choose another runs folder")


def load_run(path: str | Path) -> SavedRun:
    """Read one run folder; RunError with a one-line reason when it is not a readable run."""
    path = Path(path).expanduser()
    manifest_path = path / MANIFEST_FILE
    if not path.is_dir():
        raise RunError(f"{path} is not a folder")
    try:
        text = manifest_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RunError(f"no {MANIFEST_FILE}: not a saved run") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RunError(f"cannot read {MANIFEST_FILE} ({exc})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RunError(
            f"{MANIFEST_FILE} is not valid JSON (line {exc.lineno}: {exc.msg})"
        ) from None
    manifest = RunManifest.from_dict(data)
    missing = [name for name in REQUIRED_FILES if not (path / name).is_file()]
    if missing:
        raise RunError(f"{', '.join(missing)} missing")
    return SavedRun(path, manifest)


def list_runs(folder: str | Path) -> RunListing:
    """Every readable run in ``folder``, oldest first; the other sub-folders as problems.

    A missing ``folder`` gives an empty listing; hidden entries and plain files are skipped.
    """
    folder = Path(folder).expanduser()
    listing = RunListing(folder)
    if not folder.exists():
        return listing
    if not folder.is_dir():
        raise RunError(f"{folder} is a file, not a runs folder")
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith(".") or not entry.is_dir():
            continue
        try:
            listing.runs.append(load_run(entry))
        except RunError as exc:
            listing.problems.append(RunProblem(entry, str(exc)))
    listing.runs.sort(key=lambda run: (run.manifest.created, run.name))
    return listing


def delete_run(run: SavedRun | str | Path) -> None:
    """Delete a run folder (one with a ``run.json``, readable or not) and all it holds."""
    path = Path(run.path if isinstance(run, SavedRun) else run).expanduser()
    if not (path / MANIFEST_FILE).is_file():
        raise RunError(f"{path} is not a saved run (no {MANIFEST_FILE}): nothing deleted")
    doomed = path.with_name(f"{DELETING_PREFIX}{path.name}-{uuid.uuid4().hex[:8]}")
    try:
        os.rename(path, doomed)  # the run disappears from listings at once
    except OSError as exc:
        raise RunError(f"cannot delete {path} ({exc.strerror or exc})") from None
    shutil.rmtree(doomed, ignore_errors=True)
