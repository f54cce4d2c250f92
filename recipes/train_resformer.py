"""Train the Resformer: read an entity's value and unit (e.g. "500.0 gram") off a product image, given the entity's
name. Without arguments it trains a ~1M-parameter CPU preset on rendered product labels (offline) and writes the
model, its processor, predictions.csv and a model card to outputs/resformer-labels/.

    python recipes/train_resformer.py
    python recipes/train_resformer.py --train_size 2000 --num_train_epochs 1 --output_dir outputs/resformer-small
    python recipes/train_resformer.py --train_file train.csv --test_file test.csv
    python recipes/train_resformer.py recipes/configs/resformer_design.yaml
    python recipes/train_resformer.py recipes/configs/resformer_ocr_cpu.yaml   # photographed labels, OCR tokens

Splits: rendered labels train on --train_size labels, choose the checkpoint on --eval_size of them held out, and are
tested on --eval_size labels whose (value, unit) pairs never occur in training; --dataset photos does the same with
photographed labels (generate_photographed_labels, shelf photos from --backgrounds when given; a training row for
every entity a label shows, validation labels of another seed), adds --rendered_size rendered labels to the training
rows and gives every row simulated OCR lines (`ocr`, for a model with --use_ocr_tokens). Challenge CSVs
(index,image_link,group_id,entity_name[,entity_value]; images downloaded and cached) hold out --test_size of the
training rows as the test split, then validate on --validation_file or --validation_size of the rest;
--test_file (unlabelled) gets predictions.csv, checked with the challenge's sanity checker.
"""

import csv
import logging
import os
from dataclasses import dataclass, field

import recipe_cli  # noqa: F401 -- answers --help before torch is imported

from hf_pricer.cli import ConfigFlags, parse_recipe_args, setup_recipe

CPU_PRESET = os.path.join(os.path.dirname(__file__), "configs", "resformer_cpu.yaml")
logger = logging.getLogger("train_resformer")


# The token-id fields are derived from `entity_units`, never set by hand.
ModelArguments = ConfigFlags(
    "hf_pricer.models.resformer.configuration_resformer:ResformerConfig",
    exclude=("vocab_size", "pad_token_id", "bos_token_id", "eos_token_id", "decoder_start_token_id",
             "digit_token_ids", "decimal_token_id"),
)


@dataclass
class PresetArguments:
    model_name_or_path: str | None = field(default=None, metadata={"help": "Continue from a saved Resformer."})
    preset: str = field(
        default="cpu",
        metadata={"help": "'cpu' (small, ResformerConfig.cpu_preset) or 'design' (the design document's sizes); "
                  "the model flags override it."},
    )

    def config(self, model_args):
        import hf_pricer

        if self.preset == "cpu":
            return hf_pricer.ResformerConfig.cpu_preset(**model_args.config_kwargs())
        if self.preset == "design":
            return hf_pricer.ResformerConfig(**model_args.config_kwargs())
        raise ValueError(f"`preset` must be 'cpu' or 'design', got {self.preset!r}")


@dataclass
class DataArguments:
    dataset: str = field(
        default="labels",
        metadata={"help": "'labels': rendered product labels, 'photos': photographed labels with simulated OCR (both "
                  "offline); ignored with --train_file."},
    )
    backgrounds: str | None = field(
        default=None, metadata={"help": "--dataset photos: a folder of photos (e.g. the Grocery Store Dataset)."}
    )
    attribute_values: str | None = field(
        default=None,
        metadata={"help": "--dataset photos: an items jsonl whose `details` give real attribute strings to print."},
    )
    rendered_size: int = field(
        default=0, metadata={"help": "--dataset photos: clean rendered labels added to the training rows."}
    )
    data_workers: int | None = field(default=None, metadata={"help": "Processes drawing the labels."})
    train_size: int = 20000
    eval_size: int = 500
    empty_fraction: float = field(default=0.05, metadata={"help": "Share of labels showing no value."})
    data_seed_offset: int = field(default=0, metadata={"help": "Added to --seed for the rendered data."})
    train_file: str | None = field(default=None, metadata={"help": "Challenge train CSV (with entity_value)."})
    validation_file: str | None = field(default=None, metadata={"help": "Labelled challenge CSV for evaluation."})
    validation_size: float = field(default=0.05, metadata={"help": "Training rows held out without a validation file."})
    test_size: float = field(default=0.05, metadata={"help": "Challenge CSVs: training rows held out as the test split."})
    test_file: str | None = field(default=None, metadata={"help": "Unlabelled challenge CSV to write predictions for."})
    image_cache_dir: str = field(default=os.path.join("~", ".cache", "hf_pricer", "challenge_images"))
    download_workers: int = 16


ARGUMENT_TYPES = (ModelArguments, PresetArguments, DataArguments, "hf_pricer.trainer:PricerSeq2SeqTrainingArguments")


def _download_options(data_args) -> dict:
    return {"cache_dir": os.path.expanduser(data_args.image_cache_dir), "num_workers": data_args.download_workers}


def load_data(data_args, image_size: int, seed: int):
    """`(train, validation, test)` rows: rendered labels, or the challenge CSVs with their images downloaded."""
    from hf_pricer.data.challenge import load_challenge_dataset
    from hf_pricer.data.label_images import generate_label_images
    from hf_pricer.data.splits import hold_out

    if data_args.train_file:
        download = _download_options(data_args)
        train, test = hold_out(load_challenge_dataset(data_args.train_file, labels=True, **download),
                               data_args.test_size, seed, name="test")
        if data_args.validation_file:
            return train, load_challenge_dataset(data_args.validation_file, labels=True, **download), test
        return (*hold_out(train, data_args.validation_size, seed), test)
    if data_args.dataset not in ("labels", "photos"):
        raise ValueError(f"`dataset` must be 'labels' or 'photos' (or pass --train_file), got {data_args.dataset!r}")
    seed += data_args.data_seed_offset
    if data_args.dataset == "photos":
        return _photographed_splits(data_args, image_size, seed)
    render = dict(seed=seed, image_size=image_size, empty_fraction=data_args.empty_fraction)
    train, validation = hold_out(generate_label_images(data_args.train_size + data_args.eval_size, split="train",
                                                       **render), data_args.eval_size, seed)
    return train, validation, generate_label_images(data_args.eval_size, split="test", **render)


def _photographed_splits(data_args, image_size: int, seed: int):
    """Photographed labels with simulated OCR: `--train_size` labels giving a row for every entity each shows (plus
    `--rendered_size` clean rendered labels), `--eval_size` labels of another seed to validate on and `--eval_size`
    of the test split (unseen (value, unit) pairs), one row each."""
    from datasets import concatenate_datasets

    from hf_pricer.data.label_images import generate_label_images, generate_photographed_labels

    photos = dict(empty_fraction=data_args.empty_fraction, backgrounds=data_args.backgrounds,
                  attribute_values=data_args.attribute_values, num_proc=data_args.data_workers)
    train = generate_photographed_labels(data_args.train_size, seed=seed, split="train", rows="all", **photos)
    train = train.remove_columns("label_id")
    if data_args.rendered_size:
        rendered = generate_label_images(data_args.rendered_size, seed=seed, image_size=224, split="train",
                                         empty_fraction=data_args.empty_fraction, with_layout=True)
        train = concatenate_datasets([train, rendered.cast(train.features)])
    validation = generate_photographed_labels(data_args.eval_size, seed=seed + 1, split="train", **photos)
    test = generate_photographed_labels(data_args.eval_size, seed=seed, split="test", **photos)
    return tuple(_with_simulated_ocr(rows, seed + k, image_size, data_args.data_workers)
                 for k, rows in enumerate((train, validation, test)))


def _with_simulated_ocr(rows, seed: int, image_size: int, num_proc: int | None = None):
    """`rows` with an `ocr` column, RapidOCR-like lines simulated from each photo's printed layout, and their images
    resized once to the model's `image_size` (the OCR lines carry the print; the layout's boxes are on 0-1000)."""
    import io

    import numpy as np
    from datasets import Image as ImageFeature
    from PIL import Image

    from hf_pricer.data.ocr import simulate_ocr

    def simulate(row, index):
        image = Image.open(io.BytesIO(row["image"]["bytes"]))
        ocr = simulate_ocr(row["layout"], image.size, np.random.default_rng([seed, index]))
        small = image.convert("RGB").resize((image_size, image_size), Image.Resampling.BILINEAR)
        buffer = io.BytesIO()
        small.save(buffer, format="PNG")
        return {"ocr": ocr, "image": {"bytes": buffer.getvalue(), "path": None}}

    rows = rows.cast_column("image", ImageFeature(decode=False))
    rows = rows.map(simulate, with_indices=True, num_proc=num_proc, desc="simulated OCR")
    return rows.cast_column("image", ImageFeature())


def write_predictions(output_dir: str, rows, predictions: list[str], test_file: str | None = None) -> str:
    """`predictions.csv` (`index,prediction`) for `rows`, sanity-checked against `test_file`; without one,
    the rows are written to `test.csv` (`index,entity_name,entity_value`) and checked against it."""
    from hf_pricer.data.entities import sanity_check

    index = rows["index"] if "index" in rows.column_names else rows["id"]
    output_file = os.path.join(output_dir, "predictions.csv")
    if test_file is None:
        test_file = os.path.join(output_dir, "test.csv")
        with open(test_file, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["index", "entity_name", "entity_value"])
            writer.writerows(zip(index, rows["entity_name"], rows["entity_value"], strict=True))
    with open(output_file, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["index", "prediction"])
        writer.writerows(zip(index, predictions, strict=True))
    logger.info("sanity check of %s: %s", output_file, sanity_check(test_file, output_file))
    return output_file


def main(args=None):
    model_args, preset, data_args, training_args = parse_recipe_args(ARGUMENT_TYPES, CPU_PRESET, args, __doc__)
    setup_recipe(training_args)
    import hf_pricer
    from hf_pricer.data.challenge import load_challenge_dataset

    if preset.model_name_or_path:
        model = hf_pricer.ResformerForConditionalGeneration.from_pretrained(preset.model_name_or_path)
        processor = hf_pricer.ResformerProcessor.from_pretrained(preset.model_name_or_path)
    else:
        model = hf_pricer.ResformerForConditionalGeneration(preset.config(model_args))
        processor = hf_pricer.ResformerProcessor.for_config(
            hf_pricer.ResformerImageProcessor(size=model.config.image_size),
            hf_pricer.ResformerTokenizer(entity_units=model.config.entity_units),
            model.config,
        )
    train_rows, validation_rows, test_rows = load_data(data_args, model.config.image_size, training_args.seed)
    logger.info("%s with %s parameters; %d training, %d validation and %d test rows", type(model).__name__,
                f"{model.num_parameters():,}", len(train_rows), len(validation_rows), len(test_rows))

    trainer = hf_pricer.PricerSeq2SeqTrainer(
        model=model,
        args=training_args,
        train_dataset=train_rows,
        eval_dataset=validation_rows,
        data_collator=hf_pricer.ResformerCollator(processor, train=True),
        processing_class=processor,
        compute_metrics=hf_pricer.EntityValueMetrics(processor, validation_rows["entity_name"]),
    )
    trainer.train()
    trainer.save_model()
    evaluation = trainer.finish(validation_rows, data_args.train_file or data_args.dataset, test_dataset=test_rows,
                                test_metrics=hf_pricer.EntityValueMetrics(processor, test_rows["entity_name"]))
    output, rows = evaluation.test, test_rows
    if data_args.test_file:
        rows = load_challenge_dataset(data_args.test_file, labels=False, **_download_options(data_args))
        output = trainer.predict(rows, metric_key_prefix="predict")
    if trainer.is_world_process_zero():
        write_predictions(training_args.output_dir, rows, processor.decode_predictions(output.predictions),
                          test_file=data_args.test_file)
    if processor.image_report.skipped:
        logger.warning("images replaced by blank ones: %s", processor.image_report.summary())
    return trainer


if __name__ == "__main__":
    main()
