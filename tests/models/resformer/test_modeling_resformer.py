import numpy as np
import pytest
import torch
from huggingface_hub.errors import StrictDataclassClassValidationError
from PIL import Image
from transformers import (
    AutoImageProcessor,
    AutoModel,
    AutoModelForImageTextToText,
    AutoProcessor,
    AutoTokenizer,
)

from hf_pricer import (
    ResformerConfig,
    ResformerConstrainedLogitsProcessor,
    ResformerForConditionalGeneration,
    ResformerImageProcessor,
    ResformerProcessor,
    ResformerTokenizer,
)
from hf_pricer.data.entities import (
    ENTITY_UNIT_MAP,
    check_prediction,
    format_prediction,
    normalize_entity_value,
)
from tests.test_modeling_common import ModelTesterMixin, PipelineTesterMixin, train_on_one_batch
from tests.utils import write_images

from .test_processing_resformer import tiny_processor

TOKENIZER = ResformerTokenizer()
ENTITIES = ["voltage", "wattage", "item_volume", "width", "item_weight", "voltage"]


def tiny_config(**kwargs):
    sizes = dict(
        image_size=32, resnet_hidden_sizes=[8, 16], resnet_depths=[1, 1], resnet_strides=[1, 1],
        resnet_attention_stages=[1], resnet_attention_heads=2, patch_size=4, d_model=16, num_attention_heads=2,
        encoder_layers=1, decoder_layers=1, ffn_dim=32, dropout=0.0, max_target_positions=16, max_number_tokens=8,
    )
    return ResformerConfig(**{**sizes, **kwargs})


def tiny_model(seed=0, **kwargs):
    torch.manual_seed(seed)
    return ResformerForConditionalGeneration(tiny_config(**kwargs)).eval()


def inputs(n=len(ENTITIES), seed=0):
    generator = torch.Generator().manual_seed(seed)
    return {
        "pixel_values": torch.randn(n, 3, 32, 32, generator=generator),
        "entity_ids": torch.tensor([TOKENIZER.entity_id(name) for name in (ENTITIES * n)[:n]]),
    }


def labels_for(texts):
    batch = TOKENIZER(texts, padding=True, return_tensors="pt")
    return batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)


def assert_valid(predictions, entity_names):
    for prediction, name in zip(predictions, entity_names, strict=True):
        assert check_prediction(prediction, name) is None, (prediction, name)
        if prediction:  # canonical: exactly the string format_prediction writes
            assert normalize_entity_value(prediction, name) == prediction


def test_forward_shapes_and_loss_protocol():
    model = tiny_model()
    labels = labels_for(["2.5 volt", "", "12.0 litre", "3.0 inch", "0.25 gram", "1.0 kilovolt"])
    out = model(**inputs(), labels=labels)
    assert out.logits.shape == (6, labels.shape[1], model.config.vocab_size)
    assert out.encoder_last_hidden_state.shape == (6, 64, 16)
    tokens = int((labels != -100).sum())
    assert model.num_loss_items(labels) == tokens
    torch.testing.assert_close(model.loss_sum(out, labels) / tokens, out.loss)


def test_bad_inputs_raise_clear_errors():
    model = tiny_model()
    with pytest.raises(ValueError, match="pixel_values"):
        model(pixel_values=torch.randn(2, 3, 40, 40), entity_ids=torch.tensor([0, 1]), labels=labels_for(["1.0 volt"] * 2))
    with pytest.raises(ValueError, match="entity_ids"):
        model(pixel_values=torch.randn(2, 3, 32, 32), entity_ids=torch.tensor([0, 99]), labels=labels_for(["1.0 volt"] * 2))
    with pytest.raises(ValueError, match="entity_ids"):
        model.generate(torch.randn(2, 3, 32, 32))
    with pytest.raises(StrictDataclassClassValidationError, match="patch_size"):
        tiny_config(patch_size=3)
    with pytest.raises(StrictDataclassClassValidationError, match="resnet_attention_stages"):
        tiny_config(resnet_attention_stages=[5])
    with pytest.raises(StrictDataclassClassValidationError, match="max_number_tokens"):
        tiny_config(max_number_tokens=20)


def walk(processor, entity_id, rng):
    """A random path through the grammar: every allowed token is drawn with equal probability."""
    tokens = []
    while not tokens or tokens[-1] != TOKENIZER.eos_token_id:
        allowed = processor.allowed_tokens(tokens, entity_id)
        assert allowed, TOKENIZER.convert_ids_to_tokens(tokens)
        tokens.append(int(rng.choice(allowed)))
    return TOKENIZER.decode(tokens, skip_special_tokens=True)


@pytest.mark.parametrize("canonical", [True, False])
def test_grammar_only_produces_valid_predictions(canonical):
    config = tiny_config(canonical_numbers=canonical)
    processor = ResformerConstrainedLogitsProcessor(config, torch.arange(len(config.entity_names)))
    rng = np.random.default_rng(0)
    seen_units = set()
    for entity_id, name in enumerate(config.entity_names):
        predictions = [walk(processor, entity_id, rng) for _ in range(300)]
        assert "" in predictions
        for prediction in predictions:
            assert check_prediction(prediction, name) is None, (prediction, name)
            number = prediction.split(" ")[0]
            assert not (len(number) > 1 and number[0] == "0" and number[1] != "."), prediction  # no "007"
            assert len(number) <= config.max_number_tokens
            if canonical and prediction:
                assert normalize_entity_value(prediction, name) == prediction
        seen_units |= {p.split(" ", 1)[1] for p in predictions if p}
    assert seen_units == {unit for units in ENTITY_UNIT_MAP.values() for unit in units}
    if not canonical:
        assert any("." not in p for p in predictions if p)  # "2 gram" is allowed without canonical numbers


def test_grammar_accepts_every_canonical_value():
    config = tiny_config(max_number_tokens=10)
    processor = ResformerConstrainedLogitsProcessor(config, torch.tensor([0]))
    for value in (0.0, 0.5, 2.0, 10.0, 12.5, 100.25, 0.0001, 1000000.0, 3.05):
        for name in config.entity_names:
            unit = config.entity_units[name][-1]
            tokens = TOKENIZER(format_prediction(value, unit))["input_ids"]
            entity_id = config.entity_names.index(name)
            for position, token in enumerate(tokens):
                assert token in processor.allowed_tokens(tokens[:position], entity_id), (value, unit, position)


@pytest.mark.parametrize(
    "generate_kwargs",
    [{}, {"num_beams": 4}, {"do_sample": True, "top_k": 0, "num_return_sequences": 3}, {"num_beams": 3, "num_return_sequences": 2}],
    ids=["greedy", "beam4", "sampling", "beam-returns"],
)
def test_constrained_generate_is_always_valid(generate_kwargs):
    torch.manual_seed(1)
    for seed in range(3):  # several random-weight models
        model = tiny_model(seed)
        generated = model.generate(**inputs(seed=seed), **generate_kwargs)
        per_input = generate_kwargs.get("num_return_sequences", 1)
        assert generated.shape[0] == len(ENTITIES) * per_input
        assert generated.shape[1] <= model.config.max_target_positions
        predictions = TOKENIZER.batch_decode(generated, skip_special_tokens=True)
        assert_valid(predictions, [name for name in ENTITIES for _ in range(per_input)])


def test_unconstrained_random_model_writes_invalid_text():
    model = tiny_model(0)
    predictions = TOKENIZER.batch_decode(
        model.generate(**inputs(), constrained_decoding=False), skip_special_tokens=True
    )
    assert any(check_prediction(p, name) is not None for p, name in zip(predictions, ENTITIES))


@pytest.mark.slow
def test_overfits_a_tiny_batch_and_beam_search_reads_it_back():
    torch.manual_seed(0)
    model = ResformerForConditionalGeneration(tiny_config())
    texts = ["2.5 volt", "", "12.0 litre", "3.0 inch", "0.25 gram", "1.0 kilovolt"]
    batch = inputs()
    losses = train_on_one_batch(model, {**batch, "labels": labels_for(texts)}, 150, 3e-3)
    assert losses[-1] < 0.05 * losses[0]
    model.eval()
    for kwargs in ({}, {"num_beams": 4}, {"constrained_decoding": False}):
        assert TOKENIZER.batch_decode(model.generate(**batch, **kwargs), skip_special_tokens=True) == texts, kwargs


class TestResformerForConditionalGeneration(ModelTesterMixin, PipelineTesterMixin):
    model_class = ResformerForConditionalGeneration
    bad_inputs = [({"image": "x.png", "entity_name": "item_wieght"}, r"input 1: unknown `entity_name` 'item_wieght' "
                   r"\(did you mean 'item_weight'\?\)"),
                  ({"entity_name": "voltage"}, r"input 1: `image` is required")]
    auto_classes = (AutoModel, AutoModelForImageTextToText)
    processor_auto_classes = {
        AutoProcessor: ResformerProcessor,
        AutoTokenizer: ResformerTokenizer,
        AutoImageProcessor: ResformerImageProcessor,
    }
    generate_kwargs = {"num_beams": 2}
    postprocess = "decode_predictions"

    def get_model(self):
        return tiny_model(3)

    def get_processor(self):
        return tiny_processor(size=32)

    def get_inputs(self, folder):
        return {"images": write_images(folder, 2), "entity_names": ["voltage", "item_volume"]}

    def pipeline_inputs(self, folder):
        images = write_images(folder, 3)
        return [{"image": image, "entity_name": name} for image, name in zip(images, ["voltage", "item_volume", "voltage"])]

    def expected_pipeline_results(self, model, processor, folder):
        images = write_images(folder, 3)
        batch = processor(images=images, entity_names=["voltage", "item_volume", "voltage"])
        return [{"entity_value": value} for value in processor.decode_predictions(model.generate(**batch))]

    def check_reloaded(self, model, loaded):
        assert loaded.generation_config.max_length == 16


def test_meta_device_build_of_the_design_sizes():
    with torch.device("meta"):
        model = ResformerForConditionalGeneration(ResformerConfig())
    config = model.config
    assert (config.image_size, config.d_model, config.num_attention_heads, config.max_target_positions) == (400, 2048, 16, 64)
    assert config.num_patches == 625  # 16x16-pixel patches of a 400x400 image
    assert model.num_parameters() > 300_000_000


# ---------------------------------------------------------------------------------------------------------
# OCR tokens
# ---------------------------------------------------------------------------------------------------------

OCR_SIZES = {"use_ocr_tokens": True, "max_ocr_tokens": 12, "ocr_hash_buckets": 64, "ocr_ids_per_token": 8}


def ocr_line(text, top):
    return {"text": text, "quad": [[50, top], [600, top], [600, top + 80], [50, top + 80]], "confidence": 0.9}


OCR_LINES = [
    [ocr_line("NET WT 500g", 100), ocr_line("Serving 30 g", 300)],
    [],
    [ocr_line("OUTPUT 12V", 100), ocr_line("INPUT 240V", 400)],
]


def ocr_processor():
    return ResformerProcessor.for_config(ResformerImageProcessor(size=32), TOKENIZER, tiny_config(**OCR_SIZES))


def ocr_batch(texts=None):
    return ocr_processor()(
        images=[Image.new("RGB", (20, 20), (40 * k, 0, 0)) for k in range(3)],
        entity_names=["item_weight", "item_weight", "voltage"], text=texts, ocr=OCR_LINES,
    )


def test_processor_lists_ocr_tokens_and_number_candidates():
    batch = ocr_batch()
    assert batch["ocr_attention_mask"].sum(1).tolist() == [7, 1, 6]  # NET WT 500 g Serving 30 g; a blank; OUTPUT 12 V INPUT 240 V
    assert batch["ocr_input_ids"].shape == (3, 7, 8) and batch["ocr_bbox"].max() <= 1000
    candidates = [
        [TOKENIZER.decode(ids, skip_special_tokens=True) for ids, kept in zip(row, mask) if kept]
        for row, mask in zip(batch["ocr_candidate_ids"].tolist(), batch["ocr_candidate_mask"].tolist())
    ]
    assert candidates == [["500.0", "30.0"], [], ["12.0", "240.0"]]  # canonical numbers, copied digit by digit
    assert batch["ocr_candidate_index"][0].tolist() == [2, 5]


def test_pointer_logits_are_a_distribution_and_the_loss_is_the_candidates_marginal():
    model = tiny_model(0, **OCR_SIZES)
    batch = ocr_batch(["500 g", "", "12 V"])
    out = model(**{k: v for k, v in batch.items() if k != "labels"}, labels=batch["labels"])
    torch.testing.assert_close(out.logits.exp().sum(-1), torch.ones(out.logits.shape[:2]))
    assert out.encoder_last_hidden_state.shape == (3, 64 + 7, 16)
    # a number no candidate has is possible only through the decoder: it is less likely than a candidate's
    other = ocr_batch(["501 g", "", "12 V"])
    worse = model(**{k: v for k, v in other.items() if k != "labels"}, labels=other["labels"])
    assert worse.loss > out.loss


def test_ocr_model_learns_to_copy_the_asked_candidate():
    torch.manual_seed(0)
    model = ResformerForConditionalGeneration(tiny_config(**OCR_SIZES))
    texts = ["500 g", "", "12 V"]
    batch = ocr_batch(texts)
    losses = train_on_one_batch(model, dict(batch), 60, 1e-2)
    assert losses[-1] < 0.1 * losses[0]
    model.eval()
    inputs_ = {k: v for k, v in batch.items() if k not in ("labels", "decoder_input_ids")}
    for kwargs in ({}, {"num_beams": 3}):
        assert ocr_processor().decode_predictions(model.generate(**inputs_, **kwargs)) == [
            "500.0 gram", "", "12.0 volt"
        ]


def test_reading_order_embeddings_tell_identical_tokens_apart_and_round_trip(tmp_path):
    from hf_pricer.models.resformer.modeling_resformer import ResformerOcrEmbedding

    ids = torch.tensor([[[3, 4, 0], [3, 4, 0]]])  # the same word twice, in the same box
    bbox, types = torch.tensor([[[10, 10, 50, 30]] * 2]), torch.tensor([[1, 1]])
    for on in (False, True):
        torch.manual_seed(0)
        out = ResformerOcrEmbedding(tiny_config(**OCR_SIZES, ocr_position_embeddings=on))(ids, bbox, types)
        assert torch.allclose(out[0, 0], out[0, 1]) is not on
    too_many = OCR_SIZES["max_ocr_tokens"] + 1
    embedding = ResformerOcrEmbedding(tiny_config(**OCR_SIZES, ocr_position_embeddings=True))
    with pytest.raises(ValueError, match="13 OCR tokens given, more than `max_ocr_tokens` \\(12\\)"):
        embedding(ids[:, :1].repeat(1, too_many, 1), bbox[:, :1].repeat(1, too_many, 1), types[:, :1].repeat(1, too_many))
    model = tiny_model(0, **OCR_SIZES, ocr_position_embeddings=True).eval()
    model.save_pretrained(tmp_path)
    loaded = ResformerForConditionalGeneration.from_pretrained(tmp_path).eval()
    torch.testing.assert_close(loaded.encoder.ocr_embedding.position.weight, model.encoder.ocr_embedding.position.weight)
    batch = ocr_batch()
    inputs_ = {k: v for k, v in batch.items() if k not in ("labels", "decoder_input_ids")}
    assert torch.equal(loaded.generate(**inputs_), model.generate(**inputs_))


def test_ocr_inputs_need_an_ocr_model():
    batch = ocr_batch()
    with pytest.raises(ValueError, match="use_ocr_tokens"):
        tiny_model(0)(**{k: v for k, v in batch.items()}, labels=labels_for(["1.0 gram"] * 3))


class TestResformerWithOcrTokens(TestResformerForConditionalGeneration):
    def get_model(self):
        return tiny_model(3, **OCR_SIZES)

    def get_processor(self):
        return ocr_processor()

    def get_inputs(self, folder):
        return {**super().get_inputs(folder), "ocr": OCR_LINES[::2]}

    def pipeline_inputs(self, folder):
        return [{**item, "ocr": lines} for item, lines in zip(super().pipeline_inputs(folder), OCR_LINES)]

    def expected_pipeline_results(self, model, processor, folder):
        images = write_images(folder, 3)
        batch = processor(images=images, entity_names=["voltage", "item_volume", "voltage"], ocr=OCR_LINES)
        return [{"entity_value": value} for value in processor.decode_predictions(model.generate(**batch))]


def test_processor_runs_the_ocr_engine_on_images_without_lines():
    processor = ocr_processor()
    seen = []

    def engine(image):
        seen.append(image.size)
        return OCR_LINES[0]

    processor._ocr_engine = engine  # stands in for RapidOcrEngine (the `ocr` extra)
    images = [Image.new("RGB", (20, 30)), Image.new("RGB", (20, 20))]
    batch = processor(images=images, entity_names=["item_weight", "voltage"], ocr=[None, OCR_LINES[2]])
    assert seen == [(20, 30)]  # only the image without OCR lines was read
    assert batch["ocr_candidate_mask"].sum(1).tolist() == [2, 2]
    with pytest.raises(ValueError, match="OCR lines for 1"):
        processor(images=images, entity_names=["item_weight", "voltage"], ocr=[None])
