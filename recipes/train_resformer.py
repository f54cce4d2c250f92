"""Train the Resformer (seed 001): read an entity's value and unit off a product image.

    python recipes/train_resformer.py                                      # CPU preset: rendered labels, 128 px
    python recipes/train_resformer.py recipes/configs/resformer_seed.yaml  # seed sizes: 400 px, d_model 2048

The default data are rendered product labels (`hf_pricer.data.label_images`): training on the "train"
split, evaluation on the "test" split, whose (value, unit) pairs never occur in training. Writes the model,
processor, `predictions.csv` (`index,prediction`, checked with the challenge's sanity checker), the rows it
answers (`test.csv`) and a model card with F1. Flags override the values of a config file; see `--help`.
"""

import csv
import logging
import os
from dataclasses import dataclass, field, fields

import hf_pricer
from hf_pricer.cli import parse_recipe_args, setup_recipe
from hf_pricer.data.entities import sanity_check
from hf_pricer.data.label_images import generate_label_images

CPU_PRESET = os.path.join(os.path.dirname(__file__), "configs", "resformer_cpu.yaml")
logger = logging.getLogger("train_resformer")


@dataclass
class ModelArguments:
    model_name_or_path: str | None = field(default=None, metadata={"help": "Continue from a saved Resformer."})
    preset: str = field(default="cpu", metadata={"help": "'cpu' (small, ResformerConfig.cpu_preset) or 'seed'."})
    # Unset fields keep the preset's value.
    image_size: int | None = None
    resnet_hidden_sizes: list[int] | None = None
    resnet_depths: list[int] | None = None
    resnet_strides: list[int] | None = None
    resnet_attention_stages: list[int] | None = None
    resnet_attention_heads: int | None = None
    patch_size: int | None = None
    d_model: int | None = None
    num_attention_heads: int | None = None
    encoder_layers: int | None = None
    decoder_layers: int | None = None
    ffn_dim: int | None = None
    dropout: float | None = None
    max_target_positions: int | None = None

    def config(self) -> hf_pricer.ResformerConfig:
        overrides = {f.name: getattr(self, f.name) for f in fields(self)[2:] if getattr(self, f.name) is not None}
        if self.preset == "cpu":
            return hf_pricer.ResformerConfig.cpu_preset(**overrides)
        if self.preset == "seed":
            return hf_pricer.ResformerConfig(**overrides)
        raise ValueError(f"`preset` must be 'cpu' or 'seed', got {self.preset!r}")


@dataclass
class DataArguments:
    dataset: str = field(default="labels", metadata={"help": "'labels': rendered product labels (offline)."})
    train_size: int = 20000
    eval_size: int = 500
    empty_fraction: float = field(default=0.05, metadata={"help": "Share of labels showing no value."})
    data_seed_offset: int = field(default=0, metadata={"help": "Added to --seed for the rendered data."})


ARGUMENT_TYPES = (ModelArguments, DataArguments, hf_pricer.PricerSeq2SeqTrainingArguments)


def load_data(data_args, image_size: int, seed: int):
    if data_args.dataset != "labels":
        raise ValueError(f"`dataset` must be 'labels', got {data_args.dataset!r}")
    seed += data_args.data_seed_offset
    render = dict(seed=seed, image_size=image_size, empty_fraction=data_args.empty_fraction)
    return (
        generate_label_images(data_args.train_size, split="train", **render),
        generate_label_images(data_args.eval_size, split="test", **render),
    )


def write_predictions(output_dir: str, rows, predictions: list[str]) -> str:
    """`predictions.csv` (`index,prediction`) and `test.csv` (the rows it answers), sanity-checked."""
    test_file, output_file = os.path.join(output_dir, "test.csv"), os.path.join(output_dir, "predictions.csv")
    with open(test_file, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["index", "entity_name", "entity_value"])
        writer.writerows(zip(rows["id"], rows["entity_name"], rows["entity_value"], strict=True))
    with open(output_file, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["index", "prediction"])
        writer.writerows(zip(rows["id"], predictions, strict=True))
    logger.info("sanity check of %s: %s", output_file, sanity_check(test_file, output_file))
    return output_file


def main(args=None):
    model_args, data_args, training_args = parse_recipe_args(ARGUMENT_TYPES, CPU_PRESET, args)
    setup_recipe(training_args)
    if model_args.model_name_or_path:
        model = hf_pricer.ResformerForConditionalGeneration.from_pretrained(model_args.model_name_or_path)
        processor = hf_pricer.ResformerProcessor.from_pretrained(model_args.model_name_or_path)
    else:
        model = hf_pricer.ResformerForConditionalGeneration(model_args.config())
        processor = hf_pricer.ResformerProcessor(
            hf_pricer.ResformerImageProcessor(size=model.config.image_size),
            hf_pricer.ResformerTokenizer(entity_units=model.config.entity_units),
        )
    train_rows, eval_rows = load_data(data_args, model.config.image_size, training_args.seed)
    logger.info("%s with %s parameters; %d training and %d held-out rows", type(model).__name__,
                f"{model.num_parameters():,}", len(train_rows), len(eval_rows))

    trainer = hf_pricer.PricerSeq2SeqTrainer(
        model=model,
        args=training_args,
        train_dataset=train_rows,
        eval_dataset=eval_rows,
        data_collator=hf_pricer.ResformerCollator(processor, train=True),
        processing_class=processor,
        compute_metrics=hf_pricer.ResformerMetrics(processor, eval_rows["entity_name"]),
    )
    trainer.train()
    trainer.save_model()
    output = trainer.finish(eval_rows, data_args.dataset)
    if trainer.is_world_process_zero():
        write_predictions(training_args.output_dir, eval_rows, processor.decode_predictions(output.predictions))
    if processor.image_report.skipped:
        logger.warning("images replaced by blank ones: %s", processor.image_report.summary())
    return trainer


if __name__ == "__main__":
    main()
