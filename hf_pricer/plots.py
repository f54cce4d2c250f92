"""Figures the models' evaluations draw: predicted-vs-true prices, and text-to-image retrieval examples and
similarities. matplotlib (the `plots` extra) is imported when a figure is drawn, with the Agg backend."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from hf_pricer.data.images import load_image

PRICE_PLOT_FILENAME = "price_predictions.png"


def _pyplot():
    try:
        import matplotlib
    except ImportError as error:
        raise ImportError('drawing figures needs matplotlib: pip install "hf_pricer[plots]"') from error

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _thumbnail(value: Any, size: int = 160) -> np.ndarray:
    image, _ = load_image(value) if value is not None else (None, None)
    if image is None:
        return np.full((size, size, 3), 200, dtype=np.uint8)
    image.thumbnail((size, size))
    canvas = np.full((size, size, 3), 255, dtype=np.uint8)
    pixels = np.asarray(image)
    top, left = (size - pixels.shape[0]) // 2, (size - pixels.shape[1]) // 2
    canvas[top : top + pixels.shape[0], left : left + pixels.shape[1]] = pixels
    return canvas


def save_retrieval_figure(
    path: str | os.PathLike,
    captions: Sequence[str],
    retrieved: np.ndarray,
    targets: Sequence[int],
    ranks: Sequence[int],
    image: Callable[[int], Any],
) -> str:
    """Captions (rows) with their top-k retrieved images, the true one framed in green, and the true image
    with its rank in the last column.

    Args:
        path: PNG file to write.
        captions: the query captions.
        retrieved: `(len(captions), k)` gallery rows, most similar first (see :func:`top_k`).
        targets: gallery row of each caption's true image.
        ranks: rank of the true image of each caption.
        image: gallery row → anything `hf_pricer.data.images.load_image` reads (path, bytes, PIL image);
            an image that cannot be loaded is drawn grey.
    """
    plt = _pyplot()
    rows, k = np.asarray(retrieved).shape
    figure, axes = plt.subplots(rows, k + 1, figsize=(1.6 * (k + 1), 2.0 * rows), dpi=80, squeeze=False)
    for row in range(rows):
        shown = [*retrieved[row], targets[row]]
        for column, gallery_row in enumerate(shown):
            axis = axes[row, column]
            axis.imshow(_thumbnail(image(int(gallery_row))))
            axis.set_xticks([]), axis.set_yticks([])
            hit = gallery_row == targets[row]
            for spine in axis.spines.values():
                spine.set_edgecolor("green" if hit else "lightgrey")
                spine.set_linewidth(4 if hit else 1)
            axis.set_title(f"true (rank {ranks[row]})" if column == k else f"#{column + 1}", fontsize=8)
        axes[row, 0].set_ylabel("\n".join(textwrap.wrap(captions[row], 28)[:4]), fontsize=7, rotation=0,
                                ha="right", va="center", labelpad=4)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return os.fspath(path)


def save_similarity_histogram(path: str | os.PathLike, matched: np.ndarray, random_pairs: np.ndarray) -> str:
    """Histogram of the cosine similarity of predictions to their own image and to a random image."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(5, 3.5), dpi=80)
    bins = np.linspace(min(matched.min(), random_pairs.min()), max(matched.max(), random_pairs.max()), 40)
    axis.hist(random_pairs, bins=bins, alpha=0.6, label=f"random image (mean {random_pairs.mean():.3f})")
    axis.hist(matched, bins=bins, alpha=0.6, label=f"true image (mean {matched.mean():.3f})")
    axis.set(xlabel="cosine similarity of prediction", ylabel="captions")
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return os.fspath(path)


def save_price_plot(predictions, labels, path: str) -> str:
    """Scatter plot of predicted vs. true prices on log-log axes, written to `path` (PNG)."""
    plt = _pyplot()
    predictions = np.clip(np.asarray(predictions, dtype=float).reshape(-1), 0.01, None)
    labels = np.clip(np.asarray(labels, dtype=float).reshape(-1), 0.01, None)
    figure, axis = plt.subplots(figsize=(5, 5), dpi=100)
    axis.scatter(labels, predictions, s=6, alpha=0.5)
    low, high = min(labels.min(), predictions.min()), max(labels.max(), predictions.max())
    axis.plot([low, high], [low, high], color="black", linewidth=1, label="perfect prediction")
    axis.set(xscale="log", yscale="log", xlabel="true price ($)", ylabel="predicted price ($)")
    axis.set_title(f"{len(labels)} items")
    axis.legend(loc="upper left")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return path
