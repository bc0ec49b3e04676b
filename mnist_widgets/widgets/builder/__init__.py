"""The layer builder: edit a layer stack and its training recipe, see ``model.summary()`` live.

The widget edits plain data (a list of ``LayerSpec`` dicts and a ``TrainingRecipe``); the same
data builds the Keras model and writes its code, so the two never disagree.

- ``params``: what the builder accepts (layer parameters, shapes, training settings)
- ``summary``: the summary table, row labels, status line and code view as HTML
- ``rows``: one editor row per layer
- ``settings``: the training settings, linked to the recipe
- ``widget``: ``LayerBuilder``, which ties them together
"""

from .params import check_param, checked_layer, format_shape, parse_shape
from .widget import LayerBuilder

__all__ = ["LayerBuilder", "check_param", "checked_layer", "format_shape", "parse_shape"]
