import json
import logging
import os
import subprocess
import sys

import pytest
import torch
from datasets import Dataset
from huggingface_hub import ModelCard
from safetensors.torch import load_file
from transformers import TrainerCallback

from hf_pricer import (
    FreezeWarmupCallback,
    PricerTrainer,
    PricerTrainingArguments,
    ResidualRegressorCollator,
    ResidualRegressorProcessor,
    compute_metrics,
    load_items,
    price_metrics,
)
from tests.ddp_one_step import main as one_step
from tests.models.embedding_classifier.test_modeling_embedding_classifier import tiny_classifier
from tests.models.residual_regressor.test_modeling_residual_regressor import tiny_model
from tests.utils import free_port

WORDS = "steel oak plastic premium budget kettle frame drill battery bottle jar gold matte large small".split()


def items(n, seed=0):
    generator = torch.Generator().manual_seed(seed)
    rows = []
    for i in range(n):
        picks = torch.randint(len(WORDS), (4,), generator=generator).tolist()
        rows.append({"title": f"item {i}", "text": " ".join(WORDS[p] for p in picks), "price": float(5 + 7 * (i % 9))})
    return Dataset.from_list(rows)


def model(loss_type="l1", seed=0):
    """The tiny residual regressor, 16 wide, in training mode."""
    return tiny_model(seed, hidden_size=16, log_price_std=1.0, loss_type=loss_type).train()


def trainer_for(tmp_path, dataset, train_model=None, callbacks=None, **args):
    defaults = dict(
        output_dir=str(tmp_path),
        use_cpu=True,
        report_to="none",
        save_strategy="no",
        per_device_train_batch_size=8,
        learning_rate=0.1,
        optim="sgd",
        lr_scheduler_type="constant",
        max_grad_norm=0.0,
        weight_decay=0.0,
        seed=0,
        disable_tqdm=True,
        bf16=False,  # these tests compare fp32 arithmetic exactly
    )
    defaults.update(args)
    return PricerTrainer(
        model=train_model if train_model is not None else model(),
        args=PricerTrainingArguments(**defaults),
        train_dataset=dataset,
        data_collator=ResidualRegressorCollator(ResidualRegressorProcessor(n_features=64)),
        callbacks=callbacks,
    )


def one_step_params(tmp_path, dataset, loss_type, batch_size, accumulation):
    trainer = trainer_for(
        tmp_path,
        dataset,
        train_model=model(loss_type),
        max_steps=1,
        per_device_train_batch_size=batch_size,
        gradient_accumulation_steps=accumulation,
    )
    trainer.train()
    return {name: p.detach().clone() for name, p in trainer.model.named_parameters()}


@pytest.mark.parametrize("loss_type", ["l1", "smape"])
@pytest.mark.parametrize("num_items", [32, 30])  # 30: the last micro-batch holds 6 items, not 8
def test_gradient_accumulation_equals_one_big_batch(tmp_path, loss_type, num_items):
    dataset = items(num_items)
    accumulated = one_step_params(tmp_path / "ga", dataset, loss_type, batch_size=8, accumulation=4)
    single = one_step_params(tmp_path / "big", dataset, loss_type, batch_size=num_items, accumulation=1)
    initial = dict(model(loss_type).named_parameters())
    assert not torch.equal(single["output_layer.weight"], initial["output_layer.weight"])
    for name in single:
        torch.testing.assert_close(accumulated[name], single[name], rtol=1e-5, atol=1e-6, msg=name)


def test_logged_training_loss_is_the_batch_loss(tmp_path):
    dataset = items(32)
    trainer = trainer_for(tmp_path, dataset, max_steps=1, gradient_accumulation_steps=4, logging_steps=1)
    expected = model()(**ResidualRegressorCollator(ResidualRegressorProcessor(n_features=64))(list(dataset))).loss
    trainer.train()
    assert trainer.state.log_history[0]["loss"] == pytest.approx(expected.item(), rel=1e-4)


def test_module_learning_rates_and_weight_decay_groups(tmp_path):
    trainer = trainer_for(
        tmp_path,
        items(8),
        learning_rate=1e-3,
        weight_decay=0.01,
        module_learning_rates='{"blocks": 1e-4, "blocks.0": 5e-5}',
    )
    optimizer = trainer.create_optimizer()
    lr_of = {}
    decay_of = {}
    names = {id(p): n for n, p in trainer.model.named_parameters()}
    for group in optimizer.param_groups:
        for param in group["params"]:
            lr_of[names[id(param)]] = group["lr"]
            decay_of[names[id(param)]] = group["weight_decay"]
    assert len(lr_of) == len(names)  # every parameter, frozen or not
    assert lr_of["blocks.0.block.0.weight"] == 5e-5  # longest prefix wins
    assert lr_of["blocks.1.block.0.weight"] == 1e-4
    assert lr_of["output_layer.weight"] == 1e-3
    assert decay_of["output_layer.weight"] == 0.01
    assert decay_of["output_layer.bias"] == 0.0 and decay_of["input_norm.weight"] == 0.0


def test_layer_wise_learning_rate_decay():
    from transformers import BertConfig

    from hf_pricer import DualEncoderConfig, DualEncoderForPriceRegression
    from hf_pricer.trainer import layer_lr_scales, module_parameter_groups

    text_config = BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=3, num_attention_heads=2,
                             intermediate_size=32, max_position_embeddings=16)
    model = DualEncoderForPriceRegression(DualEncoderConfig(
        text_config=text_config, image_encoder="mobilenetv3_small_050", image_size=32, projection_dim=16,
        num_attention_heads=2, head_hidden_sizes=[8],
    ))
    names = [name for name, _ in model.named_parameters()]
    scales = layer_lr_scales(names, 0.5, ["text_encoder"])
    # the top layer keeps its rate
    assert scales["text_encoder.encoder.layer.2.attention.self.query.weight"] == 1.0
    assert scales["text_encoder.encoder.layer.0.output.dense.weight"] == 0.25
    assert scales["text_encoder.embeddings.word_embeddings.weight"] == 0.125  # below the 3 layers
    assert scales["image_encoder.blocks.0.0.conv_dw.weight"] == 1.0  # not in `modules`
    assert scales["head.0.weight"] == 1.0
    groups = module_parameter_groups(model, 1e-3, 0.0, {"text_encoder": 2e-5}, layer_lr_decay=0.5,
                                     layer_lr_decay_modules=["text_encoder"])
    lr_of = {id(param): group["lr"] for group in groups for param in group["params"]}
    parameters = dict(model.named_parameters())
    assert lr_of[id(parameters["text_encoder.encoder.layer.0.output.dense.weight"])] == pytest.approx(5e-6)
    assert lr_of[id(parameters["text_encoder.encoder.layer.2.output.dense.weight"])] == pytest.approx(2e-5)
    assert lr_of[id(parameters["head.0.weight"])] == 1e-3
    assert sum(len(group["params"]) for group in groups) == len(names)
    with pytest.raises(ValueError, match="layer_lr_decay"):
        PricerTrainingArguments(output_dir="unused", layer_lr_decay=1.5)


def test_unknown_module_prefix_is_an_error(tmp_path):
    trainer = trainer_for(tmp_path, items(8), module_learning_rates={"image_encoder": 1e-4})
    with pytest.raises(ValueError, match="image_encoder"):
        trainer.create_optimizer()


def test_bad_module_learning_rates_string(tmp_path):
    with pytest.raises(ValueError, match="module_learning_rates"):
        PricerTrainingArguments(output_dir=str(tmp_path), module_learning_rates="{image: fast}")


class Snapshots(TrainerCallback):
    def __init__(self):
        self.at_epoch_end = []
        self.trainable = []

    def on_epoch_end(self, args, state, control, model=None, **kwargs):
        self.at_epoch_end.append({n: p.detach().clone() for n, p in model.named_parameters()})
        self.trainable.append(model.input_projection.weight.requires_grad)


def test_freeze_warmup_keeps_module_fixed_then_trains_it(tmp_path, caplog):
    snapshots = Snapshots()
    trainer = trainer_for(
        tmp_path,
        items(16),
        num_train_epochs=3,
        callbacks=[FreezeWarmupCallback({"input_projection": 2}), snapshots],
    )
    start = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    with caplog.at_level(logging.INFO, logger="hf_pricer.trainer"):
        trainer.train()
    first, second, third = snapshots.at_epoch_end
    assert snapshots.trainable == [False, False, True]
    assert torch.equal(second["input_projection.weight"], start["input_projection.weight"])
    assert not torch.equal(first["output_layer.weight"], start["output_layer.weight"])
    assert not torch.equal(third["input_projection.weight"], second["input_projection.weight"])
    assert trainer.model.input_projection.weight.requires_grad
    assert "unfroze input_projection" in caplog.text


def test_freeze_warmup_validates_schedule(tmp_path):
    with pytest.raises(ValueError, match="non-negative"):
        FreezeWarmupCallback({"text_encoder": -1})
    trainer = trainer_for(tmp_path, items(8), max_steps=1, callbacks=[FreezeWarmupCallback({"text_encoder": 1})])
    with pytest.raises(ValueError, match="text_encoder"):
        trainer.train()


def test_streaming_dataset_trains_with_max_steps(tmp_path):
    stream = load_items("catalog", split="train", streaming=True, catalog_size=64)
    trainer = trainer_for(tmp_path, stream, max_steps=3)
    trainer.train()
    assert trainer.state.global_step == 3


def test_evaluate_reports_price_metrics_and_card_has_model_index(tmp_path):
    dataset = items(24)
    trainer = PricerTrainer(
        model=model(),
        args=PricerTrainingArguments(output_dir=str(tmp_path), use_cpu=True, report_to="none", disable_tqdm=True),
        eval_dataset=dataset,
        data_collator=ResidualRegressorCollator(ResidualRegressorProcessor(n_features=64)),
        compute_metrics=compute_metrics,
    )
    metrics = trainer.evaluate()
    for key in ("eval_loss", "eval_smape", "eval_mae", "eval_rmsle", "eval_r2", "eval_hit_rate"):
        assert key in metrics
    trainer.create_model_card(dataset="tester/items")
    card = ModelCard.load(tmp_path / "README.md")
    results = {r.metric_type: r.metric_value for r in card.data.eval_results}
    assert results["smape"] == pytest.approx(metrics["eval_smape"])
    assert results["mae"] == pytest.approx(metrics["eval_mae"])
    assert card.data.datasets == ["tester/items"]


def test_training_batch_without_labels_is_an_error(tmp_path):
    unlabelled = Dataset.from_list([{"title": "a", "text": "steel kettle"}] * 8)
    trainer = trainer_for(tmp_path, unlabelled, max_steps=1)
    with pytest.raises(ValueError, match="labels"):
        trainer.train()


class PlainResidual(torch.nn.Module):
    """A model that does not implement the loss protocol."""

    def __init__(self):
        super().__init__()
        self.inner = model()
        self.config = self.inner.config

    def forward(self, **inputs):
        return self.inner(**inputs)


def test_model_without_the_loss_protocol_is_an_error(tmp_path):
    trainer = trainer_for(tmp_path, items(8), train_model=PlainResidual(), max_steps=1)
    with pytest.raises(TypeError, match="PricerLossMixin"):
        trainer.train()


@pytest.mark.slow
@pytest.mark.multiprocess
def test_two_processes_match_one_process(tmp_path):
    """2 processes × batch 4 × accumulation 2 take the same step as 1 process × batch 16 (gloo, CPU)."""
    script = os.path.join(os.path.dirname(__file__), "ddp_one_step.py")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(free_port()),
               script, str(tmp_path / "ddp.safetensors"), "4", "2", str(tmp_path / "out")]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "WORLD_SIZE=2" in result.stdout

    one_step(str(tmp_path / "single.safetensors"), 16, 1, str(tmp_path / "out1"))
    ddp, single = load_file(tmp_path / "ddp.safetensors"), load_file(tmp_path / "single.safetensors")
    for name in single:
        torch.testing.assert_close(ddp[name], single[name], rtol=1e-5, atol=1e-6, msg=name)


def test_max_grad_norm_clips_the_update(tmp_path):
    trainer = trainer_for(tmp_path, items(16), max_steps=1, learning_rate=1.0, max_grad_norm=1e-3)
    before = torch.cat([p.detach().flatten().clone() for p in trainer.model.parameters()])
    trainer.train()
    after = torch.cat([p.detach().flatten() for p in trainer.model.parameters()])
    assert (after - before).norm().item() == pytest.approx(1e-3, rel=1e-3)


def test_bf16_autocast_on_cpu(tmp_path):
    trainer = trainer_for(tmp_path, items(16), max_steps=2, bf16=True, learning_rate=1e-3, optim="adamw_torch",
                          logging_steps=1)
    dtypes = []
    trainer.model.output_layer.register_forward_hook(lambda module, args, output: dtypes.append(output.dtype))
    trainer.train()
    assert dtypes and all(dtype == torch.bfloat16 for dtype in dtypes)
    assert all(torch.isfinite(torch.tensor(entry["loss"])) for entry in trainer.state.log_history if "loss" in entry)
    assert trainer.model.output_layer.weight.dtype == torch.float32  # master weights stay fp32


class ModeRecordingCollator(ResidualRegressorCollator):
    def __init__(self, processor, mode="train", seen=None):
        super().__init__(processor)
        self.mode, self.seen = mode, seen if seen is not None else []

    def for_eval(self):
        return ModeRecordingCollator(self.processor, "eval", self.seen)

    def __call__(self, items):
        self.seen.append(self.mode)
        return super().__call__(items)


def test_eval_dataloaders_use_the_collators_eval_mode(tmp_path):
    collator = ModeRecordingCollator(ResidualRegressorProcessor(n_features=64))
    trainer = PricerTrainer(
        model=model(),
        args=PricerTrainingArguments(output_dir=str(tmp_path), use_cpu=True, report_to="none", max_steps=1,
                                     per_device_train_batch_size=8, disable_tqdm=True),
        train_dataset=items(8),
        eval_dataset=items(8),
        data_collator=collator,
    )
    trainer.train()
    assert collator.seen == ["train"]
    trainer.evaluate()
    trainer.predict(items(4))
    assert collator.seen == ["train", "eval", "eval"]
    assert trainer.data_collator is collator


def test_trainer_restores_vit_checkpoints_by_their_saved_names(tmp_path):
    """transformers 5 saves ViT weights under legacy names; `load_best_model_at_end` and resuming must map them."""
    best = tiny_classifier(seed=1)
    best.save_pretrained(tmp_path / "checkpoint-best")
    model = tiny_classifier(seed=2)
    trainer = PricerTrainer(model=model, args=PricerTrainingArguments(output_dir=str(tmp_path), use_cpu=True,
                                                                      report_to="none"))
    trainer.state.best_model_checkpoint = str(tmp_path / "checkpoint-best")
    trainer._load_best_model()
    for name, tensor in best.state_dict().items():
        torch.testing.assert_close(model.state_dict()[name], tensor, msg=name)

    resumed = tiny_classifier(seed=3)
    trainer._load_from_checkpoint(str(tmp_path / "checkpoint-best"), resumed)
    torch.testing.assert_close(resumed.embedder.vit.layers[0].attention.q_proj.weight,
                               best.embedder.vit.layers[0].attention.q_proj.weight)


def test_finish_reports_validation_and_test_splits_apart(tmp_path, caplog):
    validation = items(12, seed=1)
    # Prices a hundred times higher: metrics computed on the wrong split cannot match.
    test = items(20, seed=2).map(lambda row: {"price": row["price"] * 100})
    trainer = PricerTrainer(
        model=model().eval(),
        args=PricerTrainingArguments(output_dir=str(tmp_path / "out"), use_cpu=True, report_to="none",
                                     disable_tqdm=True, module_learning_rates={"blocks": 1e-4}),
        data_collator=ResidualRegressorCollator(ResidualRegressorProcessor(n_features=64)),
        compute_metrics=compute_metrics,
    )
    with caplog.at_level(logging.INFO, logger="hf_pricer.trainer"):
        trainer.create_optimizer()
    assert sorted(r.getMessage().split(" (")[0] for r in caplog.records if "learning rate" in r.getMessage()) == [
        "learning rate 0.0001 for blocks", "learning rate 5e-05 for the other parameters",
    ]  # one line per learning rate, whatever the weight-decay groups
    evaluation = trainer.finish(validation, "tester/items", test_dataset=test)
    expected = price_metrics(evaluation.test.predictions[0], test["price"])
    saved = json.loads((tmp_path / "out" / "test_results.json").read_text())
    assert saved["test_smape"] == pytest.approx(expected["smape"]) and saved["test_mae"] == pytest.approx(expected["mae"])
    assert len(evaluation.test.predictions[0]) == 20 and len(evaluation.validation.predictions[0]) == 12

    card = ModelCard.load(tmp_path / "out" / "README.md")
    by_split = {}
    for result in card.data.eval_results:
        by_split.setdefault(result.dataset_split, {})[result.metric_type] = result.metric_value
    assert by_split["test"]["mae"] == pytest.approx(expected["mae"])
    assert by_split["validation"]["mae"] == pytest.approx(evaluation.validation.metrics["eval_mae"])
    assert by_split["validation"]["mae"] < by_split["test"]["mae"] / 10
    assert "**validation** split, 12 examples (chose the checkpoint)" in card.text
    assert "**test** split, 20 examples (held out)" in card.text
    assert card.data.pipeline_tag == "price-regression"
    # The usage snippet loads from where the model is, as written.
    assert f'pipeline("price-regression", model="{tmp_path / "out"}")' in card.text
    assert os.path.isfile(tmp_path / "out" / "price_predictions.png")
