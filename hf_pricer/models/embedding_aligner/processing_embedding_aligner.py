"""Collator of the embedding aligner: rows of `hf_pricer.data.AlignmentData.to_dataset()` → model batches."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch


def _stack(arrays) -> torch.Tensor:
    return torch.as_tensor(np.stack(list(arrays)), dtype=torch.float32)


class EmbeddingAlignerCollator:
    """Stacks rows of `AlignmentData.to_dataset()` into `text_embeds` and, when rows have `image_embeds`,
    `labels` (float32 tensors)."""

    def __call__(self, rows: list[Mapping]) -> dict[str, torch.Tensor]:
        missing = [position for position, row in enumerate(rows) if "text_embeds" not in row]
        if missing:
            raise KeyError(f"row {missing[0]} of the batch has no `text_embeds` column (it has {sorted(rows[missing[0]])})")
        batch = {"text_embeds": torch.as_tensor(np.stack([row["text_embeds"] for row in rows]), dtype=torch.float32)}
        if all("image_embeds" in row for row in rows):
            batch["labels"] = torch.as_tensor(np.stack([row["image_embeds"] for row in rows]), dtype=torch.float32)
        return batch


__all__ = ["EmbeddingAlignerCollator"]
