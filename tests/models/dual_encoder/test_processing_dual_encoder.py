import io

import numpy as np
import pytest
import torch
from datasets import Image as ImageFeature
from PIL import Image
from transformers import BertTokenizer

from hf_pricer.data import generate_catalog
from hf_pricer.models.dual_encoder import DualEncoderCollator, DualEncoderImageProcessor, DualEncoderProcessor


def letter_tokenizer():
    """A tiny BERT tokenizer: words split into letters, so the token count follows the text length."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *letters, *(f"##{c}" for c in letters)]
    return BertTokenizer(vocab={token: i for i, token in enumerate(tokens)})


@pytest.fixture(scope="module")
def tokenizer():
    return letter_tokenizer()


@pytest.fixture(scope="module")
def catalog():
    return generate_catalog(8, image_size=64)


def _processor(tokenizer, **kwargs):
    return DualEncoderProcessor(DualEncoderImageProcessor(size=32, **kwargs), tokenizer, max_length=12)


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_text_flags_padding_and_truncation(tokenizer):
    processor = _processor(tokenizer)
    out = processor(text=["ab", None, "   ", "", "abcdefghijklmnop"])
    assert out["has_text"].tolist() == [True, False, False, False, True]
    assert out["has_text"].dtype == torch.bool
    assert out["input_ids"].shape == (5, 12)  # truncated to max_length
    assert (
        out["input_ids"][1, :2].tolist() == [2, 3] and out["attention_mask"][1].sum() == 2
    )  # "" → [CLS] [SEP]
    assert {"token_type_ids", "attention_mask"} <= set(out) and "pixel_values" not in out
    short = processor(text=["ab", "abc"])
    assert short["input_ids"].shape == (2, 5)  # padded to the longest: [CLS] a ##b ##c [SEP]
    assert short["attention_mask"].tolist() == [[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]]
    assert processor(text="abc")["input_ids"].shape == (1, 5)


def test_processor_checks_its_inputs(tokenizer):
    processor = _processor(tokenizer)
    with pytest.raises(ValueError, match="images"):
        processor()
    with pytest.raises(ValueError, match="2 images but 1 texts"):
        processor(images=[None, None], text=["x"])
    with pytest.raises(TypeError, match=r"text\[1\]"):
        processor(text=["x", 3])


def test_processor_images_and_text(tokenizer, catalog):
    processor = _processor(tokenizer)
    out = processor(images=[catalog[0]["image"], None], text=["abc", "d"], return_tensors="np")
    assert out["pixel_values"].shape == (2, 3, 32, 32) and isinstance(out["pixel_values"], np.ndarray)
    assert out["has_image"].tolist() == [True, False] and out["has_text"].tolist() == [True, True]
    assert set(processor.model_input_names) == set(out) and processor.image_report.missing == 1
    assert processor.item_text({"title": "Kettle", "text": "Boils", "category": "x"}) == "Kettle\nBoils"
    assert processor.item_text({"title": "Kettle", "text": None}) == "Kettle"


def test_processor_save_and_load(tmp_path, tokenizer, catalog):
    processor = DualEncoderProcessor(
        DualEncoderImageProcessor(size=24, rotation_degrees=30),
        tokenizer,
        max_length=7,
        text_fields=["title"],
    )
    processor.save_pretrained(tmp_path)
    loaded = DualEncoderProcessor.from_pretrained(tmp_path)
    assert (loaded.max_length, loaded.text_fields) == (7, ["title"])
    assert loaded.image_processor.to_dict() == processor.image_processor.to_dict()
    inputs = {"images": catalog["image"][:3], "text": ["abc", None, "abcdefghij"], "train": True, "seed": 1}
    expected, actual = processor(**inputs), loaded(**inputs)
    assert set(actual) == set(expected)
    for key in expected:
        torch.testing.assert_close(actual[key], expected[key])


def test_collator_with_decoded_and_undecoded_images(tokenizer, catalog):
    collator = DualEncoderCollator(_processor(tokenizer))
    batch = collator(list(catalog))
    assert (
        batch["pixel_values"].shape == (8, 3, 32, 32) and batch["has_image"].all() and batch["has_text"].all()
    )
    torch.testing.assert_close(batch["labels"], torch.tensor(catalog["price"], dtype=torch.float32))
    assert collator.train and not collator.for_eval().train and collator.train
    assert collator.for_eval().processor is collator.processor
    evaluate = collator.for_eval()
    decoded = evaluate(list(catalog))
    undecoded = evaluate(list(catalog.cast_column("image", ImageFeature(decode=False))))
    torch.testing.assert_close(decoded["pixel_values"], undecoded["pixel_values"])
    torch.testing.assert_close(decoded["pixel_values"], evaluate(list(catalog))["pixel_values"])
    assert not torch.equal(decoded["pixel_values"], batch["pixel_values"])


def test_collator_with_missing_images_text_and_prices(tokenizer):
    collator = DualEncoderCollator(_processor(tokenizer)).for_eval()
    items = [
        {"id": "a", "title": "ab", "text": "abcdef", "image": _png(Image.new("RGB", (5, 5))), "price": 3.0},
        {"id": "b", "title": "", "text": "", "image": None, "price": 4.5},
        {"id": "c", "title": "abc", "text": None, "image": {"bytes": b"junk", "path": None}, "price": 9},
    ]
    batch = collator(items)
    assert batch["has_image"].tolist() == [True, False, False] and batch["has_text"].tolist() == [
        True,
        False,
        True,
    ]
    assert batch["input_ids"].shape == (3, 10)  # the longest text, "ab\nabcdef": 8 tokens, [CLS] and [SEP]
    torch.testing.assert_close(batch["labels"], torch.tensor([3.0, 4.5, 9.0]))
    assert collator.processor.image_report.counts == {"no image": 1, "unreadable image": 1}
    assert "labels" not in collator([{"title": "x", "image": None}, {"title": "y", "image": None}])
    with pytest.raises(ValueError, match="example 'at position 0 of the batch': `price` is missing"):
        collator([{"title": "x", "image": None}, {"title": "y", "price": 2.0}])  # labels are never dropped


def test_collator_in_a_dataloader(tokenizer, catalog):
    loader = torch.utils.data.DataLoader(
        catalog, batch_size=3, collate_fn=DualEncoderCollator(_processor(tokenizer))
    )
    sizes = [batch["pixel_values"].shape[0] for batch in loader]
    assert sizes == [3, 3, 2]
