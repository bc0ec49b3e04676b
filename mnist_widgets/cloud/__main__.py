"""``python -m mnist_widgets.cloud``."""

from __future__ import annotations

import sys

from .task import main

if __name__ == "__main__":
    sys.exit(main())
