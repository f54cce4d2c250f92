import numpy as np
import pytest
import torch

from hf_pricer import EmbeddingAlignerCollator
from tests.data.test_alignment import tiny_alignment


def test_dataset_rows_and_collator():
    data = tiny_alignment(num_images=3, captions_per_image=2)
    rows = data.to_dataset()
    assert rows.column_names == ["id", "text", "text_embeds", "image_index", "image_name", "image_embeds"]
    batch = EmbeddingAlignerCollator()([rows[i] for i in range(4)])
    assert batch["text_embeds"].shape == (4, 8) and batch["labels"].shape == (4, 6)
    assert batch["labels"].dtype == torch.float32
    torch.testing.assert_close(batch["labels"][3], torch.from_numpy(data.image_embeds[1]))
    unlabelled = EmbeddingAlignerCollator()([{"text_embeds": np.zeros(8, np.float32)}])
    assert set(unlabelled) == {"text_embeds"}
    with pytest.raises(KeyError, match="row 0 of the batch has no `text_embeds`"):
        EmbeddingAlignerCollator()([{"text": "a"}])
