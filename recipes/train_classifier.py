"""Stage 1 of the dual-embedding regressor (seed 003): a ViT embedding classifier of the company or model label.

    accelerate launch recipes/train_classifier.py --label_field company --output_dir outputs/company-classifier
    accelerate launch recipes/train_classifier.py --label_field model --output_dir outputs/model-classifier
    python recipes/train_classifier.py recipes/configs/classifier_seed.yaml --label_field company ...

Without `--train_json` the embedded synthetic catalog is written in the seed's JSON format and used (CPU preset:
a small ViT from scratch). The checkpoint (with its `ViTImageProcessor`) is what `train_dual_embedding.py`
takes as `--company_classifier` / `--model_classifier`.
"""

import logging
import os
from dataclasses import dataclass, field

from transformers import ViTConfig

import hf_pricer
from hf_pricer.cli import parse_recipe_args, setup_recipe
from hf_pricer.models.dual_embedding import (
    EmbeddingClassifierCollator,
    RecordsDataArguments,
    classification_metrics,
    keep_known_labels,
    label_vocabulary,
    vit_image_processor,
)

CPU_PRESET = os.path.join(os.path.dirname(__file__), "configs", "classifier_cpu.yaml")
logger = logging.getLogger("train_classifier")


@dataclass
class ModelArguments:
    label_field: str = field(default="company", metadata={"help": "company | model"})
    vit_model_name_or_path: str | None = field(
        default=None, metadata={"help": "Pretrained ViTModel (Hub id or folder); default: the ViT below, from scratch."}
    )
    image_size: int = 224
    patch_size: int = 16
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    embedding_dim: int = field(default=256, metadata={"help": "128 | 256 | 512 in the seed's search."})
    dropout: float = 0.1


ARGUMENT_TYPES = (ModelArguments, RecordsDataArguments, hf_pricer.PricerTrainingArguments)


def build_classifier(model_args, id2label):
    kwargs = dict(
        id2label=id2label, embedding_dim=model_args.embedding_dim, dropout=model_args.dropout,
        label_field=model_args.label_field,
    )
    if model_args.vit_model_name_or_path:
        return hf_pricer.EmbeddingClassifierForImageClassification.from_vit(model_args.vit_model_name_or_path, **kwargs)
    vision_config = ViTConfig(
        image_size=model_args.image_size, patch_size=model_args.patch_size, hidden_size=model_args.hidden_size,
        num_hidden_layers=model_args.num_hidden_layers, num_attention_heads=model_args.num_attention_heads,
        intermediate_size=model_args.intermediate_size,
    )
    return hf_pricer.EmbeddingClassifierForImageClassification(
        hf_pricer.EmbeddingClassifierConfig(vision_config=vision_config, **kwargs)
    )


def main(args=None):
    model_args, data_args, training_args = parse_recipe_args(ARGUMENT_TYPES, CPU_PRESET, args)
    setup_recipe(training_args)
    train, val = data_args.load(model_args.image_size, training_args.seed)
    field_name = model_args.label_field
    model = build_classifier(model_args, label_vocabulary(train, field_name))
    if val is not None:
        val, _ = keep_known_labels(val, field_name, model.config.label2id)
    processor = vit_image_processor(model.config.vision_config.image_size)
    logger.info("%s classifier: %d classes, %s parameters", field_name, model.config.num_labels,
                f"{model.num_parameters():,}")

    trainer = hf_pricer.PricerTrainer(
        model=model,
        args=training_args,
        train_dataset=train,
        eval_dataset=val,
        data_collator=EmbeddingClassifierCollator(processor, field_name, model.config.label2id),
        processing_class=processor,
        compute_metrics=classification_metrics,
    )
    trainer.train()
    trainer.save_model()
    trainer.finish(val, data_args.train_json or "catalog")
    return trainer


if __name__ == "__main__":
    main()
