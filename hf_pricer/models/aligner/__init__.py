from .configuration_aligner import EmbeddingAlignerConfig
from .modeling_aligner import EmbeddingAlignerModel, EmbeddingAlignerOutput, EmbeddingAlignerPreTrainedModel
from .processing_aligner import (
    AlignmentData,
    EmbeddingAlignerCollator,
    load_alignment_npz,
    read_submission,
    write_submission,
)

__all__ = [
    "AlignmentData",
    "EmbeddingAlignerCollator",
    "EmbeddingAlignerConfig",
    "EmbeddingAlignerModel",
    "EmbeddingAlignerOutput",
    "EmbeddingAlignerPreTrainedModel",
    "load_alignment_npz",
    "read_submission",
    "write_submission",
]
