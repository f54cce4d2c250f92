"""Embed texts and images with pretrained encoders, and build the embedding aligner's `.npz` files.

- text: mean-pooled (attention-masked) token states of any 🤗 text encoder, L2-normalised as
  sentence-transformers does; all-MiniLM-L6-v2 (384-d) from `hf_pricer.pretrained.minilm_path()` by default;
- images: pooled features (`num_classes=0`) of a timm model, preprocessed as its `pretrained_cfg` says;
  EfficientNet-Lite0 (1280-d) with the offline ImageNet weights by default.

Both defaults work offline; a Hub text model id or a timm model name (with `--image_weights timm`) work
where the Hub is reachable. Images are read with `hf_pricer.data.images.load_image` (size-checked before
decoding); an image that cannot be used is counted and logged, and dropped with its captions.

`hf-pricer embed` writes these files from a captions file and its images, or from the synthetic catalog.
"""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from datasets import Image as DatasetImage

from .catalog import generate_catalog
from .images import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_PIXELS,
    IMAGE_NOT_FOUND,
    ImageReport,
    load_image,
)
from .schema import SkipReport

from .alignment import AlignmentData, load_alignment_npz

logger = logging.getLogger(__name__)

DEFAULT_IMAGE_MODEL = "efficientnet_lite0"
EMPTY_CAPTION = "empty caption"
IMAGE_UNUSABLE = "image unusable"


class TextEmbedder:
    """Sentence embeddings: the attention-masked mean of a 🤗 encoder's last hidden states.

    Args:
        model_name_or_path: a local folder or Hub id; defaults to the offline all-MiniLM-L6-v2.
        max_length: tokens per text (longer texts are truncated).
        batch_size: texts per forward pass.
        normalize: L2-normalise the embeddings (what all-MiniLM-L6-v2's sentence-transformers pipeline does).
    """

    def __init__(self, model_name_or_path: str | None = None, max_length: int = 128, batch_size: int = 64,
                 normalize: bool = True, device: str | torch.device = "cpu"):
        from transformers import AutoModel, AutoTokenizer

        from hf_pricer.pretrained import minilm_path

        self.model_name_or_path = model_name_or_path or minilm_path()
        self.tokenizer = AutoTokenizer.from_pretrained(self.model_name_or_path)
        self.model = AutoModel.from_pretrained(self.model_name_or_path).to(device).eval()
        self.max_length, self.batch_size, self.normalize, self.device = max_length, batch_size, normalize, device

    @property
    def dim(self) -> int:
        return self.model.config.hidden_size

    @torch.no_grad()
    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        outputs = []
        for start in range(0, len(texts), self.batch_size):
            tokens = self.tokenizer(list(texts[start : start + self.batch_size]), padding=True, truncation=True,
                                    max_length=self.max_length, return_tensors="pt").to(self.device)
            hidden = self.model(**tokens).last_hidden_state
            mask = tokens["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
            outputs.append(F.normalize(pooled, dim=-1) if self.normalize else pooled)
        return torch.cat(outputs).float().cpu().numpy() if outputs else np.zeros((0, self.dim), np.float32)


class ImageEmbedder:
    """Pooled image features of a timm model, with the model's own preprocessing (`pretrained_cfg`).

    Args:
        model_name: timm architecture.
        weights: anything `hf_pricer.pretrained.load_timm_weights` takes; defaults to the offline
            ImageNet weights for `efficientnet_lite0` and to `"timm"` (the Hub) for other models.
        batch_size: images per forward pass.
        max_pixels, max_bytes: size limits checked before an image is decoded.
    """

    def __init__(self, model_name: str = DEFAULT_IMAGE_MODEL, weights: Any = None, batch_size: int = 32,
                 device: str | torch.device = "cpu", max_pixels: int = DEFAULT_MAX_PIXELS,
                 max_bytes: int = DEFAULT_MAX_BYTES):
        import timm.data

        from hf_pricer.pretrained import OFFLINE_IMAGE_WEIGHTS, create_pretrained_timm_model

        if weights is None:
            weights = next((name for name, (arch, _) in OFFLINE_IMAGE_WEIGHTS.items() if arch == model_name), "timm")
        self.model = create_pretrained_timm_model(model_name, weights, num_classes=0).to(device).eval()
        self.transform = timm.data.create_transform(**timm.data.resolve_model_data_config(self.model))
        self.batch_size, self.device, self.max_pixels, self.max_bytes = batch_size, device, max_pixels, max_bytes

    @property
    def dim(self) -> int:
        return self.model.num_features

    @torch.no_grad()
    def __call__(self, images: Sequence[Any], names: Sequence[str] | None = None,
                 report: ImageReport | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Embeddings of the usable images, and a boolean mask of which images were usable."""
        report = report if report is not None else ImageReport()
        names = names if names is not None else [str(i) for i in range(len(images))]
        usable, outputs, batch = np.zeros(len(images), dtype=bool), [], []
        for position, value in enumerate(images):
            image, reason = load_image(value, max_pixels=self.max_pixels, max_bytes=self.max_bytes)
            if image is None:
                report.add(reason, names[position])
            else:
                report.kept += 1
                usable[position] = True
                batch.append(self.transform(image))
            if len(batch) == self.batch_size or (position == len(images) - 1 and batch):
                outputs.append(self.model(torch.stack(batch).to(self.device)).float().cpu())
                batch = []
        embeds = torch.cat(outputs).numpy() if outputs else np.zeros((0, self.dim), np.float32)
        return embeds, usable


def build_alignment_data(
    captions: Sequence[str],
    caption_images: Sequence[str],
    images: Mapping[str, Any],
    text_embedder: TextEmbedder,
    image_embedder: ImageEmbedder,
    caption_ids: Sequence[str] | None = None,
    source: str = "captions",
) -> AlignmentData:
    """Embed captions and the images they describe into an [`AlignmentData`] (train layout).

    Args:
        captions: caption texts.
        caption_images: for every caption, the name of its image.
        images: image name → anything `load_image` reads (path, bytes, PIL image, `{"bytes", "path"}`).
        caption_ids: ids of the captions (default: their position).

    Empty captions, and captions whose image is missing or unusable, are skipped, counted and logged.
    """
    if len(captions) != len(caption_images):
        raise ValueError(f"{len(captions)} captions but {len(caption_images)} image names")
    caption_ids = [str(i) for i in range(len(captions))] if caption_ids is None else [str(i) for i in caption_ids]
    names = list(dict.fromkeys(caption_images))
    image_report = ImageReport(f"{source} images")
    image_values = [images.get(name) for name in names]
    for name, value in zip(names, image_values):
        if value is None:
            image_report.add(f"{IMAGE_NOT_FOUND} ({name})", name)
    present = [i for i, value in enumerate(image_values) if value is not None]
    embeds, usable_present = image_embedder([image_values[i] for i in present], [names[i] for i in present], image_report)
    usable = np.zeros(len(names), dtype=bool)
    usable[np.asarray(present, dtype=np.int64)] = usable_present
    logger.info(image_report.summary())

    row_of_image = np.full(len(names), -1)
    row_of_image[usable] = np.arange(int(usable.sum()))
    position_of_name = {name: i for i, name in enumerate(names)}
    caption_report = SkipReport(f"{source} captions")
    kept = []
    for i, (text, name) in enumerate(zip(captions, caption_images)):
        if not isinstance(text, str) or not text.strip():
            caption_report.add(EMPTY_CAPTION, caption_ids[i])
        elif row_of_image[position_of_name[name]] < 0:
            caption_report.add(f"{IMAGE_UNUSABLE} ({name})", caption_ids[i])
        else:
            kept.append(i)
    caption_report.kept = len(kept)
    logger.info(caption_report.summary())
    caption_report.check_not_empty()
    texts = [captions[i] for i in kept]
    return AlignmentData(
        caption_text=np.asarray(texts, dtype=str),
        caption_embeds=text_embedder(texts),
        caption_ids=np.asarray([caption_ids[i] for i in kept], dtype=str),
        image_index=row_of_image[[position_of_name[caption_images[i]] for i in kept]],
        image_names=np.asarray(names, dtype=str)[usable],
        image_embeds=embeds,
        source=source,
    )


def read_captions_file(path: str | os.PathLike) -> tuple[list[str], list[str]]:
    """Read a Flickr8k-style `captions.txt` (CSV with a header `image,caption`): captions and image names."""
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if not {"image", "caption"} <= set(reader.fieldnames or ()):
            raise ValueError(f"{path}: expected CSV columns `image` and `caption`, got {reader.fieldnames}")
        rows = [(row["image"], row["caption"]) for row in reader]
    return [caption for _, caption in rows], [image for image, _ in rows]


def caption_files_data(captions_file, images_dir, text_embedder, image_embedder) -> AlignmentData:
    """[`build_alignment_data`] of a `captions.txt` and the folder of its images."""
    captions, caption_images = read_captions_file(captions_file)
    images = {name: os.path.join(images_dir, name) for name in dict.fromkeys(caption_images)}
    return build_alignment_data(captions, caption_images, images, text_embedder, image_embedder,
                                source=os.fspath(captions_file))


def catalog_data(size: int, text_embedder, image_embedder, seed: int = 0, image_size: int = 224) -> AlignmentData:
    """[`build_alignment_data`] of the synthetic catalog: each item's description `text` and its rendered image."""
    images = catalog_images(size, seed=seed, image_size=image_size)
    texts = generate_catalog(size, seed=seed, with_images=False)["text"]
    return build_alignment_data(texts, list(images), images, text_embedder, image_embedder,
                                caption_ids=list(images), source="catalog")


def catalog_images(size: int, seed: int = 0, image_size: int = 224) -> dict[str, Any]:
    """Catalog item id → rendered image (`{"bytes", "path"}`), e.g. for the retrieval figure."""
    catalog = generate_catalog(size, seed=seed, image_size=image_size).cast_column("image", DatasetImage(decode=False))
    return dict(zip(catalog["id"], catalog["image"]))


def cached_catalog_data(size: int, seed: int = 0, cache_dir: str | os.PathLike | None = None) -> AlignmentData:
    """[`catalog_data`] with the offline encoders, embedded once and kept in `cache_dir`
    (default `$HF_HOME/hf_pricer/aligner`)."""
    from huggingface_hub import constants

    cache_dir = cache_dir or os.path.join(constants.HF_HOME, "hf_pricer", "aligner")
    path = os.path.join(cache_dir, f"catalog-{size}-seed{seed}-minilm-{DEFAULT_IMAGE_MODEL}.npz")
    if os.path.isfile(path):
        return load_alignment_npz(path, require_images=True)
    data = catalog_data(size, TextEmbedder(), ImageEmbedder(), seed=seed)
    os.makedirs(cache_dir, exist_ok=True)
    partial = f"{path}.{os.getpid()}.partial.npz"
    data.save(partial)
    os.replace(partial, path)  # atomic: concurrent processes never read a half-written file
    logger.info("cached the embedded catalog in %s", path)
    return data
