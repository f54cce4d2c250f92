"""Residual price regressor: hashed bag-of-words → deep residual MLP → price."""

from hf_pricer.registration import register_model

from .configuration_residual_regressor import ResidualRegressorConfig
from .modeling_residual_regressor import ResidualRegressorForPriceRegression, ResidualRegressorPreTrainedModel
from .processing_residual_regressor import ResidualRegressorCollator, ResidualRegressorProcessor

register_model(
    ResidualRegressorConfig,
    models={"AutoModel": ResidualRegressorForPriceRegression},
    processors={"AutoFeatureExtractor": ResidualRegressorProcessor},
)

__all__ = [
    "ResidualRegressorCollator",
    "ResidualRegressorConfig",
    "ResidualRegressorForPriceRegression",
    "ResidualRegressorPreTrainedModel",
    "ResidualRegressorProcessor",
]
