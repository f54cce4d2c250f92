"""Train the embedding aligner: a caption's text embedding → the embedding of the image it describes, evaluated by
retrieval (recall@k, MRR, median rank). Without arguments it trains the CPU preset on the embedded catalog's
captions and images, embedded offline with all-MiniLM-L6-v2 and EfficientNet-Lite0, and writes the model,
eval/test results, an analysis/ folder (distances vs. baselines, a retrieval figure) and a model card.

    accelerate launch recipes/train_aligner.py
    python recipes/train_aligner.py --train_file data/train.npz --validation_file data/test.npz \\
        --test_file data/test.clean.npz --images_dir images/ --output_dir out
    python recipes/train_aligner.py recipes/configs/aligner_design.yaml

Build .npz files from raw captions and images with `hf-pricer embed`. Splits, by image: --test_size of the training
file's images are held out as the test split, evaluated once at the end; the validation split is
--validation_file, or else --validation_size of the remaining images. --test_file (test.clean.npz, unlabelled)
gets submission.csv (id, embedding).
"""

import logging
import os
from dataclasses import dataclass, field

import recipe_cli  # noqa: F401 -- answers --help before torch is imported

from hf_pricer.cli import ConfigFlags, parse_recipe_args, setup_recipe

CPU_PRESET = os.path.join(os.path.dirname(__file__), "configs", "aligner_cpu.yaml")
CATALOG = "catalog"
logger = logging.getLogger("train_aligner")


# The embedding sizes come from the data.
ModelArguments = ConfigFlags(
    "hf_pricer.models.embedding_aligner.configuration_embedding_aligner:EmbeddingAlignerConfig",
    exclude=("in_dim", "out_dim"),
)


@dataclass
class CheckpointArguments:
    model_name_or_path: str | None = field(default=None, metadata={"help": "Continue from a saved aligner."})


@dataclass
class DataArguments:
    train_file: str = field(default=CATALOG, metadata={"help": "Train-layout .npz, or 'catalog' (embedded offline)."})
    validation_file: str | None = field(default=None, metadata={"help": "Train-layout .npz with held-out images."})
    validation_size: float = field(default=0.2, metadata={"help": "Without --validation_file: images held out of train."})
    test_size: float = field(default=0.2, metadata={"help": "Images of the training file held out as the test split."})
    test_file: str | None = field(default=None, metadata={"help": "test.clean.npz: captions to write a submission for."})
    submission_file: str = "submission.csv"
    images_dir: str | None = field(default=None, metadata={"help": "Folder of the images, for the retrieval figure."})
    catalog_size: int = 300
    save_every_epochs: int = field(default=5, metadata={"help": "Checkpoint every N epochs (0: use save_strategy)."})
    num_examples: int = 4


ARGUMENT_TYPES = (ModelArguments, CheckpointArguments, DataArguments, "hf_pricer.trainer:PricerTrainingArguments")


def load_data(data_args, seed: int):
    """Train, validation and test `AlignmentData` (validation and test may be None), and a validation row → image
    lookup for the retrieval figure (or None)."""
    import hf_pricer
    from hf_pricer.data import embedders

    if data_args.train_file == CATALOG:
        data = embedders.cached_catalog_data(data_args.catalog_size, seed=0)
    else:
        data = hf_pricer.load_alignment_npz(data_args.train_file, require_images=True)
    train, test = data.split_by_image(data_args.test_size, seed=seed) if data_args.test_size > 0 else (data, None)
    if data_args.validation_file:
        validation = hf_pricer.load_alignment_npz(data_args.validation_file, require_images=True)
    elif data_args.validation_size > 0:
        train, validation = train.split_by_image(data_args.validation_size, seed=seed)
    else:
        validation = None
    if validation is None:
        return train, None, test, None
    if data_args.train_file == CATALOG:
        images = embedders.catalog_images(data_args.catalog_size, seed=0)
        return train, validation, test, lambda row: images[str(validation.image_names[row])]
    if data_args.images_dir:
        return train, validation, test, lambda row: os.path.join(data_args.images_dir, str(validation.image_names[row]))
    return train, validation, test, None


def main(args=None):
    model_args, checkpoint, data_args, training_args = parse_recipe_args(ARGUMENT_TYPES, CPU_PRESET, args, __doc__)
    setup_recipe(training_args)
    import numpy as np

    import hf_pricer
    from hf_pricer.metrics.retrieval import alignment_report, compute_retrieval_metrics
    from hf_pricer.trainer import SaveEveryEpochsCallback

    with training_args.main_process_first(desc="loading and embedding the data"):
        train, validation, test, image = load_data(data_args, training_args.seed)
    logger.info("train: %d captions of %d images; validation: %s", len(train), len(train.image_embeds),
                "none" if validation is None else f"{len(validation)} captions of {len(validation.image_embeds)} images")

    if checkpoint.model_name_or_path:
        model = hf_pricer.EmbeddingAlignerModel.from_pretrained(checkpoint.model_name_or_path)
    else:
        config = hf_pricer.EmbeddingAlignerConfig(
            in_dim=train.caption_embeds.shape[1], out_dim=train.image_embeds.shape[1], **model_args.config_kwargs()
        )
        model = hf_pricer.EmbeddingAlignerModel(config)
    logger.info("%s with %s parameters, world size %d", type(model).__name__, f"{model.num_parameters():,}",
                training_args.world_size)

    trainer = hf_pricer.PricerTrainer(
        model=model,
        args=training_args,
        train_dataset=train.to_dataset(),
        eval_dataset=validation.to_dataset() if validation is not None else None,
        data_collator=hf_pricer.EmbeddingAlignerCollator(),
        compute_metrics=compute_retrieval_metrics,
        callbacks=[SaveEveryEpochsCallback(data_args.save_every_epochs)] if data_args.save_every_epochs > 0 else None,
    )
    trainer.train()
    trainer.save_model()
    if data_args.test_file:
        unlabelled = hf_pricer.load_alignment_npz(data_args.test_file, require_images=False)
        predictions = trainer.predict(unlabelled.to_dataset()).predictions
        if trainer.is_world_process_zero():
            path = hf_pricer.write_submission(os.path.join(training_args.output_dir, data_args.submission_file),
                                              unlabelled.ids, np.asarray(predictions))
            logger.info("wrote %d predictions to %s", len(unlabelled), path)

    def analyse(output):
        alignment_report(
            output.predictions, validation, os.path.join(training_args.output_dir, "analysis"), image=image,
            num_examples=data_args.num_examples, mean_embedding=train.image_embeds.mean(axis=0),
            seed=training_args.seed,
        )

    trainer.finish(trainer.eval_dataset, None if data_args.train_file == CATALOG else data_args.train_file,
                   on_evaluation=analyse, test_dataset=test.to_dataset() if test is not None else None)
    return trainer


if __name__ == "__main__":
    main()
