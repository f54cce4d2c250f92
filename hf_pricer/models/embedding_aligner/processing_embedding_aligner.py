"""Collator of the embedding aligner: examples of `hf_pricer.data.AlignmentData.to_dataset()` → model batch."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch


def _stack(arrays) -> torch.Tensor:
    return torch.as_tensor(np.stack(list(arrays)), dtype=torch.float32)


class EmbeddingAlignerCollator:
    """Stacks examples of `AlignmentData.to_dataset()` into `text_embeds` and, when they have `image_embeds`,
    `labels` (float32 tensors)."""

    def __call__(self, examples: list[Mapping]) -> dict[str, torch.Tensor]:
        missing = [position for position, example in enumerate(examples) if "text_embeds" not in example]
        if missing:
            columns = sorted(examples[missing[0]])
            raise KeyError(f"row {missing[0]} of the batch has no `text_embeds` column (it has {columns})")
        batch = {"text_embeds": _stack(example["text_embeds"] for example in examples)}
        if all("image_embeds" in example for example in examples):
            batch["labels"] = _stack(example["image_embeds"] for example in examples)
        return batch


__all__ = ["EmbeddingAlignerCollator"]
