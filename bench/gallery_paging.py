"""How long the prediction gallery takes to show a page (filter, slice, sprite, controls).

Trains the ``dense`` preset on 3,000 images for one epoch (plenty of mistakes to sort first),
builds a gallery over the 10,000 test digits, then times 20 page changes::

    .venv/bin/python bench/gallery_paging.py [--pages 20]
"""

from __future__ import annotations

import argparse
import time

from _common import machine, median


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=20, help="page changes to time")
    args = parser.parse_args()

    from mnist_widgets.data.loading import load_data
    from mnist_widgets.models.presets import build_model, get_preset
    from mnist_widgets.training.engine import Trainer
    from mnist_widgets.widgets.gallery import PredictionGallery

    print(machine())
    data = load_data()
    model = build_model("dense")
    recipe = get_preset("dense").recipe
    Trainer(
        model, recipe, data=data, limit=3000, epochs=1, seed=0, validate=False, evaluate=False
    ).run()
    gallery = PredictionGallery(model, data)
    times = []
    for page in range(args.pages):
        start = time.perf_counter()
        gallery.page = page
        times.append(time.perf_counter() - start)
    print(
        f"page render over {len(times)} pages: median {1000 * median(times):.1f} ms, "
        f"max {1000 * max(times):.1f} ms"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
