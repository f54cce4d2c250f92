"""A model exported to ONNX (`hf-pricer export`), served by ONNX Runtime behind the `PreTrainedModel` interface."""

from hf_pricer.registration import register_model

from .configuration_onnx_runtime import OnnxRuntimeConfig
from .modeling_onnx_runtime import (
    OnnxRuntimeForPriceRegression,
    OnnxRuntimeModel,
    OnnxRuntimeOutput,
    OnnxRuntimePreTrainedModel,
)

register_model(OnnxRuntimeConfig, models={"AutoModel": OnnxRuntimeModel})

__all__ = [
    "OnnxRuntimeConfig",
    "OnnxRuntimeForPriceRegression",
    "OnnxRuntimeModel",
    "OnnxRuntimeOutput",
    "OnnxRuntimePreTrainedModel",
]
