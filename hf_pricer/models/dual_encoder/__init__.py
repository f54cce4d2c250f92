from .configuration_dual_encoder import DualEncoderConfig
from .modeling_dual_encoder import DualEncoderForPriceRegression, DualEncoderPreTrainedModel
from .processing_dual_encoder import DualEncoderCollator, DualEncoderImageProcessor, DualEncoderProcessor

__all__ = [
    "DualEncoderCollator",
    "DualEncoderConfig",
    "DualEncoderForPriceRegression",
    "DualEncoderImageProcessor",
    "DualEncoderPreTrainedModel",
    "DualEncoderProcessor",
]
