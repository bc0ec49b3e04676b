"""The difference of two runs' generated code, as HTML with added and removed lines marked."""

from __future__ import annotations

import difflib
import html

LINE_CLASSES = {
    "+": "mnist-runboard-added",
    "-": "mnist-runboard-removed",
    "@": "mnist-runboard-hunk",
}


def code_diff(old: str, new: str, old_name: str, new_name: str) -> list[str]:
    """``difflib.unified_diff`` of two sources, every line kept as context."""
    old_lines, new_lines = old.splitlines(), new.splitlines()
    context = max(len(old_lines), len(new_lines))
    return list(
        difflib.unified_diff(old_lines, new_lines, old_name, new_name, n=context, lineterm="")
    )


def code_diff_html(old: str, new: str, old_name: str, new_name: str) -> str:
    """``code_diff`` as a ``<pre>``: one ``<div>`` a line, classed by what happened to it."""
    lines = code_diff(old, new, old_name, new_name)
    if not lines:
        return (
            f"<div class='mnist-runboard-same'>{html.escape(old_name)} and "
            f"{html.escape(new_name)} have the same code.</div>"
        )
    rows = []
    for line in lines[2:]:  # after the ---/+++ header
        css = LINE_CLASSES.get(line[:1], "mnist-runboard-context")
        rows.append(f"<div class='{css}'>{html.escape(line) or ' '}</div>")
    header = (
        f"<div class='mnist-runboard-diff-head'><span class='mnist-runboard-removed'>"
        f"- {html.escape(old_name)}</span> <span class='mnist-runboard-added'>"
        f"+ {html.escape(new_name)}</span></div>"
    )
    return f"{header}<pre class='mnist-runboard-code'>{''.join(rows)}</pre>"
