"""argparse value types shared by the command line and the cloud trainer."""

from __future__ import annotations

import argparse


def positive_int(value: str) -> int:
    """A whole number of at least 1, or argparse's one-line error."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {number}")
    return number
