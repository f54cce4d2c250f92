"""Checkpoints saved by hf_pricer 0.1.0, before model folders, class names and `model_type`s were renamed, still
load through the Auto classes and give the outputs they gave then (`tests/fixtures/legacy_checkpoints`)."""

import json
import os
import warnings

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file
from transformers import AutoConfig, AutoModel, AutoModelForImageClassification, AutoModelForImageTextToText

import hf_pricer
from hf_pricer.image_processing_utils import vit_image_processor

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "legacy_checkpoints")


def fixture(name):
    return os.path.join(FIXTURES, name)


def expected(name):
    return load_file(os.path.join(fixture(name), "expected_outputs.safetensors"))


# transformers 5 saves the ViT layers under their v4 names (`vit.encoder.layer.N...`) and maps them back when
# loading (`vit.layers.N...`).
VIT_LEGACY_KEYS = (".vit.encoder.layer.",)


def saved_weights_match(model, name):
    """Every tensor of the checkpoint file is in the loaded model, unchanged (ViT layers, which transformers
    renames on load, are checked through the outputs)."""
    saved = load_file(os.path.join(fixture(name), "model.safetensors"))
    state = model.state_dict()
    renamed = [key for key in saved if key not in state]
    assert all(any(part in key for part in VIT_LEGACY_KEYS) for key in renamed), renamed
    for key in saved.keys() - set(renamed):
        torch.testing.assert_close(state[key].to(saved[key].dtype), saved[key], rtol=0, atol=0, msg=key)


def image():
    return Image.fromarray((np.arange(16 * 16 * 3) % 251).astype(np.uint8).reshape(16, 16, 3))


def old_model_type(name):
    with open(os.path.join(fixture(name), "config.json")) as handle:
        return json.load(handle)["model_type"]


@pytest.mark.parametrize(
    "name, new_model_type",
    [("residual", "hf_pricer_residual_regressor"), ("aligner", "hf_pricer_embedding_aligner")],
)
def test_renamed_model_types_load_and_save_under_the_new_name(name, new_model_type, tmp_path, caplog):
    assert old_model_type(name) != new_model_type
    with caplog.at_level("WARNING"):
        model = AutoModel.from_pretrained(fixture(name))
    assert model.config.model_type == new_model_type
    assert "You are using a model of type" not in caplog.text
    model.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["model_type"] == new_model_type
    assert type(AutoConfig.from_pretrained(tmp_path)) is type(model.config)


def test_residual_regressor():
    model = AutoModel.from_pretrained(fixture("residual")).eval()
    processor = hf_pricer.ResidualRegressorProcessor.from_pretrained(fixture("residual"))
    assert type(model) is hf_pricer.ResidualRegressorForPriceRegression
    saved_weights_match(model, "residual")
    inputs = processor(["steel kettle 1.7 l", "oak frame"])
    with torch.no_grad():
        predictions = model(**{key: value.to(model.dtype) for key, value in inputs.items()}).predictions
    torch.testing.assert_close(predictions, expected("residual")["output"])


def test_dual_encoder_with_its_processor():
    model = AutoModel.from_pretrained(fixture("dual_encoder")).eval()
    processor = hf_pricer.DualEncoderProcessor.from_pretrained(fixture("dual_encoder"))
    assert type(model) is hf_pricer.DualEncoderForPriceRegression
    saved_weights_match(model, "dual_encoder")
    inputs = processor(images=[image(), None], text=["steel kettle with lid", "oak frame"])
    inputs["pixel_values"] = inputs["pixel_values"].to(model.dtype)
    with torch.no_grad():
        torch.testing.assert_close(model(**inputs).predictions, expected("dual_encoder")["output"])


def test_embedding_aligner():
    model = AutoModel.from_pretrained(fixture("aligner")).eval()
    assert type(model) is hf_pricer.EmbeddingAlignerModel
    saved_weights_match(model, "aligner")
    text_embeds = torch.randn(3, 8, generator=torch.Generator().manual_seed(1)).to(model.dtype)
    with torch.no_grad():
        torch.testing.assert_close(model(text_embeds).predictions.float(), expected("aligner")["output"])


@pytest.mark.parametrize(
    "name, auto_class, model_class",
    [
        ("embedding_classifier", AutoModelForImageClassification, "EmbeddingClassifierForImageClassification"),
        ("dual_embedding", AutoModel, "DualEmbeddingForRegression"),
    ],
)
def test_embedding_classifier_and_dual_embedding(name, auto_class, model_class):
    model = auto_class.from_pretrained(fixture(name)).eval()
    assert type(model) is getattr(hf_pricer, model_class)
    saved_weights_match(model, name)
    pixels = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(2)).to(model.dtype)
    with torch.no_grad():
        outputs = model(pixels)
    output = outputs.logits if name == "embedding_classifier" else outputs.predictions
    torch.testing.assert_close(output.float(), expected(name)["output"])
    assert vit_image_processor(16).to_dict()["size"] == {"height": 16, "width": 16}


def test_resformer_generates_what_it_generated():
    model = AutoModelForImageTextToText.from_pretrained(fixture("resformer")).eval()
    processor = hf_pricer.ResformerProcessor.from_pretrained(fixture("resformer"))
    assert type(model) is hf_pricer.ResformerForConditionalGeneration
    saved_weights_match(model, "resformer")
    inputs = processor(images=[image()], entity_names=["item_weight"], text=["2.5 kilogram"])
    pixels = inputs["pixel_values"].to(model.dtype)
    reference = expected("resformer")
    with torch.no_grad():
        logits = model(pixel_values=pixels, entity_ids=inputs["entity_ids"],
                       decoder_input_ids=inputs["decoder_input_ids"]).logits
        generated = model.generate(pixel_values=pixels, entity_ids=inputs["entity_ids"], max_new_tokens=6,
                                   do_sample=False)
    torch.testing.assert_close(logits.float(), reference["output"])
    assert torch.equal(generated, reference["generated"])


def test_old_class_names_still_work_with_a_warning():
    with pytest.warns(FutureWarning, match="renamed `ResidualRegressorForPriceRegression`"):
        old = hf_pricer.ResidualRegressorForPrice
    assert old is hf_pricer.ResidualRegressorForPriceRegression
    with pytest.warns(FutureWarning, match="renamed `EntityValueMetrics`"):
        assert hf_pricer.ResformerMetrics is hf_pricer.EntityValueMetrics
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert hf_pricer.ResidualRegressorForPriceRegression is not None
