"""Exceptions a user can cause, each with a one-line message that says what to do."""

from __future__ import annotations


class MnistWidgetsError(Exception):
    """Base class: the command line prints these without a traceback."""


class DataError(MnistWidgetsError):
    """A data file is missing, truncated, corrupt or fails its checksum."""


class DownloadError(DataError):
    """A download from every mirror failed."""


class ModelSpecError(MnistWidgetsError):
    """A layer stack that cannot be built (bad shapes, bad parameters)."""


class PresetError(MnistWidgetsError):
    """An unknown preset name or bad preset settings."""


class TrainingError(MnistWidgetsError):
    """Training could not go on (for example a NaN loss)."""


class GradingError(MnistWidgetsError):
    """A submitted model is missing, unsafe to load, of the wrong kind or below a target."""


class SandboxError(MnistWidgetsError):
    """The grading sandbox cannot start here (no bubblewrap, no user namespaces...)."""


class RunError(MnistWidgetsError):
    """A saved run that cannot be read, written or deleted (see ``mnist_widgets.runs``)."""
