"""How well predicted image embeddings match the true ones: distances and retrieval.

- :func:`distance_report`: mean euclidean, manhattan and cosine distances between each caption's predicted
  embedding and its image's true embedding, against two baselines — random pairs (the prediction against
  another caption's image) and the mean embedding (the mean true embedding predicted for every caption) —
  with the improvement over each in percent.
- :func:`retrieval_metrics`: every caption queries the gallery of *unique* images by cosine similarity;
  recall@k, mean reciprocal rank and median rank of its own image. Ties count against the query (a
  rank is the number of gallery images at least as similar as the true one), so a constant prediction
  scores like chance, not perfectly.
- :func:`alignment_report`: all of the above for an `AlignmentData`, written as JSON with the figures of
  :mod:`hf_pricer.plots` (`hf-pricer evaluate-alignment` runs it on a trained model).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

DISTANCES = ("euclidean", "manhattan", "cosine")
RECALL_AT = (1, 5, 10)
REPORT_FILENAME = "alignment_report.json"
RETRIEVAL_FIGURE = "retrieval_examples.png"
HISTOGRAM_FIGURE = "cosine_similarity_histogram.png"
_CHUNK = 1024

logger = logging.getLogger(__name__)


def _normalize(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.float32)
    return values / np.maximum(np.linalg.norm(values, axis=-1, keepdims=True), 1e-12)


def row_distances(a: np.ndarray, b: np.ndarray, metric: str) -> np.ndarray:
    """Distance between row `i` of `a` and row `i` of `b` (`b` may be one row, broadcast)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if metric == "euclidean":
        return np.linalg.norm(a - b, axis=-1)
    if metric == "manhattan":
        return np.abs(a - b).sum(axis=-1)
    if metric == "cosine":
        return 1.0 - (_normalize(a) * _normalize(b)).sum(axis=-1)
    raise ValueError(f"`metric` must be one of {DISTANCES}, got {metric!r}")


def _improvement(model: float, baseline: float) -> float:
    return float(100.0 * (baseline - model) / baseline) if baseline > 0 else float("nan")


def distance_report(
    predictions: np.ndarray, targets: np.ndarray, mean_embedding: np.ndarray | None = None, seed: int = 0
) -> dict[str, dict[str, float]]:
    """Mean distances of predictions to their targets vs. the random-pair and mean-embedding baselines.

    Args:
        predictions: `(rows, dim)` predicted image embeddings.
        targets: `(rows, dim)` true image embeddings of the same rows.
        mean_embedding: the constant prediction of the mean baseline; defaults to the mean of `targets`.
        seed: seed of the random pairing (a permutation of the targets).

    Returns `{metric: {"model", "random_pairs", "mean_embedding", "improvement_vs_random_pct",
    "improvement_vs_mean_pct"}}` for the euclidean, manhattan and cosine distances.
    """
    predictions, targets = np.asarray(predictions), np.asarray(targets)
    if predictions.shape != targets.shape or predictions.ndim != 2:
        raise ValueError(f"predictions {predictions.shape} and targets {targets.shape} must be equal (rows, dim) shapes")
    mean_embedding = targets.mean(axis=0) if mean_embedding is None else np.asarray(mean_embedding)
    shuffled = targets[np.random.default_rng(seed).permutation(len(targets))]
    report = {}
    for metric in DISTANCES:
        model = float(row_distances(predictions, targets, metric).mean())
        random_pairs = float(row_distances(predictions, shuffled, metric).mean())
        mean = float(row_distances(mean_embedding[None, :], targets, metric).mean())
        report[metric] = {
            "model": model,
            "random_pairs": random_pairs,
            "mean_embedding": mean,
            "improvement_vs_random_pct": _improvement(model, random_pairs),
            "improvement_vs_mean_pct": _improvement(model, mean),
        }
    return report


def unique_gallery(targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The unique rows of `targets` (the gallery) and, for every row, its index in the gallery."""
    gallery, inverse = np.unique(np.asarray(targets, dtype=np.float32), axis=0, return_inverse=True)
    return gallery, inverse.reshape(-1)


def _similarity_chunks(queries: np.ndarray, gallery: np.ndarray):
    gallery_t = torch.from_numpy(_normalize(gallery)).T
    queries = _normalize(queries)
    for start in range(0, len(queries), _CHUNK):
        yield start, (torch.from_numpy(queries[start : start + _CHUNK]) @ gallery_t).numpy()


def retrieval_ranks(queries: np.ndarray, gallery: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """1-based rank of gallery row `targets[i]` among all gallery rows for query `i`, by cosine similarity.

    The rank counts the gallery rows at least as similar as the target (ties count against the query).
    """
    targets = np.asarray(targets, dtype=np.int64)
    if len(targets) != len(queries):
        raise ValueError(f"{len(queries)} queries but {len(targets)} targets")
    if len(targets) and (targets.min() < 0 or targets.max() >= len(gallery)):
        raise ValueError(f"targets must index the {len(gallery)} gallery rows")
    ranks = np.empty(len(queries), dtype=np.int64)
    for start, similarity in _similarity_chunks(queries, gallery):
        rows = np.arange(len(similarity))
        target_similarity = similarity[rows, targets[start : start + len(similarity)]]
        ranks[start : start + len(similarity)] = (similarity >= target_similarity[:, None]).sum(axis=1)
    return ranks


def top_k(queries: np.ndarray, gallery: np.ndarray, k: int = 5) -> np.ndarray:
    """Gallery rows of the `k` most cosine-similar images of every query, most similar first."""
    k = min(k, len(gallery))
    best = np.empty((len(queries), k), dtype=np.int64)
    for start, similarity in _similarity_chunks(queries, gallery):
        best[start : start + len(similarity)] = np.argsort(-similarity, axis=1, kind="stable")[:, :k]
    return best


def metrics_from_ranks(ranks: np.ndarray, ks: Sequence[int] = RECALL_AT) -> dict[str, float]:
    """`recall_at_k` (fractions), `mrr` and `median_rank` of 1-based ranks."""
    ranks = np.asarray(ranks, dtype=np.float64)
    if not len(ranks):
        raise ValueError("no ranks to summarise")
    metrics = {f"recall_at_{k}": float((ranks <= k).mean()) for k in ks}
    metrics["mrr"] = float((1.0 / ranks).mean())
    metrics["median_rank"] = float(np.median(ranks))
    return metrics


def retrieval_metrics(
    predictions: np.ndarray, gallery: np.ndarray, targets: np.ndarray, ks: Sequence[int] = RECALL_AT
) -> dict[str, float]:
    """Recall@k, MRR and median rank of retrieving gallery row `targets[i]` with `predictions[i]`."""
    metrics = metrics_from_ranks(retrieval_ranks(predictions, gallery, targets), ks)
    metrics["gallery_size"] = len(gallery)
    return metrics


def chance_retrieval_metrics(gallery_size: int, ks: Sequence[int] = RECALL_AT) -> dict[str, float]:
    """Expected metrics of a random ranking of `gallery_size` images (the target's rank is uniform)."""
    n = gallery_size
    metrics = {f"recall_at_{k}": min(k, n) / n for k in ks}
    metrics["mrr"] = float(sum(1.0 / rank for rank in range(1, n + 1)) / n)
    metrics["median_rank"] = (n + 1) / 2
    metrics["gallery_size"] = n
    return metrics


def compute_retrieval_metrics(eval_pred) -> dict[str, float]:
    """`compute_metrics` for the Trainer: mean cosine similarity and retrieval among the unique label rows."""
    predictions = eval_pred.predictions[0] if isinstance(eval_pred.predictions, tuple) else eval_pred.predictions
    labels = eval_pred.label_ids
    gallery, targets = unique_gallery(labels)
    metrics = retrieval_metrics(predictions, gallery, targets)
    metrics["cosine_similarity"] = float(1.0 - row_distances(predictions, labels, "cosine").mean())
    return metrics


def alignment_report(
    predictions: np.ndarray,
    data,
    output_dir: str | os.PathLike | None = None,
    image: Callable[[int], Any] | None = None,
    num_examples: int = 4,
    k: int = 5,
    mean_embedding: np.ndarray | None = None,
    seed: int = 0,
) -> dict:
    """Distances, retrieval among `data`'s images, and (with `output_dir`) the JSON report and figures.

    Args:
        predictions: `(len(data), out_dim)` predicted image embeddings of `data`'s captions.
        data: an `AlignmentData` with images.
        output_dir: where `alignment_report.json` and the figures go; nothing is written without it.
        image: image row → image for the retrieval figure (defaults to the file `data.image_names[row]`
            relative to the current folder); the figure is skipped when `image` is `None` and no name
            is a readable file.
        num_examples: captions shown in the retrieval figure (random, fixed by `seed`).
        mean_embedding: constant prediction of the mean baseline (e.g. the training images' mean).
    """
    if not data.has_images:
        raise ValueError(f"{data.source}: evaluating needs the true image embeddings (a train-layout file)")
    predictions = np.asarray(predictions, dtype=np.float32)
    targets = data.image_embeds[data.image_index]
    report = {
        "captions": len(data),
        "images": len(data.image_embeds),
        "distances": distance_report(predictions, targets, mean_embedding=mean_embedding, seed=seed),
        "retrieval": retrieval_metrics(predictions, data.image_embeds, data.image_index),
        "chance_retrieval": chance_retrieval_metrics(len(data.image_embeds)),
    }
    if output_dir is None:
        return report
    from hf_pricer.plots import save_retrieval_figure, save_similarity_histogram

    os.makedirs(output_dir, exist_ok=True)
    with open(os.path.join(output_dir, REPORT_FILENAME), "w", encoding="utf-8") as handle:
        json.dump(report, handle, indent=2)
    shuffled = targets[np.random.default_rng(seed).permutation(len(targets))]
    save_similarity_histogram(
        os.path.join(output_dir, HISTOGRAM_FIGURE),
        1.0 - row_distances(predictions, targets, "cosine"),
        1.0 - row_distances(predictions, shuffled, "cosine"),
    )
    if image is None and any(os.path.isfile(name) for name in data.image_names[:10]):
        def image(row):
            return str(data.image_names[row])
    if image is not None:
        examples = np.sort(np.random.default_rng(seed).choice(len(data), min(num_examples, len(data)), replace=False))
        save_retrieval_figure(
            os.path.join(output_dir, RETRIEVAL_FIGURE),
            [str(text) for text in data.caption_text[examples]],
            top_k(predictions[examples], data.image_embeds, k),
            data.image_index[examples],
            retrieval_ranks(predictions[examples], data.image_embeds, data.image_index[examples]),
            image,
        )
    return report


