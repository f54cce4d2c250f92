"""Dual-encoder price model: product image + text → cross-modal attention → price."""

from hf_pricer.registration import register_model

from .configuration_dual_encoder import DualEncoderConfig
from .image_processing_dual_encoder import DualEncoderImageProcessor
from .modeling_dual_encoder import DualEncoderForPriceRegression, DualEncoderPreTrainedModel
from .processing_dual_encoder import DualEncoderCollator, DualEncoderProcessor

register_model(
    DualEncoderConfig,
    models={"AutoModel": DualEncoderForPriceRegression},
    processors={"AutoImageProcessor": DualEncoderImageProcessor, "AutoProcessor": DualEncoderProcessor},
)

__all__ = [
    "DualEncoderCollator",
    "DualEncoderConfig",
    "DualEncoderForPriceRegression",
    "DualEncoderImageProcessor",
    "DualEncoderPreTrainedModel",
    "DualEncoderProcessor",
]
