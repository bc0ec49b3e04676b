"""Peak memory of the kernel while nbclient runs each notebook of the kit.

Runs ``notebooks/tour.ipynb`` and every ``assignments/source/*/*.ipynb`` (or the notebooks
named) in a fresh kernel each (in a temporary copy of the notebook's folder, so files it saves
land there), and samples every 0.5 s the resident memory (RSS) of the
kernel, counted with any processes it started. Prints each notebook's peak and run time, the
peak of the kernel alone and the peak of the anonymous memory (RSS without the pages of files
mapped from disk, such as TensorFlow's libraries).

``--set LIMIT=None --set EPOCHS=1`` rewrites those assignments in the notebook's cells before
running (the tour's knobs: ``LIMIT=None`` is all 60,000 training images). ``--explorer``
appends a cell that opens a ``LayerExplorer`` on ``trainer.model`` (or ``model``), follows
the ``gallery`` if there is one, shows a digit and selects a feature map (so the top-digit
scores are computed), as a student would. ``--cells`` also prints, per code cell, the RSS at
its end and the peak while it ran (where the memory goes).

    .venv/bin/python bench/notebook_memory.py [NOTEBOOK ...] [--set NAME=VALUE] [--explorer]
        [--cells]
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

from _common import REPO, load_average, machine

EXPLORER_CELL = """\
from mnist_widgets.widgets import LayerExplorer

explorer = LayerExplorer(
    trainer.model if "trainer" in globals() else model, data if "data" in globals() else None
)
if "gallery" in globals():
    explorer.follow(gallery)
    gallery.selected_index = 0
explorer.show(0)
explorer.select(explorer.layers[0].name, 0)
explorer
"""


def default_notebooks() -> list[Path]:
    return [REPO / "notebooks" / "tour.ipynb", *sorted(REPO.glob("assignments/source/*/*.ipynb"))]


def anonymous_rss(pid: int) -> int:
    """Bytes of ``pid``'s resident anonymous memory (``RssAnon``: heap, arrays, tensors), the
    part a memory limit cannot reclaim; 0 when unknown."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


class RssSampler(threading.Thread):
    """Samples the summed RSS of this process's descendants (the kernel and its children).

    Also keeps the peaks of the kernel alone (``kernel_peak``: the direct child) and of the
    summed anonymous memory (``anon_peak``): RSS also counts the pages of shared libraries
    read from disk (about 0.45 GiB for TensorFlow's), which the kernel can drop and read
    again, and counts them again in each process that maps them.
    """

    def __init__(self, interval: float = 0.5) -> None:
        super().__init__(daemon=True)
        import psutil

        self.me = psutil.Process()
        self.interval = interval
        self.peak = self.kernel_peak = self.anon_peak = 0
        self.cell_peak = 0  # since the last ``start_cell``
        self.last = 0
        self.samples = 0
        self._done = threading.Event()

    def run(self) -> None:
        import psutil

        while not self._done.is_set():
            total = anon = 0
            for child in self.me.children(recursive=True):
                try:
                    rss = child.memory_info().rss
                    direct = child.ppid() == self.me.pid  # the kernel
                except psutil.Error:
                    continue
                total += rss
                anon += anonymous_rss(child.pid)
                if direct:
                    self.kernel_peak = max(self.kernel_peak, rss)
            self.peak = max(self.peak, total)
            self.anon_peak = max(self.anon_peak, anon)
            self.cell_peak = max(self.cell_peak, total)
            self.last = total
            self.samples += 1
            self._done.wait(self.interval)

    def start_cell(self) -> None:
        self.cell_peak = self.last

    def stop(self) -> None:
        self._done.set()
        self.join()


def apply_settings(nb, settings: dict[str, str]) -> None:
    """Rewrite ``NAME = ...`` lines of the code cells to ``NAME = VALUE``."""
    for name, value in settings.items():
        pattern = re.compile(rf"^{re.escape(name)}\s*=.*$", re.MULTILINE)
        found = False
        for cell in nb.cells:
            if cell.cell_type == "code" and pattern.search(cell.source):
                cell.source = pattern.sub(f"{name} = {value}", cell.source)
                found = True
        if not found:
            raise SystemExit(f"no cell of the notebook sets {name}")


def first_line(source: str) -> str:
    lines = [line for line in source.splitlines() if line.strip()]
    return (lines[0] if lines else "")[:60]


def run(
    path: Path, settings: dict[str, str], explorer: bool, timeout: int, cells: bool = False
) -> tuple[RssSampler, float]:
    """The sampler (its peaks) and the seconds of one notebook run in a fresh kernel.

    With ``cells``, prints each code cell's RSS at its end and its peak while it ran.
    """
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    if settings:
        apply_settings(nb, settings)
    if explorer:
        nb.cells.append(nbformat.v4.new_code_cell(EXPLORER_CELL))
    with tempfile.TemporaryDirectory(prefix="notebook-memory-") as folder:
        shutil.copytree(path.parent, folder, dirs_exist_ok=True)
        client = NotebookClient(
            nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": folder}}
        )
        sampler = RssSampler()
        if cells:

            def cell_done(cell, cell_index, **_) -> None:
                time.sleep(sampler.interval)  # one more sample after the reply
                print(
                    f"  cell {cell_index:>3}: end {sampler.last / 2**30:5.2f} GiB, "
                    f"peak {sampler.cell_peak / 2**30:5.2f} GiB  {first_line(cell.source)}",
                    flush=True,
                )

            client.on_cell_execute = lambda **_: sampler.start_cell()
            client.on_cell_executed = cell_done
        sampler.start()
        start = time.perf_counter()
        try:
            client.execute()
        finally:
            seconds = time.perf_counter() - start
            sampler.stop()
    return sampler, seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: the tour, assignments")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--explorer", action="store_true", help="append a LayerExplorer cell")
    parser.add_argument("--cells", action="store_true", help="per cell: RSS at end, peak")
    parser.add_argument("--timeout", type=int, default=3600, help="seconds per cell")
    args = parser.parse_args(argv)
    settings = dict(item.split("=", 1) for item in args.set)
    print(machine())
    print(f"settings: {settings or 'as shipped'}; explorer cell: {args.explorer}")
    print(
        f"{'notebook':<55} {'peak RSS':>10} {'kernel':>10} {'anonymous':>10} {'time':>7}"
        "  load average after"
    )
    for path in args.notebooks or default_notebooks():
        path = path.resolve()
        sampler, seconds = run(path, settings, args.explorer, args.timeout, args.cells)
        name = path.relative_to(REPO) if path.is_relative_to(REPO) else path
        peaks = (sampler.peak, sampler.kernel_peak, sampler.anon_peak)
        print(
            f"{str(name):<55} " + " ".join(f"{p / 2**30:>6.2f} GiB" for p in peaks),
            f"{seconds:>6.0f}s  {load_average()}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
