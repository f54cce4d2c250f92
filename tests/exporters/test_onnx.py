"""ONNX export: the graph matches the eager model, int8 keeps the accuracy, and the exported folder loads with
`AutoModel` and serves the `price-regression` pipeline through ONNX Runtime."""

import math
import os

import pytest
import torch
from PIL import Image
from transformers import AutoModel, pipeline

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

import hf_pricer  # noqa: E402
from hf_pricer.commands import main as hf_pricer_main  # noqa: E402
from hf_pricer.exporters import export_onnx  # noqa: E402
from hf_pricer.models.onnx_runtime import (  # noqa: E402
    OnnxRuntimeConfig,
    OnnxRuntimeForPriceRegression,
    OnnxRuntimeModel,
)
from tests.models.dual_encoder.test_modeling_dual_encoder import tiny_model as tiny_dual_encoder  # noqa: E402
from tests.models.dual_encoder.test_processing_dual_encoder import letter_tokenizer  # noqa: E402
from tests.models.embedding_aligner.test_modeling_embedding_aligner import tiny_model as tiny_aligner  # noqa: E402
from tests.models.residual_regressor.test_modeling_residual_regressor import tiny_model as tiny_residual  # noqa: E402

ITEMS = [
    {"title": "Steel kettle", "text": "1.7 l, 2200 W, keep-warm plate", "image": Image.new("RGB", (40, 40), (20, 200, 30))},
    {"title": "Oak frame", "text": "A4, hand finished"},  # no image
    {"title": "", "text": "Budget plastic storage box, 20 l, stackable with a lid and two handles",
     "image": Image.new("RGB", (40, 40), (200, 0, 30))},
    {"title": "Gold jar", "text": "Premium face cream"},
    {"title": "Cordless drill", "text": "18 V, two batteries, case", "image": Image.new("RGB", (40, 40), (90, 90, 90))},
]


def assert_relatively_close(actual, expected, rtol=1e-4):
    difference = (actual.double() - expected.double()).abs().max() / expected.double().abs().max()
    assert difference <= rtol, f"relative difference {difference:.2e}"


@pytest.fixture(scope="module")
def residual(tmp_path_factory):
    """A tiny residual regressor saved with its processor, and its fp32 export."""
    folder = tmp_path_factory.mktemp("residual")
    model = tiny_residual()
    processor = hf_pricer.ResidualRegressorProcessor(n_features=model.config.num_features)
    model.save_pretrained(folder / "model")
    processor.save_pretrained(folder / "model")
    report = export_onnx(str(folder / "model"), folder / "onnx")
    return model, processor, folder, report


def test_residual_export_matches_the_model_at_any_batch_size(residual):
    model, processor, folder, report = residual
    assert report.input_names == ["input_features"] and report.max_relative_difference <= 1e-4
    exported = AutoModel.from_pretrained(folder / "onnx")
    assert isinstance(exported, OnnxRuntimeForPriceRegression)
    for items in (ITEMS, ITEMS[:1]):  # traced with 2 items: batch size is dynamic
        batch = processor.process_items(items)
        with torch.no_grad():
            expected = model(**batch)
        actual = exported(**batch)
        assert actual.predictions.shape == (len(items),)
        assert_relatively_close(actual.predictions, expected.predictions)
        assert_relatively_close(actual.log_price, expected.log_price)


def test_exported_folder_keeps_config_and_processor(residual):
    model, _, folder, _ = residual
    config = OnnxRuntimeConfig.from_pretrained(folder / "onnx")
    assert config.task == "price-regression" and config.quantization is None
    source = config.source()
    assert type(source) is type(model.config)
    assert source.hidden_size == model.config.hidden_size and source.log_price_mean == model.config.log_price_mean
    assert os.path.isfile(folder / "onnx" / "preprocessor_config.json")


def test_pipeline_serves_an_exported_folder(residual):
    model, processor, folder, _ = residual
    served = pipeline("price-regression", model=str(folder / "onnx"))
    assert isinstance(served.model, OnnxRuntimeForPriceRegression)
    eager = pipeline("price-regression", model=model, processor=processor)
    for onnx_result, eager_result in zip(served(ITEMS, batch_size=2), eager(ITEMS, batch_size=2)):
        assert onnx_result["price"] == pytest.approx(eager_result["price"], rel=1e-4)
    with pytest.raises(ValueError, match="input 0: `text` is missing"):
        served({"title": " "})


def test_exported_model_names_missing_inputs(residual):
    _, _, folder, _ = residual
    exported = AutoModel.from_pretrained(folder / "onnx")
    with pytest.raises(ValueError, match=r"takes \['input_features'\]; missing \['input_features'\]"):
        exported(feature_ids=torch.zeros(1, 3, dtype=torch.long))


def test_int8_export_quantizes_the_weights(residual, tmp_path):
    import onnx

    model, processor, folder, _ = residual
    report = export_onnx(str(folder / "model"), tmp_path / "int8", quantize="int8")
    assert report.quantization == "int8" == OnnxRuntimeConfig.from_pretrained(tmp_path / "int8").quantization
    graph = onnx.load(str(tmp_path / "int8" / "model.onnx")).graph
    int8_weights = [init.name for init in graph.initializer if init.data_type == onnx.TensorProto.INT8]
    assert len(int8_weights) >= model.config.num_layers  # every linear layer's weight
    batch = processor.process_items(ITEMS)
    with torch.no_grad():
        expected = model(**batch).predictions
    assert_relatively_close(AutoModel.from_pretrained(tmp_path / "int8")(**batch).predictions, expected, rtol=0.05)


def test_export_command(residual, tmp_path, capsys):
    _, _, folder, _ = residual
    report = hf_pricer_main(["export", str(folder / "model"), "--format", "onnx", "--output", str(tmp_path / "cli")])
    assert report == 0
    assert "wrote" in capsys.readouterr().out
    assert isinstance(AutoModel.from_pretrained(tmp_path / "cli"), OnnxRuntimeForPriceRegression)
    with pytest.raises(SystemExit):
        hf_pricer_main(["export", str(folder / "model"), "--format", "tflite", "--output", str(tmp_path / "x")])
    with pytest.raises(SystemExit, match="1"):
        hf_pricer_main(["export", str(tmp_path / "missing"), "--output", str(tmp_path / "y")])


def test_aligner_export_matches_the_model(tmp_path):
    model = tiny_aligner()
    model.save_pretrained(tmp_path / "aligner")
    export_onnx(str(tmp_path / "aligner"), tmp_path / "onnx")
    exported = AutoModel.from_pretrained(tmp_path / "onnx")
    assert isinstance(exported, OnnxRuntimeModel) and exported.config.task is None
    text_embeds = torch.randn(7, model.config.in_dim)
    with torch.no_grad():
        expected = model(text_embeds=text_embeds).predictions
    assert_relatively_close(exported(text_embeds=text_embeds).predictions, expected)


def test_models_without_an_export_are_refused(tmp_path):
    from tests.models.embedding_classifier.test_modeling_embedding_classifier import tiny_classifier

    with pytest.raises(ValueError, match="cannot be exported to ONNX"):
        export_onnx(tiny_classifier(), tmp_path / "x")


def dual_processor():
    return hf_pricer.DualEncoderProcessor(hf_pricer.DualEncoderImageProcessor(size=64), letter_tokenizer(), max_length=30)


@pytest.mark.slow
@pytest.mark.parametrize(("cross_attention", "text_attends_image"), [("tokens", True), ("pooled", False)])
def test_dual_encoder_export_matches_the_model_with_missing_modalities(tmp_path, cross_attention, text_attends_image):
    model = tiny_dual_encoder(cross_attention=cross_attention, text_attends_image=text_attends_image,
                              text_config=letter_tokenizer_text_config())
    processor = dual_processor()
    export_onnx(model, tmp_path / "onnx", processor=processor)
    exported = AutoModel.from_pretrained(tmp_path / "onnx")
    assert exported.config.input_names == ["input_ids", "token_type_ids", "attention_mask", "has_text",
                                           "pixel_values", "has_image"]
    items = [*ITEMS, {"title": "", "text": "", "image": Image.new("RGB", (40, 40), (0, 0, 255))}]  # image only
    batch = processor.process_items(items)
    assert not batch["has_image"].all() and not batch["has_text"].all()
    with torch.no_grad():
        expected = model(**batch)
    actual = exported(**batch)
    assert_relatively_close(actual.predictions, expected.predictions)
    assert_relatively_close(actual.log_price, expected.log_price)
    # the graph reads the flags: a row marked without image takes the placeholder whatever its pixels
    flipped = {**batch, "has_image": torch.zeros_like(batch["has_image"])}
    with torch.no_grad():
        assert_relatively_close(exported(**flipped).predictions, model(**flipped).predictions)
    served = pipeline("price-regression", model=str(tmp_path / "onnx"))
    assert [result["price"] for result in served(ITEMS[:3])] == pytest.approx(expected.predictions[:3].tolist(),
                                                                              rel=1e-4)


def letter_tokenizer_text_config():
    from tests.models.dual_encoder.test_modeling_dual_encoder import tiny_text_config

    return tiny_text_config(vocab_size=letter_tokenizer().vocab_size, max_position_embeddings=64)
