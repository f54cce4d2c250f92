"""Configuration of a model exported to ONNX and served by ONNX Runtime (see `hf_pricer.exporters.onnx`)."""

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig

from hf_pricer.configuration_utils import PipelineConfigMixin

QUANTIZATIONS = (None, "int8")


@strict
class OnnxRuntimeConfig(PipelineConfigMixin, PreTrainedConfig):
    r"""
    Configuration of an exported folder: which ONNX graph to run, its inputs and outputs, and the configuration of
    the model it was exported from (kept whole, see [`source_config`]). `hf-pricer export` writes it; the folder also
    holds the model's processor, so `AutoModel`, `AutoProcessor` and `pipeline("price-regression", model=folder)`
    load it as they load the model itself.

    Args:
        source_config (`dict`, *optional*):
            The exported model's configuration, as its `to_dict()` (with `model_type` and `architectures`).
        task (`str`, *optional*):
            `"price-regression"` for price models (served by the pipeline of that name), else `None`.
        onnx_file (`str`, *optional*, defaults to `"model.onnx"`):
            The graph's file in the folder.
        input_names (`list[str]`, *optional*):
            The graph's inputs, named as the model's `forward` arguments.
        output_names (`list[str]`, *optional*):
            The graph's outputs, named as the fields of the model's output.
        quantization (`str`, *optional*):
            `None` (fp32 weights) or `"int8"` (ONNX Runtime dynamic quantization: int8 weights, activations quantized
            per batch).
        opset_version (`int`, *optional*):
            ONNX opset of the graph.
    """

    model_type = "hf_pricer_onnx_runtime"

    source_config: dict | None = None
    task: str | None = None
    onnx_file: str = "model.onnx"
    input_names: list[str] | None = None
    output_names: list[str] | None = None
    quantization: str | None = None
    opset_version: int | None = None

    def validate_architecture(self):
        """Part of `@strict`-powered validation."""
        if self.quantization not in QUANTIZATIONS:
            raise ValueError(f"`quantization` must be one of {QUANTIZATIONS}, got {self.quantization!r}")

    def source(self) -> PreTrainedConfig:
        """The exported model's configuration, as its own config class (`AutoConfig.for_model`)."""
        from transformers import AutoConfig

        if not self.source_config:
            raise ValueError("this OnnxRuntimeConfig names no `source_config`")
        settings = dict(self.source_config)
        return AutoConfig.for_model(settings.pop("model_type"), **settings)


__all__ = ["OnnxRuntimeConfig"]
