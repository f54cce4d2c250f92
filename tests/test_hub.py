"""Hub round trip against the Hub-protocol server of `tests/hub_server.py` (see `conftest.py`)."""

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch
from datasets import Dataset, DatasetDict
from huggingface_hub import HfApi, ModelCard, hf_hub_download
from transformers import AutoFeatureExtractor, AutoModel

from hf_pricer import (
    PricerTrainer,
    PricerTrainingArguments,
    ResidualRegressorCollator,
    ResidualRegressorConfig,
    ResidualRegressorForPriceRegression,
    ResidualRegressorProcessor,
    compute_metrics,
    load_items,
)
from hf_pricer.hub import push_dataset_to_hub, push_model_to_hub
from hf_pricer.plots import PRICE_PLOT_FILENAME as PLOT_FILENAME

TEXTS = ["steel kettle with keep warm", "oak frame", "budget plastic box"]


def tiny_model(seed=0):
    torch.manual_seed(seed)
    config = ResidualRegressorConfig(num_features=64, num_layers=3, hidden_size=16, log_price_mean=3.0)
    return ResidualRegressorForPriceRegression(config).eval()


def test_push_model_processor_and_card(hub_server):
    model, processor = tiny_model(), ResidualRegressorProcessor(n_features=64)
    predictions, labels = [10.0, 22.0, 180.0], [12.0, 20.0, 150.0]
    push_model_to_hub(
        model, "tester/residual-card", processor=processor, predictions=predictions, labels=labels,
        dataset_id="tester/items",
    )
    files = set(HfApi().list_repo_files("tester/residual-card"))
    assert {"config.json", "model.safetensors", "preprocessor_config.json", "README.md", PLOT_FILENAME} <= files
    assert {"modeling_residual_regressor.py", "configuration_residual_regressor.py"} <= files
    assert not any(name.endswith((".bin", ".pt", ".pkl")) for name in files)

    card = ModelCard.load("tester/residual-card")
    results = {r.metric_type: r for r in card.data.eval_results}
    assert results["smape"].metric_value == pytest.approx(100 * (2 / 11 + 2 / 21 + 30 / 165) / 3)
    assert results["mae"].metric_value == pytest.approx((2 + 2 + 30) / 3)
    assert results["smape"].dataset_type == "tester/items"
    assert f"![Predicted vs. true price]({PLOT_FILENAME})" in card.text

    loaded = AutoModel.from_pretrained("tester/residual-card").eval()
    loaded_processor = AutoFeatureExtractor.from_pretrained("tester/residual-card")
    assert type(loaded) is ResidualRegressorForPriceRegression and type(loaded_processor) is ResidualRegressorProcessor
    for (name, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), name
    inputs = loaded_processor(TEXTS)
    torch.testing.assert_close(loaded(**inputs).predictions, model(**processor(TEXTS)).predictions)


def test_remote_code_loads_without_importing_hf_pricer(hub_server, tmp_path):
    model, processor = tiny_model(seed=1), ResidualRegressorProcessor(n_features=64)
    push_model_to_hub(model, "tester/residual-remote", processor=processor)
    expected = model(**processor(TEXTS)).predictions.tolist()
    script = textwrap.dedent(
        f"""
        import json, sys
        import transformers
        from transformers import AutoFeatureExtractor, AutoModel
        assert "hf_pricer" not in sys.modules
        try:
            AutoModel.from_pretrained("tester/residual-remote")
        except ValueError as error:
            refused = "trust_remote_code" in str(error)
        model = AutoModel.from_pretrained("tester/residual-remote", trust_remote_code=True).eval()
        processor = AutoFeatureExtractor.from_pretrained("tester/residual-remote", trust_remote_code=True)
        predictions = model(**processor({TEXTS!r})).predictions.tolist()
        print("RESULT=" + json.dumps({{"refused": refused, "module": type(model).__module__, "predictions": predictions}}))
        """
    )
    env = {**os.environ, "PYTHONPATH": ""}
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300, stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "RESULT=" in result.stdout, result.stdout[-2000:] + result.stderr[-2000:]
    report = json.loads(result.stdout.split("RESULT=")[-1])
    assert report["refused"] is True
    assert report["module"].startswith("transformers_modules")
    assert report["predictions"] == pytest.approx(expected, rel=1e-6)


def test_trainer_push_to_hub_writes_metrics_card(hub_server, tmp_path):
    items = Dataset.from_list([{"title": t, "text": t, "price": p} for t, p in zip(TEXTS * 4, [30.0, 12.0, 4.0] * 4)])
    trainer = PricerTrainer(
        model=tiny_model(),
        args=PricerTrainingArguments(
            output_dir=str(tmp_path), use_cpu=True, report_to="none", max_steps=2, save_strategy="no",
            hub_model_id="tester/residual-trainer", disable_tqdm=True,
        ),
        train_dataset=items,
        eval_dataset=items,
        data_collator=ResidualRegressorCollator(ResidualRegressorProcessor(n_features=64)),
        processing_class=ResidualRegressorProcessor(n_features=64),
        compute_metrics=compute_metrics,
    )
    trainer.train()
    metrics = trainer.evaluate()
    trainer.push_to_hub(dataset="tester/items")
    card = ModelCard.load("tester/residual-trainer")
    results = {r.metric_type: r.metric_value for r in card.data.eval_results}
    assert results["smape"] == pytest.approx(metrics["eval_smape"])
    assert results["mae"] == pytest.approx(metrics["eval_mae"])
    config = json.load(open(hf_hub_download("tester/residual-trainer", "config.json")))
    assert config["auto_map"]["AutoModel"] == "modeling_residual_regressor.ResidualRegressorForPriceRegression"


def items_full_like_rows(n, offset=0):
    return [
        {
            "title": f"Product {i}", "category": "Appliances", "price": 10.0 + i, "full": f"Full text {i}",
            "weight": 1.0, "summary": f"Summary of product {i}", "prompt": "", "id": f"p{i}",
        }
        for i in range(offset, offset + n)
    ]


def test_push_dataset_and_load_items_from_hub(hub_server):
    splits = DatasetDict(
        train=Dataset.from_list(items_full_like_rows(12) + [{**items_full_like_rows(1)[0], "price": -5.0, "id": "bad"}]),
        validation=Dataset.from_list(items_full_like_rows(3, offset=100)),
        test=Dataset.from_list(items_full_like_rows(3, offset=200)),
    )
    HfApi().create_repo("tester/items_full_raw", repo_type="dataset", exist_ok=True)
    splits.push_to_hub("tester/items_full_raw")

    reports = {}
    loaded = load_items("tester/items_full_raw", reports=reports)
    assert set(loaded) == {"train", "validation", "test"}
    assert len(loaded["train"]) == 12 and reports["train"].counts == {"negative price": 1}
    assert loaded["train"][0]["text"] == "Summary of product 0"  # summary → text

    stream = load_items("tester/items_full_raw", split="train", streaming=True)
    streamed = list(stream)
    assert [row["id"] for row in streamed] == [f"p{i}" for i in range(12)]

    # a prepared (cleaned) dataset round-trips through push_dataset_to_hub
    push_dataset_to_hub(loaded, "tester/items_clean")
    again = load_items("tester/items_clean")
    assert again["validation"]["price"] == loaded["validation"]["price"]
    with pytest.raises(ValueError, match="item schema"):
        push_dataset_to_hub(Dataset.from_dict({"x": [1]}), "tester/not_items")


def test_recipe_streams_a_hub_dataset_into_the_trainer(hub_server, tmp_path):
    import train_residual

    DatasetDict(
        train=Dataset.from_list(items_full_like_rows(40)),
        test=Dataset.from_list(items_full_like_rows(8, offset=500)),
    ).push_to_hub("tester/items_stream")
    trainer = train_residual.main([
        "--dataset", "tester/items_stream", "--streaming", "true", "--max_steps", "3",
        "--num_features", "128", "--num_layers", "3", "--hidden_size", "16", "--per_device_train_batch_size", "8",
        "--eval_strategy", "no", "--save_strategy", "no", "--load_best_model_at_end", "false",
        "--output_dir", str(tmp_path), "--disable_tqdm", "true",
    ])
    assert trainer.state.global_step == 3
    assert ModelCard.load(tmp_path / "README.md").data.eval_results  # evaluated on the streamed test split


def tiny_dual(tmp_path):
    """A tiny dual-encoder and its processor (MiniLM tokenizer, 64 px images)."""
    from transformers import AutoTokenizer, BertConfig

    from hf_pricer import DualEncoderConfig, DualEncoderForPriceRegression, DualEncoderImageProcessor, DualEncoderProcessor
    from hf_pricer.pretrained import minilm_path

    torch.manual_seed(0)
    text_config = BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)
    config = DualEncoderConfig(text_config=text_config, image_encoder="mobilenetv3_small_050", image_size=64,
                               projection_dim=32, num_attention_heads=4, head_hidden_sizes=[32, 16, 8])
    processor = DualEncoderProcessor(
        image_processor=DualEncoderImageProcessor(size=64), tokenizer=AutoTokenizer.from_pretrained(minilm_path())
    )
    return DualEncoderForPriceRegression(config).eval(), processor


def test_dual_encoder_hub_round_trip_and_remote_code(hub_server, tmp_path):
    from PIL import Image
    from transformers import AutoProcessor

    model, processor = tiny_dual(tmp_path)
    push_model_to_hub(model, "tester/dual-tiny", processor=processor, predictions=[5.0, 50.0], labels=[6.0, 40.0])
    image_path = tmp_path / "red.png"
    Image.new("RGB", (80, 60), (200, 30, 30)).save(image_path)
    inputs = dict(images=[str(image_path), None], text=["steel kettle", ""])
    expected = model(**processor(**inputs)).predictions

    loaded = AutoModel.from_pretrained("tester/dual-tiny").eval()
    loaded_processor = AutoProcessor.from_pretrained("tester/dual-tiny")
    for (name, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), name
    torch.testing.assert_close(loaded(**loaded_processor(**inputs)).predictions, expected)

    script = textwrap.dedent(
        f"""
        import json, sys
        from transformers import AutoModel, AutoProcessor
        assert "hf_pricer" not in sys.modules
        model = AutoModel.from_pretrained("tester/dual-tiny", trust_remote_code=True).eval()
        processor = AutoProcessor.from_pretrained("tester/dual-tiny", trust_remote_code=True)
        inputs = dict(images=[{str(image_path)!r}, None], text=["steel kettle", ""])
        predictions = model(**processor(**inputs)).predictions.tolist()
        print("RESULT=" + json.dumps({{"module": type(model).__module__, "predictions": predictions}}))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, timeout=300,
        stdin=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": ""},
    )
    assert "RESULT=" in result.stdout, result.stdout[-2000:] + result.stderr[-2000:]
    report = json.loads(result.stdout.split("RESULT=")[-1])
    assert report["module"].startswith("transformers_modules")
    assert report["predictions"] == pytest.approx(expected.tolist(), rel=1e-5)
