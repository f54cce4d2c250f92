import json

import numpy as np
import pytest
from PIL import Image
from transformers import EvalPrediction

from hf_pricer.metrics.retrieval import (
    HISTOGRAM_FIGURE,
    REPORT_FILENAME,
    RETRIEVAL_FIGURE,
    alignment_report,
    chance_retrieval_metrics,
    compute_retrieval_metrics,
    distance_report,
    metrics_from_ranks,
    retrieval_metrics,
    retrieval_ranks,
    top_k,
    unique_gallery,
)
from tests.data.test_alignment import tiny_alignment
from tests.utils import is_png

GALLERY = np.eye(3, dtype=np.float32)
QUERIES = np.array([[1, 0.5, 0], [1, 0.5, 0.2], [0.1, 0.2, 0.3], [0, 0, 1]], dtype=np.float32)
TARGETS = np.array([0, 1, 0, 2])


def test_ranks_recall_mrr_and_median_rank_by_hand():
    ranks = retrieval_ranks(QUERIES, GALLERY, TARGETS)
    assert ranks.tolist() == [1, 2, 3, 1]
    metrics = metrics_from_ranks(ranks, ks=(1, 2, 3))
    assert metrics["recall_at_1"] == 0.5 and metrics["recall_at_2"] == 0.75 and metrics["recall_at_3"] == 1.0
    assert metrics["mrr"] == pytest.approx((1 + 1 / 2 + 1 / 3 + 1) / 4)
    assert metrics["median_rank"] == 1.5
    assert retrieval_metrics(QUERIES, GALLERY, TARGETS)["gallery_size"] == 3
    assert top_k(QUERIES, GALLERY, 2).tolist() == [[0, 1], [0, 1], [2, 1], [2, 0]]


def test_ties_count_against_the_query():
    assert retrieval_ranks(np.array([[1.0, 1.0, 0.0]]), GALLERY, [1]).tolist() == [2]
    constant = np.ones((3, 3), dtype=np.float32)
    assert retrieval_ranks(constant, GALLERY, [0, 1, 2]).tolist() == [3, 3, 3]  # chance, not perfect


def test_retrieval_input_errors():
    with pytest.raises(ValueError, match="4 queries but 3 targets"):
        retrieval_ranks(QUERIES, GALLERY, TARGETS[:3])
    with pytest.raises(ValueError, match="index the 3 gallery rows"):
        retrieval_ranks(QUERIES, GALLERY, [0, 1, 2, 3])


def test_chance_metrics():
    metrics = chance_retrieval_metrics(4, ks=(1, 5))
    assert metrics["recall_at_1"] == 0.25 and metrics["recall_at_5"] == 1.0
    assert metrics["mrr"] == pytest.approx((1 + 1 / 2 + 1 / 3 + 1 / 4) / 4)
    assert metrics["median_rank"] == 2.5


def test_trainer_metrics_retrieve_among_unique_images():
    labels = GALLERY[[0, 0, 1, 2]]  # two captions of image 0
    predictions = np.array([[1, 0.1, 0], [0.2, 1, 0], [0, 1, 0], [0, 0, 1]], dtype=np.float32)
    gallery, targets = unique_gallery(labels)
    assert len(gallery) == 3 and np.array_equal(gallery[targets], labels)
    metrics = compute_retrieval_metrics(EvalPrediction(predictions=predictions, label_ids=labels))
    assert metrics["gallery_size"] == 3
    assert metrics["recall_at_1"] == 0.75 and metrics["mrr"] == pytest.approx((1 + 0.5 + 1 + 1) / 4)
    cosines = [1 / np.sqrt(1.01), 0.2 / np.sqrt(1.04), 1, 1]
    assert metrics["cosine_similarity"] == pytest.approx(np.mean(cosines), rel=1e-6)


def test_distance_report_by_hand():
    targets = np.array([[1.0, 0.0], [0.0, 1.0]])
    predictions = np.array([[1.0, 0.0], [1.0, 0.0]])
    report = distance_report(predictions, targets)
    assert report["euclidean"]["model"] == pytest.approx(np.sqrt(2) / 2)
    assert report["manhattan"]["model"] == pytest.approx(1.0)
    assert report["cosine"]["model"] == pytest.approx(0.5)
    # the mean baseline predicts (0.5, 0.5) for both rows
    assert report["euclidean"]["mean_embedding"] == pytest.approx(np.sqrt(0.5))
    assert report["manhattan"]["mean_embedding"] == pytest.approx(1.0)
    assert report["cosine"]["mean_embedding"] == pytest.approx(1 - np.sqrt(0.5))
    assert report["manhattan"]["improvement_vs_mean_pct"] == pytest.approx(0.0)
    assert report["euclidean"]["improvement_vs_mean_pct"] == pytest.approx(0.0)

    data = tiny_alignment(num_images=20, captions_per_image=1)
    perfect = distance_report(data.image_embeds, data.image_embeds)
    for metric, values in perfect.items():
        assert values["model"] == pytest.approx(0.0, abs=1e-6) and values["random_pairs"] > 0, metric
        assert values["improvement_vs_random_pct"] == pytest.approx(100.0)
    with pytest.raises(ValueError, match="must be equal"):
        distance_report(predictions, targets[:1])


def test_alignment_report_writes_json_and_figures(tmp_path):
    data = tiny_alignment(num_images=6, captions_per_image=2)
    predictions = data.image_embeds[data.image_index] + 0.01
    colours = {name: Image.new("RGB", (32, 32), (40 * i, 100, 100)) for i, name in enumerate(data.image_names)}
    report = alignment_report(predictions, data, tmp_path, image=lambda row: colours[data.image_names[row]],
                              num_examples=3)
    assert report["retrieval"]["recall_at_1"] == 1.0 and report["retrieval"]["gallery_size"] == 6
    assert report["chance_retrieval"]["recall_at_1"] == pytest.approx(1 / 6)
    assert json.loads((tmp_path / REPORT_FILENAME).read_text())["retrieval"] == report["retrieval"]
    assert is_png(tmp_path / RETRIEVAL_FIGURE) and is_png(tmp_path / HISTOGRAM_FIGURE)
    with pytest.raises(ValueError, match="needs the true image embeddings"):
        alignment_report(predictions, type(data)(caption_text=data.caption_text, caption_embeds=data.caption_embeds))
