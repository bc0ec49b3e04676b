"""Wall time until the test accuracy first reaches 99.0% and 99.5%: the codelab's way against
the kit's fast route, side by side in one run.

(a) reference: the cnn-batchnorm preset trained exactly as the codelab does, in plain Keras:
    tf.data cache / shuffle 5000 / batch 64 / prefetch, ``model.fit``, Adam,
    ``LearningRateScheduler(0.01 * 0.666**epoch)``; stopped at 99.5% or at the cap.
(b) fast: the kit's training engine (``Trainer(fast=FastRoute)``) with the ``cnn-fast``
    preset (lean CNN, batch 256, Adam per step under an opening cycle of two thirds of an
    epoch then one main cycle, label smoothing, random shifts of 1 pixel), run to the end of
    its planned epochs, for several seeds.

Both are evaluated on the full 10,000 test images every ``--eval-every`` training images by
the same compiled function; the clock stops during each evaluation. Times count from the
start of ``fit`` (graph tracing included) and exclude loading the files.

    python bench/time_to_accuracy.py [--seeds 1,2,3] [--max-minutes 12] [--quick]
"""

from __future__ import annotations

import argparse
import sys
import time

from _common import (
    Record,
    TestAccuracy,
    accuracy_clock,
    codelab_dataset,
    codelab_model,
    codelab_schedule,
    load_average,
    machine,
    median,
    ratio,
    seconds,
)

THRESHOLDS = (0.99, 0.995)
FAST_PRESET = "cnn-fast"


def run_reference(data, seed, args, evaluate) -> Record:
    import keras

    (x_train, y_train), _ = data
    record = Record("reference", seed)
    model = codelab_model(seed)
    dataset = codelab_dataset(x_train, y_train, 64)
    clock = accuracy_clock(
        evaluate,
        record,
        64,
        args.eval_every,
        stop_at=max(THRESHOLDS),
        max_seconds=args.max_minutes * 60,
    )
    model.fit(
        dataset,
        epochs=args.max_epochs,
        callbacks=[keras.callbacks.LearningRateScheduler(codelab_schedule), clock],
        verbose=0,
    )
    if not record.stopped:
        record.stopped = f"epoch cap {args.max_epochs}"
    return record


def run_fast(data, seed, args, evaluate) -> Record:
    from mnist_widgets.accel.route import FastRoute
    from mnist_widgets.models.presets import build_model, get_preset
    from mnist_widgets.training.engine import Trainer, seed_everything

    preset = get_preset(FAST_PRESET)
    record = Record("fast", seed)
    seed_everything(seed)
    model = build_model(preset.name)
    route = FastRoute.for_device(**({} if args.shift is None else {"shift": args.shift}))
    batch_size = args.fast_batch or preset.recipe.batch_size
    clock = accuracy_clock(evaluate, record, batch_size, args.eval_every)
    trainer = Trainer(
        model,
        preset.recipe,
        data=data,
        epochs=args.fast_epochs,
        batch_size=batch_size,
        seed=seed,
        callbacks=[clock],
        validate=False,
        evaluate=False,
        fast=route,
    )
    trainer.run()
    record.stopped = f"planned {trainer.epochs} epochs"
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="1,2,3", help="seeds of the fast route (default 1,2,3)")
    parser.add_argument("--reference-seed", type=int, default=1)
    parser.add_argument("--max-minutes", type=float, default=12.0, help="reference time cap")
    parser.add_argument("--max-epochs", type=int, default=15, help="reference epoch cap")
    parser.add_argument("--fast-epochs", type=int, default=None, help="default: the preset's")
    parser.add_argument("--fast-batch", type=int, default=None, help="default: the preset's")
    parser.add_argument(
        "--shift", type=int, default=None, help="fast route's random shift, pixels (the preset's)"
    )
    parser.add_argument("--eval-every", type=int, default=10000, help="training images")
    parser.add_argument("--skip-reference", action="store_true")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, to check the script")
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]

    from mnist_widgets.data import load_data

    data = load_data("mnist", download=False)
    if args.quick:
        (x, y), (xt, yt) = data
        data = (x[:1024], y[:1024]), (xt[:500], yt[:500])
        args.max_epochs, args.fast_epochs, args.eval_every = 1, 1, 512
        seeds = seeds[:1]
    evaluate = TestAccuracy(*data[1])
    print(f"# time to accuracy\n{machine()}", flush=True)
    print(
        f"eval every {args.eval_every} training images on {evaluate.count} test images; "
        f"reference cap {args.max_epochs} epochs / {args.max_minutes:g} min; "
        f"fast seeds {seeds}",
        flush=True,
    )
    started = time.perf_counter()
    fast = [run_fast(data, seed, args, evaluate) for seed in seeds]
    reference = None
    if not args.skip_reference:
        reference = run_reference(data, args.reference_seed, args, evaluate)
    print(
        f"\nwall time of the whole run {time.perf_counter() - started:.0f} s; "
        f"load average after: {load_average()}"
    )

    print("\n| run | seed | to 99.0% | to 99.5% | final accuracy | trained | ended by |")
    print("|---|---|---|---|---|---|---|")
    for rec in fast + ([reference] if reference else []):
        print(
            f"| {rec.name} | {rec.seed} | {seconds(rec.first(0.99))} | "
            f"{seconds(rec.first(0.995))} | {rec.final:.2%} | {rec.train_seconds:.1f} s | "
            f"{rec.stopped} |"
        )
    for rec in fast + ([reference] if reference else []):
        for before, after, extra in rec.pauses():
            print(
                f"pause: {rec.name} seed {rec.seed} took {after.seconds - before.seconds:.1f} s "
                f"from {before.seconds:.1f} s to {after.seconds:.1f} s, {extra:.1f} s more than "
                f"its median rate (times above include it)"
            )
    ok = True
    for threshold in THRESHOLDS:
        # a seed that never got there counts as slower than all the others
        times = sorted(r.first(threshold) or float("inf") for r in fast)
        fast_median = median(times)
        fast_median = None if fast_median == float("inf") else fast_median
        line = f"fast median to {threshold:.1%}: {seconds(fast_median)}"
        if reference is not None:
            ref = reference.first(threshold)
            if ref is None:
                cap = reference.train_seconds
                line += (
                    f"; reference did not reach it within {cap:.0f} s "
                    f"(speed-up at least {ratio(cap, fast_median)})"
                )
            else:
                line += f"; reference {seconds(ref)}; speed-up {ratio(ref, fast_median)}"
        print(line)
        ok = ok and fast_median is not None
    finals = [r.final for r in fast]
    print(
        f"fast final accuracies: {', '.join(f'{a:.2%}' for a in finals)} "
        f"({sum(a >= 0.995 for a in finals)} of {len(finals)} seeds at or above 99.5%)"
    )
    return 0 if (ok or args.quick) else 1


if __name__ == "__main__":
    sys.exit(main())
