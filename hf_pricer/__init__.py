"""hf_pricer: multimodal product-price and product-attribute models for the Hugging Face ecosystem.

Importing the package registers every config, model, tokenizer and processor with the Auto classes
(`AutoConfig`, `AutoModel`, `AutoModelForImageTextToText`, `AutoModelForImageClassification`,
`AutoTokenizer`, `AutoFeatureExtractor`, `AutoImageProcessor`, `AutoProcessor`), so
`AutoModel.from_pretrained(...)` loads hf_pricer checkpoints.
"""

from transformers import (
    AutoConfig,
    AutoFeatureExtractor,
    AutoImageProcessor,
    AutoModel,
    AutoModelForImageClassification,
    AutoModelForImageTextToText,
    AutoProcessor,
    AutoTokenizer,
)

from . import pretrained

from .data import SkipReport, clean_items, generate_catalog, load_items, log_price_statistics
from .metrics import EVALUATE_METRIC_PATH, compute_metrics, price_metrics, smape
from .modeling_utils import PriceModelMixin, PriceRegressionOutput, PricerLossMixin, price_loss
from .models import (
    AlignmentData,
    DualEmbeddingCollator,
    DualEmbeddingConfig,
    DualEmbeddingForRegression,
    EmbeddingClassifierCollator,
    EmbeddingClassifierConfig,
    EmbeddingClassifierForImageClassification,
    EmbeddingClassifierModel,
    DualEncoderCollator,
    DualEncoderConfig,
    DualEncoderForPriceRegression,
    DualEncoderImageProcessor,
    DualEncoderProcessor,
    EmbeddingAlignerCollator,
    EmbeddingAlignerConfig,
    EmbeddingAlignerModel,
    ResidualRegressorCollator,
    ResidualRegressorConfig,
    ResidualRegressorForPrice,
    ResidualRegressorProcessor,
    ResformerCollator,
    ResformerConfig,
    ResformerConstrainedLogitsProcessor,
    ResformerForConditionalGeneration,
    ResformerImageProcessor,
    ResformerMetrics,
    ResformerProcessor,
    ResformerTokenizer,
    load_alignment_npz,
    read_submission,
    write_submission,
)
from .trainer import (
    FreezeWarmupCallback,
    PricerSeq2SeqTrainer,
    PricerSeq2SeqTrainingArguments,
    PricerTrainer,
    PricerTrainingArguments,
    module_parameter_groups,
)

__version__ = "0.1.0"

AutoConfig.register(ResidualRegressorConfig.model_type, ResidualRegressorConfig)
AutoModel.register(ResidualRegressorConfig, ResidualRegressorForPrice)
AutoFeatureExtractor.register(ResidualRegressorConfig, ResidualRegressorProcessor)
AutoConfig.register(DualEncoderConfig.model_type, DualEncoderConfig)
AutoModel.register(DualEncoderConfig, DualEncoderForPriceRegression)
AutoImageProcessor.register(DualEncoderConfig, image_processor_classes={"torchvision": DualEncoderImageProcessor})
AutoProcessor.register(DualEncoderConfig, DualEncoderProcessor)
AutoConfig.register(EmbeddingAlignerConfig.model_type, EmbeddingAlignerConfig)
AutoModel.register(EmbeddingAlignerConfig, EmbeddingAlignerModel)
AutoConfig.register(EmbeddingClassifierConfig.model_type, EmbeddingClassifierConfig)
AutoModel.register(EmbeddingClassifierConfig, EmbeddingClassifierModel)
AutoModelForImageClassification.register(EmbeddingClassifierConfig, EmbeddingClassifierForImageClassification)
AutoConfig.register(DualEmbeddingConfig.model_type, DualEmbeddingConfig)
AutoModel.register(DualEmbeddingConfig, DualEmbeddingForRegression)
AutoConfig.register(ResformerConfig.model_type, ResformerConfig)
AutoModel.register(ResformerConfig, ResformerForConditionalGeneration)
AutoModelForImageTextToText.register(ResformerConfig, ResformerForConditionalGeneration)
AutoTokenizer.register(ResformerConfig, slow_tokenizer_class=ResformerTokenizer)
AutoImageProcessor.register(ResformerConfig, image_processor_classes={"torchvision": ResformerImageProcessor})
AutoProcessor.register(ResformerConfig, ResformerProcessor)

# Saved checkpoints carry their modeling code and an `auto_map`, so that
# `AutoModel.from_pretrained(repo, trust_remote_code=True)` works where hf_pricer is not imported.
ResidualRegressorConfig.register_for_auto_class()
ResidualRegressorForPrice.register_for_auto_class("AutoModel")
ResidualRegressorProcessor.register_for_auto_class("AutoFeatureExtractor")
DualEncoderConfig.register_for_auto_class()
DualEncoderForPriceRegression.register_for_auto_class("AutoModel")
DualEncoderImageProcessor.register_for_auto_class("AutoImageProcessor")
DualEncoderProcessor.register_for_auto_class("AutoProcessor")
EmbeddingAlignerConfig.register_for_auto_class()
EmbeddingAlignerModel.register_for_auto_class("AutoModel")
EmbeddingClassifierConfig.register_for_auto_class()
EmbeddingClassifierModel.register_for_auto_class("AutoModel")
EmbeddingClassifierForImageClassification.register_for_auto_class("AutoModelForImageClassification")
DualEmbeddingConfig.register_for_auto_class()
DualEmbeddingForRegression.register_for_auto_class("AutoModel")
ResformerConfig.register_for_auto_class()
ResformerForConditionalGeneration.register_for_auto_class("AutoModelForImageTextToText")
ResformerTokenizer.register_for_auto_class("AutoTokenizer")
ResformerImageProcessor.register_for_auto_class("AutoImageProcessor")
ResformerProcessor.register_for_auto_class("AutoProcessor")

__all__ = [
    "AlignmentData",
    "DualEmbeddingCollator",
    "DualEmbeddingConfig",
    "DualEmbeddingForRegression",
    "EmbeddingClassifierCollator",
    "EmbeddingClassifierConfig",
    "EmbeddingClassifierForImageClassification",
    "EmbeddingClassifierModel",
    "DualEncoderCollator",
    "DualEncoderConfig",
    "DualEncoderForPriceRegression",
    "DualEncoderImageProcessor",
    "DualEncoderProcessor",
    "EVALUATE_METRIC_PATH",
    "EmbeddingAlignerCollator",
    "EmbeddingAlignerConfig",
    "EmbeddingAlignerModel",
    "FreezeWarmupCallback",
    "PriceModelMixin",
    "PricerSeq2SeqTrainer",
    "PricerSeq2SeqTrainingArguments",
    "PriceRegressionOutput",
    "PricerLossMixin",
    "PricerTrainer",
    "PricerTrainingArguments",
    "ResidualRegressorCollator",
    "ResidualRegressorConfig",
    "ResidualRegressorForPrice",
    "ResidualRegressorProcessor",
    "ResformerCollator",
    "ResformerConfig",
    "ResformerConstrainedLogitsProcessor",
    "ResformerForConditionalGeneration",
    "ResformerImageProcessor",
    "ResformerMetrics",
    "ResformerProcessor",
    "ResformerTokenizer",
    "SkipReport",
    "clean_items",
    "compute_metrics",
    "generate_catalog",
    "load_alignment_npz",
    "load_items",
    "log_price_statistics",
    "module_parameter_groups",
    "price_loss",
    "pretrained",
    "price_metrics",
    "read_submission",
    "smape",
    "write_submission",
]
