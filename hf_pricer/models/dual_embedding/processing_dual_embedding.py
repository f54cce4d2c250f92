"""Collator of the dual-embedding regressor: validated records (see `hf_pricer.data.records`) → model batches.

Images go through an 🤗 image processor (e.g. `hf_pricer.image_processing_utils.vit_image_processor`), which
`save_pretrained` stores next to each checkpoint, so `AutoImageProcessor.from_pretrained` reloads it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from hf_pricer.image_processing_utils import RecordImageCollator
from hf_pricer.processing_utils import add_labels


class DualEmbeddingCollator(RecordImageCollator):
    """Examples (records) → `pixel_values` and `labels` `(batch_size, num_targets)`, the `target_names` fields
    (stage 2); a missing or non-finite target is a `ValueError` naming the record
    ([`hf_pricer.processing_utils.collate_labels`])."""

    def __init__(self, image_processor, target_names: Sequence[str], **kwargs):
        super().__init__(image_processor, **kwargs)
        self.target_names = list(target_names)

    def __call__(self, examples: Sequence[Mapping]) -> dict[str, torch.Tensor]:
        return add_labels({"pixel_values": self.pixel_values(examples)}, examples, self.target_names)


__all__ = ["DualEmbeddingCollator"]
