import pytest

from hf_pricer import EmbeddingClassifierCollator
from hf_pricer.data.records import load_records
from hf_pricer.image_processing_utils import vit_image_processor
from tests.data.test_records import TARGETS, good_record, write_image_folder


def test_collator_builds_pixels_and_label_ids_and_names_unknown_labels(tmp_path):
    records = [good_record(), good_record(model="B2", length=12.0), good_record(company="Other")]
    records, _ = load_records(records, TARGETS, base_dir=write_image_folder(tmp_path))
    processor = vit_image_processor(16)
    batch = EmbeddingClassifierCollator(processor, "model", {"A1": 0, "B2": 1})(list(records)[:2])
    assert batch["pixel_values"].shape == (2, 3, 16, 16)
    assert batch["labels"].tolist() == [0, 1]
    with pytest.raises(ValueError, match="company='Other' is not one of the classifier's 1 labels"):
        EmbeddingClassifierCollator(processor, "company", {"Acme": 0})(list(records))
