import numpy as np
import pytest
import torch
from PIL import Image
from transformers import AutoProcessor

from hf_pricer import (
    ResformerCollator,
    ResformerImageProcessor,
    ResformerProcessor,
    ResformerTokenizer,
)
from hf_pricer.data.entities import EntityValueError


def tiny_processor(size=32):
    return ResformerProcessor(ResformerImageProcessor(size=size), ResformerTokenizer())


def images(n):
    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 255, (40, 50, 3), dtype=np.uint8)) for _ in range(n)]


def test_processor_builds_model_inputs_and_canonical_labels():
    proc = tiny_processor()
    batch = proc(images(3), entity_names=["item_weight", "voltage", "width"], text=["500 gms", "", "12.5 cm"])
    assert batch["pixel_values"].shape == (3, 3, 32, 32)
    assert batch["entity_ids"].tolist() == [proc.tokenizer.entity_id(n) for n in ("item_weight", "voltage", "width")]
    labels = batch["labels"]
    assert proc.decode_predictions(labels) == ["500.0 gram", "", "12.5 centimetre"]  # messy labels normalised
    assert (labels[1, 1:] == -100).all() and labels[1, 0] == proc.tokenizer.eos_token_id
    decoder_inputs = batch["decoder_input_ids"]
    assert (decoder_inputs[:, 0] == proc.tokenizer.bos_token_id).all()
    assert torch.equal(decoder_inputs[0, 1:], labels[0, :-1])
    assert (decoder_inputs != -100).all()


def test_processor_rejects_bad_rows_by_name():
    proc = tiny_processor()
    with pytest.raises(EntityValueError, match="parsecs"):
        proc(images(1), entity_names=["width"], text=["12 parsecs"])
    with pytest.raises(EntityValueError, match="gram"):
        proc(images(1), entity_names=["voltage"], text=["12 gram"])  # not a voltage unit
    with pytest.raises(ValueError, match="unknown entity_name 'colour'"):
        proc(images(1), entity_names=["colour"])
    with pytest.raises(ValueError, match="2 images but 1 entity names"):
        proc(images(2), entity_names=["width"])


def test_missing_image_is_blank_and_counted():
    proc = tiny_processor()
    batch = proc([None, images(1)[0]], entity_names=["width", "width"])
    assert torch.all(batch["pixel_values"][0] == 0) and batch["pixel_values"][1].abs().sum() > 0
    assert proc.image_report.skipped == 1


def test_collator_train_and_eval_modes():
    proc = tiny_processor()
    rows = [{"image": img, "entity_name": "wattage", "entity_value": "1500.0 watt", "id": str(i)} for i, img in enumerate(images(2))]
    collator = ResformerCollator(proc)
    eval_collator = collator.for_eval()
    assert collator.train and not eval_collator.train and eval_collator.processor is proc
    batch = eval_collator(rows)
    assert set(batch) == {"pixel_values", "entity_ids", "labels", "decoder_input_ids"}
    # eval batches are deterministic, training batches augmented
    torch.testing.assert_close(eval_collator(rows)["pixel_values"], batch["pixel_values"])
    assert not torch.equal(collator(rows)["pixel_values"], batch["pixel_values"])
    unlabeled = eval_collator([{k: v for k, v in row.items() if k != "entity_value"} for row in rows])
    assert set(unlabeled) == {"pixel_values", "entity_ids"}


def test_save_and_load_processor(tmp_path):
    import hf_pricer  # noqa: F401  (Auto registration)

    proc = tiny_processor(size=48)
    proc.save_pretrained(tmp_path)
    for loaded in (ResformerProcessor.from_pretrained(tmp_path), AutoProcessor.from_pretrained(tmp_path)):
        assert type(loaded) is ResformerProcessor
        assert loaded.image_processor.to_dict() == proc.image_processor.to_dict()
        assert loaded.tokenizer.get_vocab() == proc.tokenizer.get_vocab()
        a = loaded(images(2), entity_names=["item_volume", "depth"], text=["2.0 cup", "1.5 foot"])
        b = proc(images(2), entity_names=["item_volume", "depth"], text=["2.0 cup", "1.5 foot"])
        for key in b:
            torch.testing.assert_close(a[key], b[key])
