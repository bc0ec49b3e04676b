"""Latency of the layer explorer following the drawing pad, in a real kernel.

A Jupyter kernel (ipykernel, started with jupyter_client) builds the preset (``cnn-batchnorm``
by default), trains it briefly, and shows a ``DrawingPad`` followed by a ``LayerExplorer``.
This script then plays the front end: it sends each stroke to the pad's canvas as the
browser does (``mouse_down``, ``mouse_move``s, ``mouse_up`` custom messages on the canvas's
comm) and reads the kernel's IOPub. A stroke's latency is measured on the kernel's own clock:
from the ``busy`` status that opens the handling of the ``mouse_up`` message (its arrival)
to the last ``comm_msg`` (widget state or custom message) that handling sent.

Prints the machine, the load average before and after, and the median and 95th percentile
over ``--strokes`` strokes after ``--warmup`` strokes; the pad is cleared every two strokes.

    .venv/bin/python bench/explorer_latency.py [--preset cnn-batchnorm] [--strokes 50]
"""

from __future__ import annotations

import argparse
import math
import queue
import statistics
import sys
import textwrap
import time
from datetime import datetime

from _common import load_average, machine

SETUP = """
import numpy as np, keras
from mnist_widgets.data import load_data
from mnist_widgets.models import build_model
from mnist_widgets.widgets import DrawingPad, LayerExplorer
(x_train, y_train), (x_test, y_test) = load_data()
model = build_model({preset!r})
shape = (-1, *model.input_shape[1:])
if {train}:
    model.fit(x_train[:{train}].reshape(shape) / 255.0, y_train[:{train}], epochs=1,
              batch_size=64, verbose=0)
pad = DrawingPad(model)
explorer = LayerExplorer(model, (x_test, y_test))
explorer.follow(pad)
print("CANVAS", pad.canvas.comm.comm_id)
"""


STROKES_PER_DIGIT = 2  # then the pad is cleared: on a full pad a stroke changes nothing


def stroke_points(k: int, size: int = 280) -> list[tuple[float, float]]:
    """A different closed-ish curve for each stroke (a loop, like a 0, 6, 8 or 9)."""
    centre, radius = size / 2, size * (0.2 + 0.1 * (k % 3))
    turn = 1.2 + 0.4 * (k % 4)
    return [
        (
            centre + radius * math.sin(2 * math.pi * turn * t / 12) * (0.6 + 0.1 * (k % 2)),
            centre - radius * math.cos(2 * math.pi * turn * t / 12),
        )
        for t in range(13)
    ]


class NoMessages(RuntimeError):
    """The kernel handled a stroke's end without sending any widget message."""


class Kernel:
    """A started kernel and its client, with helpers to run code and to send canvas events."""

    def __init__(self) -> None:
        from jupyter_client.manager import start_new_kernel

        self.manager, self.client = start_new_kernel(kernel_name="python3")

    def execute(self, code: str, timeout: float = 600) -> str:
        reply = self.client.execute_interactive(code, timeout=timeout, output_hook=self._collect)
        if reply["content"]["status"] != "ok":
            raise RuntimeError("\n".join(reply["content"].get("traceback", [])))
        text, self._text = "".join(self._text), []
        return text

    _text: list[str] = []

    def _collect(self, msg) -> None:
        if msg["msg_type"] == "stream":
            self._text.append(msg["content"]["text"])
        elif msg["msg_type"] == "error":
            self._text.append("\n".join(msg["content"]["traceback"]))

    def send_event(self, comm_id: str, event: str, x: float, y: float) -> str:
        content = {
            "comm_id": comm_id,
            "data": {"method": "custom", "content": {"event": event, "x": x, "y": y}},
        }
        msg = self.client.session.msg("comm_msg", content)
        self.client.shell_channel.send(msg)
        return msg["header"]["msg_id"]

    def handling(self, msg_id: str, timeout: float = 30) -> tuple[float, float, int]:
        """(arrival, last comm_msg sent, messages sent) on the kernel's clock for one message."""
        busy = last = None
        seen: list[str] = []
        count = 0
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                msg = self.client.get_iopub_msg(timeout=1)
            except queue.Empty:
                continue
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind, sent = msg["msg_type"], msg["header"]["date"]
            seen.append(kind)
            if kind == "status" and msg["content"]["execution_state"] == "busy":
                busy = sent
            elif kind == "comm_msg":
                last, count = sent, count + 1
            elif kind == "status" and msg["content"]["execution_state"] == "idle":
                if busy is None or last is None:
                    raise NoMessages(", ".join(seen))
                return _seconds(busy), _seconds(last), count
        raise TimeoutError("the kernel did not finish handling the stroke")

    def drain(self) -> None:
        while True:
            try:
                self.client.get_iopub_msg(timeout=0.2)
            except queue.Empty:
                return

    def stop(self) -> None:
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)


def _seconds(stamp) -> float:
    if isinstance(stamp, str):
        stamp = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return stamp.timestamp()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    rank = max(0, math.ceil(share * len(ordered)) - 1)
    return ordered[rank]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="cnn-batchnorm")
    parser.add_argument("--strokes", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--train", type=int, default=2000, help="training images (0: untrained)")
    parser.add_argument("--quick", action="store_true", help="5 strokes, 1 warm-up, untrained")
    args = parser.parse_args(argv)
    if args.quick:
        args.strokes, args.warmup, args.train = 5, 1, 0
    print(machine())
    before = load_average()
    kernel = Kernel()
    try:
        setup = SETUP.format(preset=args.preset, train=args.train)
        out = kernel.execute(textwrap.dedent(setup))
        comm_id = out.split("CANVAS", 1)[1].split()[0]
        kernel.drain()
        latencies, counts, silent = [], [], []
        for k in range(args.warmup + args.strokes):
            if k % STROKES_PER_DIGIT == 0:  # a new digit: Clear, as a student would
                kernel.execute("pad.clear()")
                kernel.drain()
            points = stroke_points(k)
            kernel.send_event(comm_id, "mouse_down", *points[0])
            for point in points[1:]:
                kernel.send_event(comm_id, "mouse_move", *point)
                time.sleep(0.02)  # a mouse reports about every 20 ms
            time.sleep(0.2)  # let the moves be handled: the lift is measured alone
            kernel.drain()
            try:
                arrival, last, count = kernel.handling(
                    kernel.send_event(comm_id, "mouse_up", *points[-1])
                )
            except NoMessages as error:
                silent.append(f"stroke {k}: {error}")
                continue
            if k >= args.warmup:
                latencies.append(1000 * (last - arrival))
                counts.append(count)
            time.sleep(0.1)
    finally:
        kernel.stop()
    after = load_average()
    median = statistics.median(latencies)
    print(
        f"preset {args.preset}, {args.strokes} strokes after {args.warmup} warm-up, "
        f"trained on {args.train} images"
    )
    print(f"widget messages per stroke: {min(counts)}-{max(counts)}")
    print(
        f"stroke -> last widget message: median {median:.1f} ms, "
        f"p95 {percentile(latencies, 0.95):.1f} ms, max {max(latencies):.1f} ms"
    )
    print(f"load average before: {before}; after: {after}")
    for line in silent:
        print(f"no widget message at the end of {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
