"""mnist-widgets: a JupyterLab teaching kit for deep learning on MNIST.

The public face is imported lazily so that ``import mnist_widgets`` stays quick and the
command line does not pay for widgets it does not show.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# TensorFlow's oneDNN builds keep freed CPU memory in a pool of their own for good; with the
# system allocator it goes back to the system (a notebook kernel shrinks again after
# training). Read at TensorFlow's first large allocation, so it works after `import
# tensorflow` too; set the variable to 0 beforehand to keep the pool.
os.environ.setdefault("TF_ONEDNN_USE_SYSTEM_ALLOCATOR", "1")

__version__ = "0.1.0"

_EXPORTS = {
    "load_data": "mnist_widgets.data",
    "pixels_tensor": "mnist_widgets.data",
    "build_model": "mnist_widgets.models",
    "list_presets": "mnist_widgets.models",
    "Trainer": "mnist_widgets.training",
    "train_preset": "mnist_widgets.training",
    "LayerBuilder": "mnist_widgets.widgets",
    "TrainingDashboard": "mnist_widgets.widgets",
    "PredictionGallery": "mnist_widgets.widgets",
    "LayerExplorer": "mnist_widgets.widgets",
    "RunBoard": "mnist_widgets.widgets",
}

__all__ = [*_EXPORTS, "__version__"]


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'mnist_widgets' has no attribute {name!r}")
