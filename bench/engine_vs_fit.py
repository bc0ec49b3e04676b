"""One epoch of the cnn-batchnorm model at batch 64: the kit's training engine with the live
dashboard attached, against plain ``model.fit(verbose=0)`` on the codelab's tf.data pipeline.

- fit: the codelab's way (cache / shuffle 5000 / batch 64 / prefetch, Adam 0.01,
  LearningRateScheduler), nothing else attached.
- engine P: ``Trainer(fast=FastRoute(precision=P))``: the same layers, batch size, optimizer
  and schedule; in-memory tensors, ``steps_per_execution``, the engine's own callbacks
  (stop/pause, NaN guard, events), no dashboard. P is the compute precision: float32, or
  mixed_bfloat16 (weights stay float32; the CPU's AMX units do the convolutions).
- engine+dashboard P: the same with ``TrainingDashboard`` attached (headless: no front end
  draws it, but it hears every event and pushes its charts as in a notebook).
- engine+dashboard+histograms P: the same with ``TrainingDashboard(histograms=True)``: its
  weight probe joins the callbacks and, a few times per epoch, runs the extra forward and
  backward pass on the probe batch, histograms every kernel and its gradients and updates
  the histogram panel.

Each time covers the whole call: scaling the images, building the pipeline, tracing, the
epoch. The variants take turns, ``--repeats`` times each, with a fresh model each time;
medians are compared. Wall time and the process's CPU time are both reported: on a shared
machine the wall time swings with what else runs, the CPU time much less. The time spent
inside the dashboard's own hooks is also measured directly: its event handler, and with
histograms the probe's Keras hooks (tracing its pass, the probe pass, the histograms and the
panel's updates). Test accuracy after the epoch is printed to show they learn alike.

    python bench/engine_vs_fit.py [--repeats 3] [--steps-per-execution 8] [--quick]
        [--precisions float32] [--probe-every 500]
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings

from _common import (
    TestAccuracy,
    codelab_dataset,
    codelab_model,
    codelab_schedule,
    load_average,
    machine,
    median,
)

BATCH = 64
PRESET = "cnn-batchnorm"


class Timing:
    """Wall and CPU seconds of a block, and seconds spent inside timed hooks."""

    def __init__(self, images: int = 0) -> None:
        self.wall = self.cpu = self.hooks = 0.0
        self.images = images  # how many training images the epoch went through
        self.probes: list[float] = []  # seconds of each probe (pass and histograms)

    def __enter__(self) -> Timing:
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc) -> None:
        self.wall = time.perf_counter() - self._wall
        self.cpu = time.process_time() - self._cpu

    def time_listeners(self, listeners: list) -> None:
        """Add the wall time of each call of each listener in ``listeners`` to ``hooks``."""
        listeners[:] = [self._timed(listener) for listener in listeners]

    def time_hooks(self, callback) -> None:
        """Add the wall time of each of ``callback``'s training hooks to ``hooks``."""
        for name in (
            "on_train_begin",
            "on_epoch_begin",
            "on_train_batch_end",
            "on_epoch_end",
            "on_train_end",
        ):
            setattr(callback, name, self._timed(getattr(callback, name)))

    def _timed(self, hook):
        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return hook(*args, **kwargs)
            finally:
                self.hooks += time.perf_counter() - start

        return timed


def plain_fit(data, seed: int, evaluate) -> tuple[Timing, float]:
    import keras

    (x_train, y_train), _ = data
    model = codelab_model(seed)
    with Timing(len(x_train)) as timing:
        dataset = codelab_dataset(x_train, y_train, BATCH)
        model.fit(
            dataset,
            epochs=1,
            callbacks=[keras.callbacks.LearningRateScheduler(codelab_schedule)],
            verbose=0,
        )
    return timing, evaluate(model)


def engine(
    data, seed: int, evaluate, route, dashboard: bool, probe_every: int | None = None
) -> tuple[Timing, float]:
    """One run of the engine; ``probe_every`` (with ``dashboard``) turns histograms on."""
    import keras

    from mnist_widgets.models import build
    from mnist_widgets.models.presets import get_preset
    from mnist_widgets.training.engine import Trainer

    preset = get_preset(PRESET)
    keras.utils.set_random_seed(seed)
    model = build(preset.layers, name="engine")
    trainer = Trainer(
        model,
        preset.recipe,
        data=data,
        epochs=1,
        batch_size=BATCH,
        seed=seed,
        validate=False,
        evaluate=False,
        fast=route,
    )
    size, steps, _ = route.plan(len(data[0][0]), BATCH)
    timing = Timing(size * steps)
    if dashboard:
        from mnist_widgets.training.probes import WeightProbe
        from mnist_widgets.widgets import TrainingDashboard

        histograms = WeightProbe(every=probe_every) if probe_every else False
        board = TrainingDashboard(histograms=histograms)
        board.attach(trainer)
        timing.time_listeners(trainer.emitter.listeners)  # the dashboard's only listener
        if board.probe is not None:  # its listener, the histogram panel, runs inside
            timing.time_hooks(board.probe)
            board.probe.listeners.append(lambda event: timing.probes.append(event.seconds))
    with timing:
        trainer.run()
    return timing, evaluate(model)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--steps-per-execution", type=int, default=None, help="default: the route's own choice"
    )
    parser.add_argument(
        "--precisions",
        default="float32,mixed_bfloat16",
        help="engine's compute precisions, each timed with and without the dashboard",
    )
    parser.add_argument(
        "--default-route", action="store_true", help="also time the engine's default route"
    )
    parser.add_argument(
        "--probe-every",
        type=int,
        default=None,
        help="batches between two probes of the histograms (default: the probe's own)",
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes, to check the script")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", message=".*shuffle=True.*")

    from mnist_widgets.accel.route import FastRoute
    from mnist_widgets.data import load_data
    from mnist_widgets.training.probes import DEFAULT_EVERY

    data = load_data("mnist", download=False)
    if args.quick:
        (x, y), (xt, yt) = data
        data = (x[:1024], y[:1024]), (xt[:500], yt[:500])
        args.repeats = 1
    evaluate = TestAccuracy(*data[1])
    precisions = [p for p in args.precisions.split(",") if p]
    routes = {
        p: FastRoute.for_device(steps_per_execution=args.steps_per_execution, precision=p, shift=0)
        for p in precisions
    }
    variants = {"fit": lambda: plain_fit(data, args.seed, evaluate)}
    for p, route in routes.items():
        variants[f"engine {p}"] = lambda r=route: engine(data, args.seed, evaluate, r, False)
        variants[f"engine+dashboard {p}"] = lambda r=route: engine(
            data, args.seed, evaluate, r, True
        )
        variants[f"engine+dashboard+histograms {p}"] = lambda r=route: engine(
            data, args.seed, evaluate, r, True, args.probe_every or DEFAULT_EVERY
        )
    if args.default_route:
        variants["default engine+dashboard"] = lambda: engine(
            data, args.seed, evaluate, False, True
        )
    print(f"# engine vs fit\n{machine()}", flush=True)
    print(
        f"{PRESET}, batch {BATCH}, one epoch of {len(data[0][0])} images; "
        f"engine routes: {', '.join(map(str, routes.values()))}",
        flush=True,
    )
    runs: dict[str, list[Timing]] = {name: [] for name in variants}
    for repeat in range(args.repeats):
        for name, run in variants.items():
            timing, accuracy = run()
            runs[name].append(timing)
            print(
                f"  round {repeat + 1} {name:43s} wall {timing.wall:5.1f} s  "
                f"cpu {timing.cpu:5.1f} s  hooks {timing.hooks:5.2f} s  "
                f"test accuracy {accuracy:.4f}",
                flush=True,
            )
    times = {name: [t.wall for t in timings] for name, timings in runs.items()}
    cpu = {name: median([t.cpu for t in timings]) for name, timings in runs.items()}
    images = {name: timings[0].images for name, timings in runs.items()}
    # images per second: the engine's epoch is whole groups of whole batches, a few fewer images
    rate = {name: images[name] / median(values) for name, values in times.items()}
    cpu_rate = {name: images[name] / cpu[name] for name in runs}
    print(f"load average after: {load_average()}\n")
    hooks = {name: median([t.hooks / t.wall for t in timings]) for name, timings in runs.items()}
    print(
        "| variant | images | median wall | all runs (wall) | images/s | median CPU "
        "| in the dashboard's hooks |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, values in times.items():
        listed = ", ".join(f"{v:.1f}" for v in values)
        share = f"{100 * hooks[name]:.2f}%" if "dashboard" in name else ""
        print(
            f"| {name} | {images[name]:,} | {median(values):.1f} s | {listed} | "
            f"{rate[name]:,.0f} | {cpu[name]:.1f} s | {share} |"
        )
    print()
    for p in precisions:
        eng, dash = f"engine {p}", f"engine+dashboard {p}"
        hooks = median([t.hooks for t in runs[dash]])
        print(
            f"{p}: engine+dashboard vs plain fit {rate[dash] / rate['fit']:.2f}x faster by "
            f"images per wall second, {cpu_rate[dash] / cpu_rate['fit']:.2f}x per CPU second "
            f"(target >= 1.25x); the dashboard's cost over the engine alone "
            f"{100 * (rate[eng] / rate[dash] - 1):+.1f}% by wall time, "
            f"{100 * (cpu_rate[eng] / cpu_rate[dash] - 1):+.1f}% by CPU time, "
            f"{100 * hooks / median(times[dash]):.1f}% inside its own hooks (target <= 2%)"
        )
        hist = f"engine+dashboard+histograms {p}"
        probes = [s for t in runs[hist] for s in t.probes]
        print(
            f"{p}: with histograms (a probe every {args.probe_every or DEFAULT_EVERY} batches "
            f"and at the epoch's end), {100 * median([t.hooks / t.wall for t in runs[hist]]):.2f}% "
            f"of the epoch inside the dashboard's hooks, probe pass included (target <= 2%), "
            f"against {100 * median([t.hooks / t.wall for t in runs[dash]]):.2f}% without; "
            f"{len(probes) / len(runs[hist]):.0f} probes a run, median "
            f"{1000 * median(probes):.0f} ms each; by CPU time "
            f"{100 * (cpu[hist] / cpu[dash] - 1):+.1f}% over the dashboard without histograms"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
