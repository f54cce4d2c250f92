"""`hf-pricer evaluate-alignment`: retrieval metrics, distances and figures of a trained embedding aligner.

    hf-pricer evaluate-alignment --model DIR --data test.npz --images_dir images/ --output_dir report/

reads a train-layout `.npz` file (captions with their true image embeddings) and writes
`alignment_report.json`, the retrieval figure and the similarity histogram
(see `hf_pricer.metrics.retrieval.alignment_report`).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from collections.abc import Sequence

import numpy as np
import torch

import hf_pricer  # noqa: F401 -- registers the aligner with the Auto classes
from hf_pricer.data.alignment import load_alignment_npz
from hf_pricer.metrics.retrieval import alignment_report


@torch.no_grad()
def predict_embeddings(model, text_embeds: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Predicted image embeddings of `text_embeds`, in batches."""
    model.eval()
    device = next(model.parameters()).device
    outputs = [
        model(text_embeds=torch.as_tensor(text_embeds[start : start + batch_size], device=device)).predictions.float().cpu()
        for start in range(0, len(text_embeds), batch_size)
    ]
    return torch.cat(outputs).numpy() if outputs else np.zeros((0, model.config.out_dim), dtype=np.float32)


def main(args: Sequence[str] | None = None) -> dict:
    from transformers import AutoModel

    parser = argparse.ArgumentParser(prog="hf-pricer evaluate-alignment", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="Trained aligner: a folder or Hub repo id.")
    parser.add_argument("--data", required=True, help="Train-layout .npz with the true image embeddings.")
    parser.add_argument("--images_dir", default=None, help="Folder of the images named in `images/names`.")
    parser.add_argument("--output_dir", default="alignment_report")
    parser.add_argument("--batch_size", type=int, default=256)
    parser.add_argument("--num_examples", type=int, default=4)
    parsed = parser.parse_args(args)
    logging.basicConfig(level=logging.INFO)

    model = AutoModel.from_pretrained(parsed.model)
    data = load_alignment_npz(parsed.data, require_images=True)
    predictions = predict_embeddings(model, data.caption_embeds, parsed.batch_size)
    image = None
    if parsed.images_dir:
        def image(row):
            return os.path.join(parsed.images_dir, str(data.image_names[row]))
    report = alignment_report(predictions, data, parsed.output_dir, image=image, num_examples=parsed.num_examples)
    print(json.dumps({"distances": report["distances"], "retrieval": report["retrieval"]}, indent=2))
    return report
