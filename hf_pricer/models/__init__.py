from .dual_embedding import (
    DualEmbeddingCollator,
    DualEmbeddingConfig,
    DualEmbeddingForRegression,
    DualEmbeddingPreTrainedModel,
    EmbeddingClassifierCollator,
    EmbeddingClassifierConfig,
    EmbeddingClassifierForImageClassification,
    EmbeddingClassifierModel,
)
from .aligner import (
    AlignmentData,
    EmbeddingAlignerCollator,
    EmbeddingAlignerConfig,
    EmbeddingAlignerModel,
    EmbeddingAlignerPreTrainedModel,
    load_alignment_npz,
    read_submission,
    write_submission,
)
from .dual_encoder import (
    DualEncoderCollator,
    DualEncoderConfig,
    DualEncoderForPriceRegression,
    DualEncoderImageProcessor,
    DualEncoderPreTrainedModel,
    DualEncoderProcessor,
)
from .residual import (
    ResidualRegressorCollator,
    ResidualRegressorConfig,
    ResidualRegressorForPrice,
    ResidualRegressorPreTrainedModel,
    ResidualRegressorProcessor,
)
from .resformer import (
    ResformerCollator,
    ResformerConfig,
    ResformerConstrainedLogitsProcessor,
    ResformerForConditionalGeneration,
    ResformerImageProcessor,
    ResformerMetrics,
    ResformerPreTrainedModel,
    ResformerProcessor,
    ResformerTokenizer,
)
