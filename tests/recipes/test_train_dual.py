"""recipes/train_dual.py: the design config, a tiny end-to-end run, the freeze schedule, and a 2-process launch."""

import json
import os

import pytest
import torch
import train_dual
from huggingface_hub import ModelCard
from transformers import AutoTokenizer, BertConfig, BertModel, TrainerCallback

from hf_pricer import (
    DualEncoderCollator,
    DualEncoderConfig,
    DualEncoderForPriceRegression,
    DualEncoderImageProcessor,
    DualEncoderProcessor,
    FreezeWarmupCallback,
    PricerTrainer,
    PricerTrainingArguments,
    load_items,
)
from hf_pricer.cli import parse_recipe_args
from hf_pricer.pretrained import minilm_path
from tests.utils import CONFIGS_DIR, launch_recipe


@pytest.fixture(scope="module")
def tiny_text_encoder(tmp_path_factory):
    """A 2-layer, 32-wide BERT with the all-MiniLM-L6-v2 tokenizer, saved like a Hub checkpoint."""
    folder = tmp_path_factory.mktemp("tiny_bert")
    torch.manual_seed(0)
    config = BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                        max_position_embeddings=128)
    BertModel(config).save_pretrained(folder)
    AutoTokenizer.from_pretrained(minilm_path()).save_pretrained(folder)
    return str(folder)


def tiny_args(text_encoder, output_dir, *extra):
    return [
        "--text_encoder", text_encoder, "--image_encoder", "mobilenetv3_small_050", "--image_weights", "none",
        "--image_size", "64", "--projection_dim", "32", "--num_attention_heads", "4",
        "--head_hidden_sizes", "32", "16", "8", "--max_text_length", "48",
        "--catalog_size", "48", "--num_train_epochs", "2", "--freeze_encoder_epochs", "1",
        "--per_device_train_batch_size", "8", "--output_dir", str(output_dir), "--disable_tqdm", "true", *extra,
    ]


def test_design_config_parses_and_builds_with_tiny_stand_ins():
    config_file = os.path.join(CONFIGS_DIR, "dual_design.yaml")
    model_args, encoders, data_args, strategy, training_args = parse_recipe_args(
        train_dual.ARGUMENT_TYPES, None, [config_file, "--fp16", "false"]  # fp16 needs a GPU at parse time
    )
    assert (encoders.text_encoder, model_args.image_encoder) == ("google-bert/bert-base-uncased", "efficientnet_b4")
    assert encoders.image_weights == "timm" and model_args.image_size == 380
    assert (model_args.projection_dim, model_args.num_attention_heads, model_args.dropout) == (512, 8, 0.35)
    assert model_args.head_hidden_sizes == [768, 384, 192] and model_args.cross_attention == "pooled"
    assert data_args.dataset == "ed-donner/items_full" and data_args.streaming and training_args.max_steps > 0
    assert (strategy.freeze_encoder_epochs, strategy.image_encoder_lr, strategy.text_encoder_lr) == (4, 1e-4, 2e-5)
    assert strategy.early_stopping_patience == 8
    assert (training_args.learning_rate, training_args.weight_decay, training_args.max_grad_norm) == (1e-3, 1e-4, 1.0)
    assert training_args.per_device_train_batch_size == 35 and training_args.num_train_epochs == 15

    # The architecture it names, with a tiny BERT standing in for bert-base: B4 features are 1792 wide.
    text_config = BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)
    config = DualEncoderConfig(text_config=text_config, **model_args.config_kwargs())
    with torch.device("meta"):
        model = DualEncoderForPriceRegression(config)
    assert model.config.image_feature_dim == 1792
    assert model.head[0].in_features == 3 * 512


@pytest.mark.slow
def test_recipe_trains_with_freeze_warmup_and_saves(tiny_text_encoder, tmp_path):
    trainer = train_dual.main(tiny_args(tiny_text_encoder, tmp_path))
    assert {"model.safetensors", "processor_config.json", "README.md", "price_predictions.png"} <= set(os.listdir(tmp_path))
    card = ModelCard.load(tmp_path / "README.md")
    assert {r.metric_type for r in card.data.eval_results} >= {"smape", "mae"}
    assert {r.dataset_split for r in card.data.eval_results} == {"validation", "test"}
    assert json.loads((tmp_path / "test_results.json").read_text())["test_smape"] >= 0
    # Nothing of this machine in what is saved: the text encoder came from a local folder.
    for name in ("config.json", "README.md", "processor_config.json"):
        assert tiny_text_encoder not in (tmp_path / name).read_text(), name
    groups = {group["module"]: group["initial_lr"] for group in trainer.optimizer.param_groups}
    assert groups["image_encoder"] == 1e-4 and groups["text_encoder"] == 2e-5 and groups[None] == 1e-3
    model = DualEncoderForPriceRegression.from_pretrained(tmp_path)
    processor = DualEncoderProcessor.from_pretrained(tmp_path)
    batch = processor(images=[None], text=["A steel kettle"])
    assert model.eval()(**batch).predictions.shape == (1,)


@pytest.mark.slow
@pytest.mark.multiprocess
def test_two_process_launch(tiny_text_encoder, tmp_path):
    args = tiny_args(tiny_text_encoder, tmp_path, "--use_cpu", "true", "--num_train_epochs", "1")
    output = launch_recipe("train_dual", args, num_processes=2)
    assert "world size 2" in output
    # the 🤗 libraries' INFO lines (config dumps) stay off at the default log level
    assert "[transformers]" not in output and "Model config BertConfig" not in output
    assert os.path.isfile(tmp_path / "model.safetensors")


class GradientRecorder(TrainerCallback):
    """Which modules hold gradients at each optimizer step, by epoch."""

    def __init__(self):
        self.steps = []

    def on_pre_optimizer_step(self, args, state, control, model=None, **kwargs):
        has_grad = {
            prefix: any(p.grad is not None and p.grad.abs().sum() > 0
                        for name, p in model.named_parameters() if name.startswith(prefix))
            for prefix in ("image_encoder", "text_encoder", "head")
        }
        self.steps.append((int(state.epoch), has_grad))


@pytest.mark.slow
def test_freeze_schedule_decides_which_encoders_get_gradients(tiny_text_encoder, tmp_path):
    items = load_items("catalog", split="train", catalog_size=40, with_images=True, image_size=64).select(range(16))
    model = DualEncoderForPriceRegression.from_encoders(
        tiny_text_encoder, image_encoder="mobilenetv3_small_050", image_weights=None, image_size=64,
        projection_dim=32, num_attention_heads=4, head_hidden_sizes=[32, 16, 8],
    )
    processor = DualEncoderProcessor(image_processor=DualEncoderImageProcessor(size=64),
                                     tokenizer=AutoTokenizer.from_pretrained(tiny_text_encoder), max_length=32)
    recorder = GradientRecorder()
    trainer = PricerTrainer(
        model=model,
        args=PricerTrainingArguments(output_dir=str(tmp_path), use_cpu=True, report_to="none", save_strategy="no",
                                     num_train_epochs=3, per_device_train_batch_size=8, disable_tqdm=True,
                                     module_learning_rates={"image_encoder": 1e-4, "text_encoder": 2e-5}),
        train_dataset=items,
        data_collator=DualEncoderCollator(processor),
        callbacks=[FreezeWarmupCallback({"image_encoder": 1, "text_encoder": 2}), recorder],
    )
    trainer.train()
    by_epoch = {}
    for epoch, has_grad in recorder.steps:
        by_epoch.setdefault(epoch, []).append(has_grad)
    expected = {  # epoch → (image encoder trains, text encoder trains)
        0: (False, False),
        1: (True, False),
        2: (True, True),
    }
    for epoch, (image_trains, text_trains) in expected.items():
        for has_grad in by_epoch[epoch]:
            assert has_grad == {"image_encoder": image_trains, "text_encoder": text_trains, "head": True}, epoch
