"""Collators of the dual-embedding models: validated records (see `data_dual_embedding`) → model batches.

Images go through a `ViTImageProcessor` (resize, rescale, normalise with the ViT statistics), which is what
`save_pretrained` stores next to each checkpoint, so `AutoImageProcessor.from_pretrained` reloads it.
Images are decoded with [`hf_pricer.data.images.load_image`], which checks their size before decoding.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from transformers import ViTImageProcessor

from hf_pricer.data.images import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS, load_image


def vit_image_processor(image_size: int) -> ViTImageProcessor:
    """The image processor of a ViT taking `image_size` × `image_size` images (mean and std 0.5, as ViT-Base)."""
    return ViTImageProcessor(size={"height": image_size, "width": image_size})


class _RecordCollator:
    def __init__(self, image_processor, max_pixels: int = DEFAULT_MAX_PIXELS, max_bytes: int = DEFAULT_MAX_BYTES):
        self.image_processor = image_processor
        self.max_pixels = max_pixels
        self.max_bytes = max_bytes

    def pixel_values(self, items: Sequence[Mapping]) -> torch.Tensor:
        images = []
        for item in items:
            image, reason = load_image(item["image"], max_pixels=self.max_pixels, max_bytes=self.max_bytes)
            if image is None:
                # Records are validated when loaded, so an image failing here changed on disk since.
                raise ValueError(f"record {item.get('id')!r}: image {item['image']!r}: {reason}")
            images.append(image)
        return self.image_processor(images, return_tensors="pt")["pixel_values"]


class EmbeddingClassifierCollator(_RecordCollator):
    """Records → `pixel_values` and `labels`, the class ids of `label_field` (stage 1).

    Args:
        image_processor: e.g. [`vit_image_processor`]`(image_size)`.
        label_field (`str`): the record field classified, `"company"` or `"model"`.
        label2id (`Mapping[str, int]`): the classifier's classes (`config.label2id`).
    """

    def __init__(self, image_processor, label_field: str, label2id: Mapping[str, int], **kwargs):
        super().__init__(image_processor, **kwargs)
        self.label_field = label_field
        self.label2id = dict(label2id)

    def __call__(self, items: Sequence[Mapping]) -> dict[str, torch.Tensor]:
        labels = []
        for item in items:
            value = item[self.label_field]
            if value not in self.label2id:
                raise ValueError(
                    f"record {item.get('id')!r}: {self.label_field}={value!r} is not one of the classifier's "
                    f"{len(self.label2id)} labels; filter the records with `keep_known_labels`"
                )
            labels.append(self.label2id[value])
        return {"pixel_values": self.pixel_values(items), "labels": torch.tensor(labels, dtype=torch.long)}


class DualEmbeddingCollator(_RecordCollator):
    """Records → `pixel_values` and `labels` `(batch_size, num_targets)`, the `target_names` fields (stage 2)."""

    def __init__(self, image_processor, target_names: Sequence[str], **kwargs):
        super().__init__(image_processor, **kwargs)
        self.target_names = list(target_names)

    def __call__(self, items: Sequence[Mapping]) -> dict[str, torch.Tensor]:
        labels = [[float(item[name]) for name in self.target_names] for item in items]
        return {"pixel_values": self.pixel_values(items), "labels": torch.tensor(labels, dtype=torch.float32)}


__all__ = ["DualEmbeddingCollator", "EmbeddingClassifierCollator", "vit_image_processor"]
