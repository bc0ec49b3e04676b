"""The widgets: builder, dashboard, gallery, drawing pad, layer explorer and run board."""

from __future__ import annotations

_WIDGETS = {
    "LayerBuilder": "mnist_widgets.widgets.builder",
    "TrainingDashboard": "mnist_widgets.widgets.dashboard",
    "PredictionGallery": "mnist_widgets.widgets.gallery",
    "DrawingPad": "mnist_widgets.widgets.drawing",
    "LayerExplorer": "mnist_widgets.widgets.explorer",
    "RunBoard": "mnist_widgets.widgets.runboard",
}

__all__ = list(_WIDGETS)


def __getattr__(name: str):
    if name in _WIDGETS:
        import importlib

        return getattr(importlib.import_module(_WIDGETS[name]), name)
    raise AttributeError(f"module 'mnist_widgets.widgets' has no attribute {name!r}")
