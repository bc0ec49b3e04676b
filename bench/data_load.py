"""Loading and verifying the full MNIST from its four gzipped IDX files with
``mnist_widgets.data.load_data``, against numpy reading the same bytes with no checks at all
(read, ``gzip.decompress``, ``np.frombuffer``) as the floor. ``load_data`` decompresses with
ISA-L (the ``isal`` package) when it is installed, so a second floor, numpy reading the bytes
with ISA-L's decompressor and no checks, shows what the checks themselves cost.

The two take turns ``--repeats`` times (the files stay in the page cache after the first
read, for both); medians are compared.

    python bench/data_load.py [--repeats 7] [--quick]
"""

from __future__ import annotations

import argparse
import gzip
import sys
import time

from _common import load_average, machine, median


def numpy_floor(folder, decompress=gzip.decompress) -> list:
    """The least work that gives the four arrays: no checksum, no header checks."""
    import numpy as np

    arrays = []
    for stem, offset, shape in (
        ("train-images-idx3-ubyte", 16, (-1, 28, 28)),
        ("train-labels-idx1-ubyte", 8, (-1,)),
        ("t10k-images-idx3-ubyte", 16, (-1, 28, 28)),
        ("t10k-labels-idx1-ubyte", 8, (-1,)),
    ):
        raw = decompress((folder / f"{stem}.gz").read_bytes())
        arrays.append(np.frombuffer(raw, np.uint8, offset=offset).reshape(shape))
    return arrays


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="two rounds, to check the script")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats = 2

    from mnist_widgets.data import load_data
    from mnist_widgets.data.loading import resolve_dir

    origin, folder = resolve_dir("mnist", download=False)
    print(f"# data load\n{machine()}\nfiles: {folder} ({origin})", flush=True)
    try:
        from isal import igzip
    except ImportError:
        igzip = None
    kit, floor, isal_floor = [], [], []
    for _ in range(args.repeats):
        start = time.perf_counter()
        (x_train, y_train), (x_test, y_test) = load_data("mnist", download=False)
        kit.append(time.perf_counter() - start)
        start = time.perf_counter()
        arrays = numpy_floor(folder)
        floor.append(time.perf_counter() - start)
        if igzip is not None:
            start = time.perf_counter()
            numpy_floor(folder, igzip.decompress)
            isal_floor.append(time.perf_counter() - start)
    same = all(
        (a == b).all() for a, b in zip((x_train, y_train, x_test, y_test), arrays, strict=True)
    )
    print(f"load average after: {load_average()}\n")
    print("| reader | median | all runs |")
    print("|---|---|---|")
    rows = [("load_data (verified)", kit), ("numpy floor: gzip, no checks", floor)]
    if isal_floor:
        rows.append(("numpy with ISA-L's gzip, no checks", isal_floor))
    for name, values in rows:
        print(f"| {name} | {median(values):.3f} s | {', '.join(f'{v:.3f}' for v in values)} |")
    print(
        f"\nload_data / floor: {median(kit) / median(floor):.2f}x (target <= 1.5x); "
        f"same arrays: {same}"
    )
    if isal_floor:
        print(f"load_data / numpy with ISA-L: {median(kit) / median(isal_floor):.2f}x")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
