"""A PNG of the training curves and the learning rate, for headless runs."""

from __future__ import annotations

from pathlib import Path

from ..models.schedules import Schedule

POINTS_PER_EPOCH = 20  # how finely the planned rate is drawn


def save_curves(
    history: dict[str, list[float]],
    learning_rates: list[float],
    path: str | Path,
    schedule: Schedule | None = None,
) -> Path:
    """Write ``curves_figure`` as a PNG at ``path``."""
    path = Path(path)
    curves_figure(history, learning_rates, schedule).savefig(path)
    return path


def curves_figure(
    history: dict[str, list[float]],
    learning_rates: list[float],
    schedule: Schedule | None = None,
):
    """Loss, accuracy (training and validation) and the learning rate of each epoch, side
    by side; with ``schedule``, the planned rate is drawn through the epochs as a line."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(13, 3.8), dpi=100)
    axes = fig.subplots(1, 3)
    epochs = range(1, len(history.get("loss", [])) + 1)
    for ax, metric, title in ((axes[0], "loss", "loss"), (axes[1], "accuracy", "accuracy")):
        for key, label in ((metric, "training"), (f"val_{metric}", "validation")):
            if history.get(key):
                ax.plot(list(epochs), history[key], marker="o", label=label)
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend()
    if history.get("val_accuracy"):
        low = min(history["val_accuracy"] + history.get("accuracy", []))
        axes[1].set_ylim(max(0.0, min(low, 0.98) - 0.01), 1.0)
    if schedule is not None:  # the rate through each epoch, from that epoch's dot on
        count = max(len(learning_rates), len(epochs), 1)
        at = [i / POINTS_PER_EPOCH for i in range(count * POINTS_PER_EPOCH + 1)]
        planned = [schedule.rate_at(min(t, count - 1e-9)) for t in at]
        axes[2].plot([1 + t for t in at], planned, color="tab:gray", ls="--", label="planned")
    axes[2].plot(
        range(1, len(learning_rates) + 1),
        learning_rates,
        marker="o",
        color="tab:green",
        ls="",
        label="used",
    )
    axes[2].legend()
    axes[2].set_title("learning rate")
    axes[2].set_xlabel("epoch")
    axes[2].set_yscale("log")
    axes[2].grid(alpha=0.3)
    fig.tight_layout()
    return fig
