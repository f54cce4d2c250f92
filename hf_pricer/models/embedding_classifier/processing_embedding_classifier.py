"""Collator of the embedding classifier: validated records (see `hf_pricer.data.records`) → model batches."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from hf_pricer.image_processing_utils import RecordImageCollator


class EmbeddingClassifierCollator(RecordImageCollator):
    """Examples (records) → `pixel_values` and `labels`, the class ids of `label_field`.

    Args:
        image_processor: e.g. `hf_pricer.image_processing_utils.vit_image_processor(image_size)`.
        label_field (`str`): the record field classified, `"company"` or `"model"`.
        label2id (`Mapping[str, int]`): the classifier's classes (`config.label2id`).
    """

    def __init__(self, image_processor, label_field: str, label2id: Mapping[str, int], **kwargs):
        super().__init__(image_processor, **kwargs)
        self.label_field = label_field
        self.label2id = dict(label2id)

    def __call__(self, examples: Sequence[Mapping]) -> dict[str, torch.Tensor]:
        labels = []
        for example in examples:
            value = example[self.label_field]
            if value not in self.label2id:
                raise ValueError(
                    f"record {example.get('id')!r}: {self.label_field}={value!r} is not one of the "
                    f"classifier's {len(self.label2id)} labels; filter the records with `keep_known_labels`"
                )
            labels.append(self.label2id[value])
        return {"pixel_values": self.pixel_values(examples), "labels": torch.tensor(labels, dtype=torch.long)}


__all__ = ["EmbeddingClassifierCollator"]
