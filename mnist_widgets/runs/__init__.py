"""Saved training runs: one folder per run inside a runs folder, and the functions that
save, list, load and delete them. Plain files and data; no widgets.

A run folder holds ``run.json`` (the manifest: recipe, layers, preset, parameters, epochs,
wall time, images per second, test accuracy, when it was made), ``model.py`` (the generated
Keras code), ``curves.npz`` (per-batch and per-epoch curves) and ``model.keras``.

Example:
    listing = list_runs("runs")
    for run in listing.runs:
        print(run.name, run.manifest.preset, run.manifest.test_accuracy)
    for problem in listing.problems:
        print(problem)                       # one line: which folder and why it was skipped
"""

from __future__ import annotations

from .curves import RunCurves
from .manifest import FORMAT_VERSION, RunManifest, recipe_from_dict, recipe_to_dict
from .store import RunListing, RunProblem, SavedRun, delete_run, list_runs, load_run, save_run

__all__ = [
    "FORMAT_VERSION",
    "RunCurves",
    "RunListing",
    "RunManifest",
    "RunProblem",
    "SavedRun",
    "delete_run",
    "list_runs",
    "load_run",
    "recipe_from_dict",
    "recipe_to_dict",
    "save_run",
]
