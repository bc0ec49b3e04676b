"""What made one feature map: its kernels per input channel, and the test digits that excite it."""

from __future__ import annotations

import ipywidgets as widgets
import numpy as np

from ..pictures import grid_layout, render_kernels
from ..sprites import encode_png, layout_for, render_sprite

HINT = "<i>Click a feature map to see the kernels that made it and the digits it likes.</i>"


class ChannelDetail(widgets.VBox):
    """Kernels (red excites, blue inhibits) and the top digits of one selected channel.

    ``kernels`` (input channels, height, width) and ``top_indices`` hold what is shown.
    """

    def __init__(self, **kwargs) -> None:
        self.kernels: np.ndarray | None = None
        self.top_indices: np.ndarray | None = None
        self.title = widgets.HTML(HINT)
        self.kernel_caption = widgets.HTML()
        self.kernel_image = widgets.Image(format="png")
        self.kernel_image.add_class("mnist-explorer-kernels")
        self.digits_caption = widgets.HTML()
        self.digits_image = widgets.Image(format="png")
        super().__init__(
            [
                self.title,
                self.kernel_caption,
                self.kernel_image,
                self.digits_caption,
                self.digits_image,
            ],
            **kwargs,
        )
        self.add_class("mnist-explorer-detail")
        self.clear()

    def show(
        self,
        title: str,
        kernels: np.ndarray | None,
        top_images: np.ndarray,
        top_labels: np.ndarray,
        top_indices: np.ndarray,
    ) -> None:
        """Show one channel: its kernels (or a note when none made it) and its top digits."""
        self.title.value = title
        self.kernels = kernels
        self.top_indices = np.asarray(top_indices)
        if kernels is None:
            self.kernel_caption.value = "<i>No convolution made this channel: no kernels.</i>"
            self.kernel_image.add_class("mnist-hidden")
        else:
            count, height, width = kernels.shape
            self.kernel_caption.value = (
                f"The {height}x{width} kernel{'s' if count > 1 else ''} that made it, one per "
                f"input channel ({count}); <span class='mnist-explorer-positive'>red</span> "
                "weights excite, <span class='mnist-explorer-negative'>blue</span> inhibit:"
            )
            layout = grid_layout(count, height, width, max_columns=8)
            self.kernel_image.value = encode_png(render_kernels(kernels, layout))
            self.kernel_image.remove_class("mnist-hidden")
        count = len(top_indices)
        self.digits_caption.value = (
            f"The {count} test digits that excite it most (true class under each):"
        )
        right = np.ones(count, dtype=bool)
        layout = layout_for(count, columns=min(count, 9) or 1)
        self.digits_image.value = render_sprite(top_images, top_labels, right, layout)
        self.digits_image.remove_class("mnist-hidden")

    def clear(self) -> None:
        """Back to the hint; the arrays are dropped."""
        self.kernels = self.top_indices = None
        self.title.value = HINT
        self.kernel_caption.value = self.digits_caption.value = ""
        self.kernel_image.add_class("mnist-hidden")
        self.digits_image.add_class("mnist-hidden")

    def busy(self, title: str) -> None:
        """Say what is being computed (the first top-digits search takes a few seconds)."""
        self.title.value = f"{title} <i>finding the digits that excite it most...</i>"
