from .configuration_resformer import ResformerConfig
from .modeling_resformer import (
    ResformerConstrainedLogitsProcessor,
    ResformerForConditionalGeneration,
    ResformerOutput,
    ResformerPreTrainedModel,
)
from .processing_resformer import ResformerCollator, ResformerImageProcessor, ResformerMetrics, ResformerProcessor
from .tokenization_resformer import ResformerTokenizer

__all__ = [
    "ResformerCollator",
    "ResformerConfig",
    "ResformerConstrainedLogitsProcessor",
    "ResformerForConditionalGeneration",
    "ResformerImageProcessor",
    "ResformerMetrics",
    "ResformerOutput",
    "ResformerPreTrainedModel",
    "ResformerProcessor",
    "ResformerTokenizer",
]
