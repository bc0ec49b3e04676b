"""Which pixels pushed the model toward its answer and toward the truth, over the digit.

The attributions are integrated gradients (``inspection.attribution``); this view only draws
them: red pixels raised the class's output, blue ones lowered it.
"""

from __future__ import annotations

import ipywidgets as widgets
import numpy as np

from ..inspection.attribution import Attribution, integrated_gradients
from .pictures import render_saliency
from .sprites import encode_png


class SaliencyView(widgets.VBox):
    """Attribution maps of one digit toward its predicted and its true class, side by side.

    ``attribution`` holds the last ``Attribution`` shown (None when cleared); its ``values``
    are (targets, 28, 28), the predicted class first, then the true class when it differs.
    """

    def __init__(self, model, **kwargs) -> None:
        self.model = model
        self.attribution: Attribution | None = None
        self.title = widgets.HTML()
        self.image = widgets.Image(format="png")
        self.image.add_class("mnist-saliency-image")
        self.caption = widgets.HTML()
        super().__init__([self.title, self.image, self.caption], **kwargs)
        self.add_class("mnist-saliency")
        self.clear()

    def show(self, digit: np.ndarray, predicted: int, true: int | None, index=None) -> Attribution:
        """Compute and draw the attributions of ``digit`` (float (28, 28) in [0, 1])."""
        targets = (predicted,) if true is None or true == predicted else (predicted, true)
        self.attribution = integrated_gradients(self.model, digit, targets)
        self.image.value = encode_png(render_saliency(digit, self.attribution.values))
        name = "this digit" if index is None else f"test digit {index}"
        self.title.value = f"<b>Why {name} reads as {predicted}</b>"
        panels = [f"toward {predicted} (predicted)"]
        if len(targets) > 1:
            panels.append(f"toward {true} (true class)")
        else:
            panels[0] = f"toward {predicted} (predicted and true)"
        self.caption.value = (
            " &middot; ".join(
                f"left: {panels[0]}" if i == 0 else f"right: {p}" for i, p in enumerate(panels)
            )
            + "<br><span class='mnist-explorer-positive'>red</span> pixels pushed the model "
            "toward the class, <span class='mnist-explorer-negative'>blue</span> away from it "
            "(integrated gradients from a black image)."
        )
        self.remove_class("mnist-hidden")
        return self.attribution

    def clear(self) -> None:
        """Hide the view and drop the attributions."""
        self.attribution = None
        self.add_class("mnist-hidden")
