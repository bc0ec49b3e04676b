"""What the builder shows of a stack: ``model.summary()`` as Keras prints it, row labels,
the status line and the code view, written as HTML whose looks come from the stylesheet."""

from __future__ import annotations

import html
import re
from typing import Any

from ...models.analyse import LayerReport

EMPTY_MESSAGE = "the model has no layers: add an Input layer first, or load a preset"


def _snake(kind: str) -> str:
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", kind)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def layer_names(kinds: list[str]) -> list[str]:
    """Keras-style names: ``input_layer``, ``conv2d``, ``conv2d_1``, ``dense``, ..."""
    seen: dict[str, int] = {}
    names = []
    for kind in kinds:
        base = "input_layer" if kind == "Input" else _snake(kind)
        count = seen.get(base, 0)
        seen[base] = count + 1
        names.append(base if count == 0 else f"{base}_{count}")
    return names


def keras_shape(shape: tuple | None) -> str:
    """``(None, 28, 28, 12)``, or ``?`` when the shape is unknown."""
    if shape is None:
        return "?"
    return "(" + ", ".join(["None", *(str(d) for d in shape)]) + ")"


def readable_size(params: int) -> str:
    """The memory of ``params`` float32 weights, as Keras' summary writes it."""
    size = params * 4.0
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024:
            return f"{size:.2f} {unit}"
        size /= 1024
    return f"{size:.2f} TB"


def summary_rows(
    reports: list[LayerReport], kinds: list[str], input_errors: dict[int, str]
) -> list[dict[str, Any]]:
    """One plain dict per layer: index, name, type, output shape, params, trainable, error."""
    rows = []
    for report, name in zip(reports, layer_names(kinds), strict=True):
        error = input_errors.get(report.index) or report.error
        rows.append(
            {
                "index": report.index,
                "name": name,
                "type": "InputLayer" if report.kind == "Input" else report.kind,
                "output_shape": report.output_shape,
                "params": report.params,
                "trainable": report.trainable,
                "error": error or "",
            }
        )
    return rows


def first_problem(rows: list[dict[str, Any]]) -> tuple[str, int]:
    """The stack's error message and the offending layer's index; ``("", -1)`` when valid."""
    bad = next((r for r in rows if r["error"]), None)
    if bad is not None:
        return f"layer {bad['index']} ({bad['type']}): {bad['error']}", bad["index"]
    if not rows:
        return EMPTY_MESSAGE, -1
    return "", -1


def summary_html(title: str, rows: list[dict[str, Any]], totals: tuple[int, int, int]) -> str:
    """``model.summary()`` as an HTML table; error rows in red with their message below."""
    e = html.escape
    head = (
        '<th>#</th><th>Layer (type)</th><th>Output Shape</th><th class="mnist-number">Param #</th>'
    )
    body = []
    for row in rows:
        bad = bool(row["error"])
        css = ' class="mnist-row-error"' if bad else ""
        params = f"{row['params']:,}" if row["output_shape"] is not None else "?"
        body.append(
            f"<tr{css}><td>{row['index']}</td><td>{e(row['name'])} ({e(row['type'])})</td>"
            f'<td>{e(keras_shape(row["output_shape"]))}</td><td class="mnist-number">{params}'
            "</td></tr>"
        )
        if bad:
            body.append(
                f'<tr{css}><td></td><td colspan="3" class="mnist-row-message">'
                f"&#9888; {e(row['error'])}</td></tr>"
            )
    if not rows:
        body.append('<tr><td colspan="4" class="mnist-summary-empty">(no layers)</td></tr>')
    total, trainable, frozen = totals
    foot = (
        f"<b>Total params:</b> {total:,} ({readable_size(total)})<br>"
        f"<b>Trainable params:</b> {trainable:,} ({readable_size(trainable)})<br>"
        f"<b>Non-trainable params:</b> {frozen:,} ({readable_size(frozen)})"
    )
    return (
        f'<div class="mnist-summary"><div>Model: "<b>{e(title)}</b>"</div>'
        f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
        f'<div class="mnist-summary-totals">{foot}</div></div>'
    )


def row_status_html(row: dict[str, Any]) -> str:
    """The output shape and parameter count beside a layer's editor."""
    if row["output_shape"] is None:
        return '<span class="mnist-muted">&mdash;</span>'
    shape = html.escape(keras_shape(row["output_shape"]))
    return (
        f'<div class="mnist-layer-shape-count"><span class="mnist-layer-shape">{shape}</span>'
        f'<br><span class="mnist-layer-count">{row["params"]:,} params</span></div>'
    )


def row_message_html(error: str) -> str:
    """A layer's error under its editor, or '' when it has none."""
    if not error:
        return ""
    return f'<div class="mnist-error-text">&#9888; {html.escape(error)}</div>'


def status_html(
    *,
    error: str,
    layers: int,
    totals: tuple[int, int],
    settings: str,
    has_fallback: bool,
) -> str:
    """The line under the header: the model in a sentence, or what is wrong with it."""
    if not error:
        total, trainable = totals
        return (
            f'<div class="mnist-status-ok">&#10004; {layers} layers, {total:,} parameters '
            f"({trainable:,} trainable); {html.escape(settings)}</div>"
        )
    fallback = (
        ' <span class="mnist-status-note">builder.model still gives the last valid model.</span>'
        if has_fallback
        else ""
    )
    return f'<div class="mnist-status-error">&#10008; {html.escape(error)}{fallback}</div>'


def code_html(code: str, *, stale: bool) -> str:
    """The code view: the model's source, with a note when it is the last valid model's."""
    note = (
        '<div class="mnist-error-text">The stack has an error: this is the code of the last '
        "valid model.</div>"
        if stale and code
        else ""
    )
    body = html.escape(code) if code else "# no valid model yet"
    return f"{note}<pre>{body}</pre>"
