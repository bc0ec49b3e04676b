"""The command line: thin over the modules, one sub-command module each.

Each module in ``mnist_widgets.commands`` has ``register(subparsers)``, which adds its parser
and sets ``func`` to a ``run(args) -> int``. Errors users can cause (``MnistWidgetsError``)
are printed as one line without a traceback and exit with code 2.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

COMMANDS = ("data", "presets", "train", "trainer", "predict", "grade", "doctor")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit code 2
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="mnist-widgets", description="MNIST teaching kit: data, training, models."
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name in COMMANDS:
        importlib.import_module(f"mnist_widgets.commands.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from .errors import MnistWidgetsError

    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except MnistWidgetsError as exc:
        print(f"mnist-widgets: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mnist-widgets: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
