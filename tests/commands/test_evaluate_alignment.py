"""`hf-pricer evaluate-alignment`: retrieval metrics and figures of a saved embedding aligner."""

import torch
from PIL import Image

from hf_pricer import EmbeddingAlignerConfig, EmbeddingAlignerModel
from hf_pricer.commands import evaluate_alignment as evaluation
from hf_pricer.metrics.retrieval import HISTOGRAM_FIGURE, RETRIEVAL_FIGURE
from tests.data.test_alignment import tiny_alignment
from tests.utils import is_png


def test_command_line_evaluates_a_saved_model(tmp_path):
    data = tiny_alignment(num_images=6, captions_per_image=2)
    data.save(tmp_path / "test.npz")
    images_dir = tmp_path / "images"
    images_dir.mkdir()
    for i, name in enumerate(data.image_names):
        Image.new("RGB", (24, 24), (40 * i, 90, 160)).save(images_dir / name, format="PNG")
    torch.manual_seed(0)
    EmbeddingAlignerModel(EmbeddingAlignerConfig(in_dim=8, hidden_size=16, out_dim=6)).save_pretrained(tmp_path / "model")
    report = evaluation.main(["--model", str(tmp_path / "model"), "--data", str(tmp_path / "test.npz"),
                              "--images_dir", str(images_dir), "--output_dir", str(tmp_path / "report")])
    assert report["retrieval"]["gallery_size"] == 6 and report["captions"] == 12
    assert is_png(tmp_path / "report" / RETRIEVAL_FIGURE) and is_png(tmp_path / "report" / HISTOGRAM_FIGURE)
