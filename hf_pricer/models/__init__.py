from .residual import (
    ResidualRegressorCollator,
    ResidualRegressorConfig,
    ResidualRegressorForPrice,
    ResidualRegressorPreTrainedModel,
    ResidualRegressorProcessor,
)
