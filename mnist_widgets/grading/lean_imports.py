"""Keep a slow optional import out of the grader's own short-lived processes.

nbformat validates notebooks with jsonschema, and jsonschema, when the optional
``rfc3987_syntax`` package is installed (Jupyter's ``format-nongpl`` extra brings it),
imports it for its ``iri`` format checks; that import compiles dozens of Earley parsers
(seconds of CPU). nbformat's schema has no ``iri`` field, so the grader's processes that
import nbformat (the sandbox's executor, a grading job) mark the package as absent before
they import nbformat: jsonschema then goes without those two format checks, as it does
wherever the package is not installed.
"""

from __future__ import annotations

import sys

SLOW_OPTIONAL = "rfc3987_syntax"


def skip_slow_format_checks() -> None:
    """Make ``import rfc3987_syntax`` fail in this process (call before importing nbformat)."""
    sys.modules.setdefault(SLOW_OPTIONAL, None)  # type: ignore[arg-type]
