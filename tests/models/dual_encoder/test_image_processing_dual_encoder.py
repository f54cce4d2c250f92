import json

import torch
from PIL import Image

from hf_pricer.models.dual_encoder import DualEncoderImageProcessor


def test_defaults_follow_the_design():
    image_processor = DualEncoderImageProcessor()
    assert image_processor.size == {"height": 380, "width": 380}
    assert image_processor.image_mean == [0.485, 0.456, 0.406]
    assert image_processor.image_std == [0.229, 0.224, 0.225]
    assert (image_processor.flip_probability, image_processor.rotation_degrees) == (0.5, 15.0)
    assert image_processor.color_jitter == {"brightness": 0.2, "contrast": 0.2, "saturation": 0.2}
    out = image_processor(Image.new("RGB", (50, 30)), train=True)
    assert out["pixel_values"].shape == (1, 3, 380, 380) and out["pixel_values"].dtype == torch.float32


def test_image_processor_save_and_load(tmp_path):
    image_processor = DualEncoderImageProcessor(size=20, rotation_degrees=5, color_jitter={"brightness": 0.4})
    image_processor.image_report.add("no image")
    image_processor.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "preprocessor_config.json").read_text())
    assert "image_report" not in saved and saved["image_processor_type"] == "DualEncoderImageProcessor"
    loaded = DualEncoderImageProcessor.from_pretrained(tmp_path)
    assert loaded.to_dict() == image_processor.to_dict() and loaded.image_report.missing == 0
    image = Image.new("RGB", (30, 10), (1, 2, 3))
    torch.testing.assert_close(loaded(image, train=True, seed=0), image_processor(image, train=True, seed=0))
