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
