"""The product-image pipeline every image-reading model subclasses (`hf_pricer.image_processing_utils`)."""

import pytest
import torch
from PIL import Image

from hf_pricer.data import generate_catalog
from hf_pricer.image_processing_utils import ProductImageProcessor

MEAN = torch.tensor([0.485, 0.456, 0.406])
STD = torch.tensor([0.229, 0.224, 0.225])


def test_eval_resizes_and_normalises_with_imagenet_statistics():
    colour = (255, 128, 0)
    out = ProductImageProcessor(size={"height": 24, "width": 40})([Image.new("RGB", (7, 90), colour)] * 2)
    assert out["pixel_values"].shape == (2, 3, 24, 40) and out["has_image"].tolist() == [True, True]
    expected = (torch.tensor(colour) / 255 - MEAN) / STD
    torch.testing.assert_close(out["pixel_values"], expected.view(1, 3, 1, 1).expand(2, 3, 24, 40))


def test_eval_is_deterministic_and_train_augments():
    image_processor = ProductImageProcessor(size=32)
    images = generate_catalog(8, image_size=64)["image"][:4]
    torch.testing.assert_close(
        image_processor(images)["pixel_values"], image_processor(images)["pixel_values"]
    )
    first, second = (image_processor(images, train=True)["pixel_values"] for _ in range(2))
    assert first.shape == (4, 3, 32, 32) and not torch.equal(first, second)
    state = torch.get_rng_state()
    seeded = image_processor(images, train=True, seed=3)["pixel_values"]
    torch.testing.assert_close(seeded, image_processor(images, train=True, seed=3)["pixel_values"])
    assert torch.equal(state, torch.get_rng_state())  # a seed does not touch the global RNG
    still = ProductImageProcessor(size=32, flip_probability=0, rotation_degrees=0, color_jitter=0)
    assert still.color_jitter == {}
    torch.testing.assert_close(
        still(images, train=True)["pixel_values"], image_processor(images)["pixel_values"]
    )


def test_colour_jitter_is_configurable_and_checked():
    assert ProductImageProcessor(color_jitter={"hue": 0.1}).color_jitter == {"hue": 0.1}
    with pytest.raises(ValueError, match="color_jitter"):
        ProductImageProcessor(color_jitter={"sharpness": 0.1})


def test_unusable_images_are_zero_flagged_and_counted(tmp_path, caplog):
    image_processor = ProductImageProcessor(size=16, max_pixels=10_000)
    images = [
        Image.new("RGB", (8, 8), "red"),
        None,
        tmp_path / "gone.png",
        b"junk",
        Image.new("RGB", (200, 200)),
    ]
    with caplog.at_level("WARNING"):
        out = image_processor(images, train=True, ids=["a", "b", "c", "d", "e"])
    assert out["has_image"].tolist() == [True, False, False, False, False]
    assert out["pixel_values"][0].abs().sum() > 0 and out["pixel_values"][1:].abs().sum() == 0
    report = image_processor.image_report
    assert report.kept == 1
    assert report.counts == {"no image": 1, "image not found": 1, "unreadable image": 1, "image too large": 1}
    assert "item e: image too large (200×200 pixels)" in caplog.text
