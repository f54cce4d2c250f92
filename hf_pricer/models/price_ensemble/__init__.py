"""Price ensemble: hf_pricer price models, a LightGBM member and a linear member, stacked on out-of-fold
predictions."""

from hf_pricer.registration import register_model

from .configuration_price_ensemble import PriceEnsembleConfig
from .modeling_price_ensemble import (
    GradientBoostingPriceMember,
    LinearPriceMember,
    PriceEnsembleForPriceRegression,
    PriceEnsembleOutput,
    PriceEnsemblePreTrainedModel,
)
from .processing_price_ensemble import PriceEnsembleCollator, PriceEnsembleProcessor

register_model(
    PriceEnsembleConfig,
    models={"AutoModel": PriceEnsembleForPriceRegression},
    processors={"AutoFeatureExtractor": PriceEnsembleProcessor},
)

__all__ = [
    "GradientBoostingPriceMember",
    "LinearPriceMember",
    "PriceEnsembleCollator",
    "PriceEnsembleConfig",
    "PriceEnsembleForPriceRegression",
    "PriceEnsembleOutput",
    "PriceEnsemblePreTrainedModel",
    "PriceEnsembleProcessor",
]
