"""Grading: measure a saved model in a fresh process and check it against an assignment.

``evaluate`` (saved model -> accuracy, run as its own process), ``checks`` (one function
per check, composed by the hidden tests), ``replay`` and ``preprocessors`` (nbgrader steps
that re-run test cells away from the student's kernel).
"""

from __future__ import annotations

from .evaluate import ModelReport

__all__ = ["ModelReport"]
