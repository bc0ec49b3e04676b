"""``mnist-widgets presets``: list the codelab's ladder."""

from __future__ import annotations


def register(sub) -> None:
    parser = sub.add_parser("presets", help="list the model presets (the codelab's ladder)")
    parser.add_argument("--verbose", "-v", action="store_true", help="show layers and settings")
    parser.set_defaults(func=run)


def run(args) -> int:
    from ..models.presets import EXTRA_PRESETS, list_presets

    for preset in list_presets():
        _show(preset, args.verbose)
    print("\nbeyond the ladder (train with --fast):")
    for preset in EXTRA_PRESETS.values():
        _show(preset, args.verbose)
    return 0


def _show(preset, verbose: bool) -> None:
    c = preset.recipe
    rate = c.schedule.describe() if c.schedule else f"{c.learning_rate:g}"
    print(
        f"{preset.name:<15} ~{preset.expected_accuracy:.1%}  {preset.title}  "
        f"[{c.optimizer}, lr {rate}, batch {c.batch_size}, {c.epochs} epochs]"
    )
    if verbose:
        print(f"{'':<17}{preset.description}")
        for layer in preset.layers:
            print(f"{'':<19}{layer.kind} {layer.params or ''}")
