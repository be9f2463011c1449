"""Report pictures: confusion matrices, training curves, the most confident mistakes (matplotlib, Agg)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from yolocls.core.fs import atomic_path


def _plt():  # type: ignore[no-untyped-def]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_confusion(matrix: np.ndarray, classes: list[str], path: Path, normalize: bool) -> None:
    """Rows = true class, columns = predicted class; readable up to ~50 classes."""
    plt = _plt()
    n = len(classes)
    data = matrix.astype(float)
    if normalize:
        rows = data.sum(axis=1, keepdims=True)
        data = np.divide(data, rows, out=np.zeros_like(data), where=rows > 0)
    side = min(24.0, max(5.0, 0.38 * n + 3))
    fig, ax = plt.subplots(figsize=(side, side * 0.9))
    im = ax.imshow(data, cmap="Blues", vmin=0, vmax=1 if normalize else max(1, data.max()))
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    fontsize = max(5, min(10, int(220 / max(n, 1))))
    ax.set_xticks(range(n), classes, rotation=90, fontsize=fontsize)
    ax.set_yticks(range(n), classes, fontsize=fontsize)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title("Confusion matrix" + (" (row-normalised: recall on the diagonal)" if normalize else " (counts)"))
    if n <= 25:
        threshold = data.max() / 2 if data.size else 0
        for i in range(n):
            for j in range(n):
                if matrix[i, j]:
                    text = f"{data[i, j]:.2f}" if normalize else str(int(matrix[i, j]))
                    ax.text(j, i, text, ha="center", va="center", fontsize=fontsize,
                            color="white" if data[i, j] > threshold else "black")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_training_curves(rows: list[dict[str, float]], path: Path) -> bool:
    """Loss and accuracy per epoch from results.csv rows; False when there is nothing to plot."""
    if not rows:
        return False
    plt = _plt()
    epochs = [r.get("epoch", i + 1) for i, r in enumerate(rows)]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    for key, label in (("train/loss", "train loss"), ("val/loss", "val loss")):
        if any(key in r for r in rows):
            ax1.plot(epochs, [r.get(key, np.nan) for r in rows], marker="o", ms=3, label=label)
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("loss")
    ax1.legend()
    ax1.grid(alpha=0.3)
    for key, label in (("metrics/accuracy_top1", "val top-1"), ("metrics/accuracy_top5", "val top-5")):
        if any(key in r for r in rows):
            ax2.plot(epochs, [r.get(key, np.nan) for r in rows], marker="o", ms=3, label=label)
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("accuracy")
    ax2.set_ylim(0, 1.02)
    ax2.legend()
    ax2.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def plot_mistakes(images: list[np.ndarray], titles: list[str], path: Path, cols: int = 4,
                  title: str = "Most confident mistakes") -> bool:
    """A grid of RGB images with their titles; False when there are none."""
    if not images:
        return False
    plt = _plt()
    cols = min(cols, len(images))
    rows = (len(images) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.9 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, img, title in zip(axes.flat, images, titles):
        ax.imshow(img)
        ax.set_title(title, fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def plot_risk_coverage(points: list[tuple[float, float]], coverage: float, accuracy: float | None, path: Path
                       ) -> bool:
    """Accuracy of the answered images vs the fraction answered, with the chosen operating point."""
    if not points:
        return False
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.5, 4))
    ax.plot([c for c, _ in points], [a for _, a in points], label="answer the most confident fraction")
    if accuracy is not None:
        ax.scatter([coverage], [accuracy], color="red", zorder=3,
                   label=f"thresholds: coverage {coverage:.2f}, accuracy {accuracy:.3f}")
    ax.set_xlabel("coverage (fraction answered)")
    ax.set_ylabel("accuracy of the answers")
    ax.set_xlim(0, 1.02)
    ax.set_title("Risk-coverage")
    ax.legend(fontsize=8, loc="lower left")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def plot_learning_curve(points: list[dict], fit: dict | None, path: Path) -> None:
    """Test top-1 and macro-F1 against training images per class (log scale), the fitted curve to one doubling
    beyond the last point."""
    plt = _plt()
    n = np.array([p["images_per_class"] for p in points])
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=110)
    ax.plot(n, [p["test_top1"] for p in points], "o-", label="test top-1")
    ax.plot(n, [p["test_macro_f1"] for p in points], "s-", label="test macro-F1")
    if fit is not None:
        xs = np.geomspace(n.min(), 2 * n.max(), 50)
        ax.plot(xs, 1 - (fit["a"] * xs ** -fit["b"] + fit["c"]), "--", color="grey",
                label=f"fit: top-1 = 1 - {fit['a']:.2g}·n^-{fit['b']:.2f} - {fit['c']:.3f}")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("training images per class")
    ax.set_ylabel("score")
    ax.set_title("Learning curve")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
