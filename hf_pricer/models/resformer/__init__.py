"""Resformer: product image + entity name → "<value> <unit>" (e.g. "2.5 kilogram"), generated token by token."""

from hf_pricer.registration import register_model

from .configuration_resformer import ResformerConfig
from .image_processing_resformer import ResformerImageProcessor
from .modeling_resformer import (
    ResformerConstrainedLogitsProcessor,
    ResformerForConditionalGeneration,
    ResformerOutput,
    ResformerPreTrainedModel,
)
from .processing_resformer import ResformerCollator, ResformerProcessor
from .tokenization_resformer import ResformerTokenizer

register_model(
    ResformerConfig,
    models={"AutoModel": ResformerForConditionalGeneration, "AutoModelForImageTextToText": ResformerForConditionalGeneration},
    processors={
        "AutoTokenizer": ResformerTokenizer,
        "AutoImageProcessor": ResformerImageProcessor,
        "AutoProcessor": ResformerProcessor,
    },
)

__all__ = [
    "ResformerCollator",
    "ResformerConfig",
    "ResformerConstrainedLogitsProcessor",
    "ResformerForConditionalGeneration",
    "ResformerImageProcessor",
    "ResformerOutput",
    "ResformerPreTrainedModel",
    "ResformerProcessor",
    "ResformerTokenizer",
]
