import torch

from hf_pricer import DualEmbeddingCollator
from hf_pricer.data.records import load_records
from hf_pricer.image_processing_utils import vit_image_processor
from tests.data.test_records import TARGETS, good_record, write_image_folder


def test_collator_builds_pixels_and_target_labels(tmp_path):
    records, _ = load_records([good_record(), good_record(model="B2", length=12.0)], TARGETS,
                              base_dir=write_image_folder(tmp_path))
    batch = DualEmbeddingCollator(vit_image_processor(16), TARGETS)(list(records))
    assert batch["pixel_values"].shape == (2, 3, 16, 16)
    torch.testing.assert_close(batch["labels"], torch.tensor([[10.5, 4.0], [12.0, 4.0]]))
