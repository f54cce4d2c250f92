"""Train an embedding classifier, stage 1 of the dual-embedding regressor: a ViT whose projected `[CLS]` state
classifies an image's company or model label. Without --train_json the embedded synthetic catalog is written as
JSON records and used, with a small ViT trained from scratch (the CPU preset); the checkpoint (with its
ViTImageProcessor) is what train_dual_embedding.py takes as --company_classifier / --model_classifier.

    accelerate launch recipes/train_classifier.py --label_field company --output_dir outputs/company-classifier
    accelerate launch recipes/train_classifier.py --label_field model --output_dir outputs/model-classifier
    python recipes/train_classifier.py recipes/configs/classifier_design.yaml --label_field company

Splits: --val_json (the catalog's validation records) chooses the checkpoint; --test_json, or else --test_size of
the training records, is the held-out test split, evaluated once at the end.
"""

import logging
import os
from dataclasses import dataclass, field

import recipe_cli  # noqa: F401 -- answers --help before torch is imported

from hf_pricer.cli import ConfigFlags, RecordsDataArguments, parse_recipe_args, setup_recipe

CPU_PRESET = os.path.join(os.path.dirname(__file__), "configs", "classifier_cpu.yaml")
logger = logging.getLogger("train_classifier")

ModelArguments = ConfigFlags(
    "hf_pricer.models.embedding_classifier.configuration_embedding_classifier:EmbeddingClassifierConfig"
)
VisionArguments = ConfigFlags(
    "transformers.models.vit.configuration_vit:ViTConfig",
    include=("image_size", "patch_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size"),
    name="VisionArguments",
)


@dataclass
class BackboneArguments:
    vit_model_name_or_path: str | None = field(
        default=None, metadata={"help": "Pretrained ViTModel (Hub id or folder); default: a ViT from scratch."}
    )


ARGUMENT_TYPES = (ModelArguments, VisionArguments, BackboneArguments, RecordsDataArguments,
                  "hf_pricer.trainer:PricerTrainingArguments")


def build_classifier(model_args, vision_args, backbone, id2label):
    from transformers import ViTConfig

    import hf_pricer

    kwargs = {**model_args.config_kwargs(), "id2label": id2label}
    if backbone.vit_model_name_or_path:
        return hf_pricer.EmbeddingClassifierForImageClassification.from_vit(backbone.vit_model_name_or_path, **kwargs)
    vision_config = ViTConfig(**vision_args.config_kwargs())
    return hf_pricer.EmbeddingClassifierForImageClassification(
        hf_pricer.EmbeddingClassifierConfig(vision_config=vision_config, **kwargs)
    )


def main(args=None):
    model_args, vision_args, backbone, data_args, training_args = parse_recipe_args(
        ARGUMENT_TYPES, CPU_PRESET, args, __doc__
    )
    setup_recipe(training_args)
    from transformers import ViTConfig

    import hf_pricer
    from hf_pricer.data.records import keep_known_labels, label_vocabulary
    from hf_pricer.image_processing_utils import vit_image_processor
    from hf_pricer.metrics import classification_metrics

    image_size = vision_args.image_size or ViTConfig().image_size
    train, val, test = data_args.load(image_size, training_args.seed)
    field_name = model_args.label_field or hf_pricer.EmbeddingClassifierConfig().label_field
    model = build_classifier(model_args, vision_args, backbone, label_vocabulary(train, field_name))
    if val is not None:
        val, _ = keep_known_labels(val, field_name, model.config.label2id)
    test, _ = keep_known_labels(test, field_name, model.config.label2id)
    processor = vit_image_processor(model.config.vision_config.image_size)
    logger.info("%s classifier: %d classes, %s parameters", field_name, model.config.num_labels,
                f"{model.num_parameters():,}")

    trainer = hf_pricer.PricerTrainer(
        model=model,
        args=training_args,
        train_dataset=train,
        eval_dataset=val,
        data_collator=hf_pricer.EmbeddingClassifierCollator(processor, field_name, model.config.label2id),
        processing_class=processor,
        compute_metrics=classification_metrics,
    )
    trainer.train()
    trainer.save_model()
    trainer.finish(val, data_args.train_json or "catalog", test_dataset=test)
    return trainer


if __name__ == "__main__":
    main()
