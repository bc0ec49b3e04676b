"""The live training dashboard: an output of the training engine's events.

``charts`` draws the series (bqplot marks built once, updated in place), ``controls`` holds
the status line, progress and the Stop/Pause buttons, ``keras_input`` lets plain
``model.fit(callbacks=[dashboard])`` feed it, and ``widget`` puts them together.
"""

from .charts import TrainingCharts, downsample
from .controls import RunControls
from .widget import TrainingDashboard

__all__ = ["RunControls", "TrainingCharts", "TrainingDashboard", "downsample"]
