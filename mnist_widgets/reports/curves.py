"""A PNG of the training curves and the learning rate, for headless runs."""

from __future__ import annotations

from pathlib import Path


def save_curves(
    history: dict[str, list[float]], learning_rates: list[float], path: str | Path
) -> Path:
    """Loss, accuracy (training and validation) and learning rate per epoch, in one PNG."""
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
    axes[2].plot(range(1, len(learning_rates) + 1), learning_rates, marker="o", color="tab:green")
    axes[2].set_title("learning rate")
    axes[2].set_xlabel("epoch")
    axes[2].set_yscale("log")
    axes[2].grid(alpha=0.3)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    return path
