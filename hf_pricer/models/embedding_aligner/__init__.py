"""Embedding aligner: text embedding → image embedding MLP, for text-to-image retrieval."""

from hf_pricer.registration import register_model

from .configuration_embedding_aligner import EmbeddingAlignerConfig
from .modeling_embedding_aligner import EmbeddingAlignerModel, EmbeddingAlignerOutput, EmbeddingAlignerPreTrainedModel
from .processing_embedding_aligner import EmbeddingAlignerCollator

register_model(EmbeddingAlignerConfig, models={"AutoModel": EmbeddingAlignerModel})

__all__ = [
    "EmbeddingAlignerCollator",
    "EmbeddingAlignerConfig",
    "EmbeddingAlignerModel",
    "EmbeddingAlignerOutput",
    "EmbeddingAlignerPreTrainedModel",
]
