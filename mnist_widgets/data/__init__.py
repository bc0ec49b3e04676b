"""Data: IDX parsing, locating and downloading files, the tf.data pipeline, font digits."""

from .loading import inspect, load_data
from .pipeline import pixels_tensor
from .sources import DATASETS, dataset_info

__all__ = ["DATASETS", "dataset_info", "inspect", "load_data", "pixels_tensor"]
