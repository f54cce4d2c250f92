from .configuration_residual import ResidualRegressorConfig
from .modeling_residual import ResidualRegressorForPrice, ResidualRegressorPreTrainedModel
from .processing_residual import ResidualRegressorCollator, ResidualRegressorProcessor

__all__ = [
    "ResidualRegressorCollator",
    "ResidualRegressorConfig",
    "ResidualRegressorForPrice",
    "ResidualRegressorPreTrainedModel",
    "ResidualRegressorProcessor",
]
