"""ONNX export of hf_pricer models: `export_onnx(model_or_path, output_dir, quantize=None)`.

The exported folder holds the graph (`model.onnx`), an `OnnxRuntimeConfig` (`config.json`, with the exported model's
own configuration kept whole in `source_config`) and the model's processor, so that

    AutoModel.from_pretrained(folder)                  # OnnxRuntimeForPriceRegression: runs in ONNX Runtime
    pipeline("price-regression", model=folder)         # serves it (with `import hf_pricer`)

work as they do on the model's own folder. What is exported: the price models (`predictions` in dollars and
`log_price`, from the inputs the processor's `process_items` makes: the residual regressor's dense hashed
features; the dual encoder's `pixel_values`, `input_ids`, `attention_mask`, `token_type_ids` and the missing-modality
flags `has_image`/`has_text`) and the embedding aligner (`text_embeds` → `predictions`). Batch size and text length
are dynamic. The graph is traced by `torch.export` (`torch.onnx.export(..., dynamo=True)`) in eval mode.

`quantize="int8"` applies ONNX Runtime's dynamic quantization to the matrix multiplications (`MatMul`, `Gemm`):
their weights stored as int8, their activations quantized per batch at run time; convolutions stay fp32. The fp32 graph is checked against the eager model on the example
inputs (relative difference at most `rtol`); an int8 graph's difference is reported, not checked.
"""

from __future__ import annotations

import logging
import os
import tempfile
import warnings
from dataclasses import dataclass

import torch
from torch import nn

logger = logging.getLogger(__name__)

ONNX_FILE = "model.onnx"
OPSET_VERSION = 18
QUANTIZED_OPS = ["MatMul", "Gemm"]
# Inputs whose second dimension is the text length.
SEQUENCE_INPUTS = ("input_ids", "attention_mask", "token_type_ids")

def example_items() -> list[dict]:
    """Items for tracing a price model: texts of different lengths (the padded batch has real padding) and images
    (a graph encodes every row whatever the `has_image`/`has_text` flags say, so their values do not matter)."""
    from PIL import Image

    return [
        {"title": "Stainless steel electric kettle", "text": "1.7 litre, 2200 W, keep-warm plate, cordless base, "
         "boil-dry protection and a limescale filter", "image": Image.new("RGB", (48, 48), (200, 200, 210))},
        {"title": "Oak picture frame", "text": "A4, hand finished", "image": Image.new("RGB", (48, 48), (120, 80, 40))},
    ]


@dataclass
class ExportReport:
    """What `export_onnx` wrote: the folder, the inputs and outputs of the graph, its quantization, and the largest
    relative difference between the graph's and the eager model's outputs on the example inputs."""

    output_dir: str
    input_names: list[str]
    output_names: list[str]
    quantization: str | None
    max_relative_difference: float


class _ExportedForward(nn.Module):
    """The model's forward with positional tensors in, a tuple of named outputs out (what the exporter traces)."""

    def __init__(self, model: nn.Module, input_names: list[str], output_names: list[str]):
        super().__init__()
        self.model, self.input_names, self.output_names = model, input_names, output_names

    def forward(self, *tensors):
        outputs = fp32_forward(self.model)(**dict(zip(self.input_names, tensors)))
        return tuple(getattr(outputs, name) for name in self.output_names)


def fp32_forward(model: nn.Module):
    """The model's own forward. Training with bf16/fp16 leaves accelerate's autocast wrapper on `model.forward`
    (keeping the original as `_original_forward`); an fp32 export must not trace it."""
    return getattr(model, "_original_forward", model.forward)


def _load(model_or_path, processor, **hub_kwargs):
    from transformers import AutoModel

    from hf_pricer.pipelines.base import ItemPipeline

    if isinstance(model_or_path, (str, os.PathLike)):
        source = str(model_or_path)
        model = AutoModel.from_pretrained(source, **hub_kwargs)
        if processor is None and _is_price_model(model):
            processor = ItemPipeline._load_item_processor(source)
        return model, processor
    return model_or_path, processor


def _is_price_model(model) -> bool:
    from hf_pricer.modeling_utils import PriceModelMixin

    return isinstance(model, PriceModelMixin)


def example_inputs(model, processor) -> dict[str, torch.Tensor]:
    """Inputs to trace `model` with: a price model's processor on :data:`EXAMPLE_ITEMS`, or the aligner's
    `text_embeds`."""
    items = example_items()
    if getattr(model.config, "model_type", None) == "hf_pricer_onnx_runtime":
        raise ValueError(f"{getattr(model, 'name_or_path', 'this model')} is an exported model already")
    if _is_price_model(model):
        if processor is None or not callable(getattr(processor, "process_items", None)):
            raise ValueError(f"exporting {type(model).__name__} needs its processor (one with `process_items`); "
                             "pass `processor=` or export a saved folder that holds it")
        batch = processor.process_items(items)
        return {name: value for name, value in batch.items() if isinstance(value, torch.Tensor)}
    if model.main_input_name == "text_embeds":
        generator = torch.Generator().manual_seed(0)
        return {"text_embeds": torch.randn(len(items), model.config.in_dim, generator=generator)}
    raise ValueError(
        f"{type(model).__name__} cannot be exported to ONNX by hf_pricer: the price models (residual regressor, dual "
        "encoder...) and the embedding aligner can"
    )


def _dynamic_shapes(model, inputs: dict[str, torch.Tensor]) -> tuple:
    batch = torch.export.Dim("batch_size")
    # a text encoder's position embeddings bound the text length
    longest = getattr(getattr(model.config, "text_config", None), "max_position_embeddings", None)
    sequence = torch.export.Dim("sequence_length", max=longest) if longest else torch.export.Dim("sequence_length")
    shapes = []
    for name, tensor in inputs.items():
        axes = {0: batch}
        if name in SEQUENCE_INPUTS and tensor.ndim == 2:
            axes[1] = sequence
        shapes.append(axes)
    return (tuple(shapes),)  # the traced forward takes its tensors as one `*tensors` argument


def _relative_difference(expected: torch.Tensor, actual: torch.Tensor) -> float:
    expected, actual = expected.double(), actual.double()
    return float((expected - actual).abs().max() / expected.abs().max().clamp(min=1e-12))


def export_onnx(
    model_or_path,
    output_dir: str | os.PathLike,
    processor=None,
    quantize: str | None = None,
    opset_version: int = OPSET_VERSION,
    rtol: float = 1e-4,
    **hub_kwargs,
) -> ExportReport:
    """Export a model (or the saved folder / Hub repository of one) to an ONNX folder; see the module docstring.

    Args:
        model_or_path: a model, or a folder or Hub id that `AutoModel.from_pretrained` loads.
        output_dir: the folder to write (created; files of the same names are replaced).
        processor: the model's processor; by default the one saved with `model_or_path`. Price models need it.
        quantize: `None` (fp32) or `"int8"` (ONNX Runtime dynamic quantization).
        opset_version: the graph's ONNX opset.
        rtol: the fp32 graph's outputs must match the eager model's within this relative difference (of the largest
            output value), or the export fails.
        hub_kwargs: passed to `from_pretrained` (`revision`, `token`, `cache_dir`...).
    """
    import onnx  # noqa: F401 -- the `onnx` extra; fail early with a clear message below
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from hf_pricer.models.onnx_runtime import OnnxRuntimeConfig
    from hf_pricer.models.onnx_runtime.modeling_onnx_runtime import inference_session
    from hf_pricer.pipelines import custom_pipelines_entry, save_pipeline_code

    if quantize not in (None, "int8"):
        raise ValueError(f"`quantize` must be None or 'int8', got {quantize!r}")
    model, processor = _load(model_or_path, processor, **hub_kwargs)
    model = model.float().eval()
    inputs = example_inputs(model, processor)
    price_model = _is_price_model(model)
    input_names = list(inputs)
    output_names = ["predictions", "log_price"] if price_model else ["predictions"]
    with torch.no_grad():
        eager = fp32_forward(model)(**inputs)
    expected = {name: getattr(eager, name) for name in output_names}

    output_dir = str(output_dir)
    os.makedirs(output_dir, exist_ok=True)
    target = os.path.join(output_dir, ONNX_FILE)
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module=r"torch\.onnx")
        fp32_path = os.path.join(tmp, ONNX_FILE) if quantize else target
        with torch.no_grad():
            program = torch.onnx.export(
                _ExportedForward(model, input_names, output_names).eval(),
                tuple(inputs.values()),
                input_names=input_names,
                output_names=output_names,
                dynamic_shapes=_dynamic_shapes(model, inputs),
                opset_version=opset_version,
                dynamo=True,
                verbose=False,
            )
        program.save(fp32_path)
        if quantize:
            # the pre-processing ONNX Runtime recommends (shape inference) before quantizing
            from onnxruntime.quantization.shape_inference import quant_pre_process

            prepared = os.path.join(tmp, "prepared.onnx")
            quant_pre_process(fp32_path, prepared, skip_symbolic_shape=True)
            # matrix multiplications only: ONNX Runtime's integer convolution (ConvInteger) is slower on CPUs than
            # its fp32 convolution, so image encoders keep fp32 convolutions
            quantize_dynamic(prepared, target, weight_type=QuantType.QInt8, op_types_to_quantize=QUANTIZED_OPS)
        session = inference_session(target)
        feeds = {node.name: inputs[node.name].numpy() for node in session.get_inputs()}
        actual = dict(zip(output_names, session.run(output_names, feeds)))
    difference = max(_relative_difference(expected[name], torch.from_numpy(actual[name])) for name in output_names)
    if quantize is None and difference > rtol:
        raise RuntimeError(f"the exported graph's outputs differ from the model's by {difference:.2e} (relative), "
                           f"more than rtol={rtol:g}: the export is not faithful")

    config = OnnxRuntimeConfig(
        source_config=model.config.to_dict(),
        task="price-regression" if price_model else None,
        onnx_file=ONNX_FILE,
        input_names=input_names,
        output_names=output_names,
        quantization=quantize,
        opset_version=opset_version,
    )
    if price_model:
        # `pipeline(model=folder, trust_remote_code=True)` finds the task where hf_pricer is installed, not imported
        config.custom_pipelines = custom_pipelines_entry("price-regression", "AutoModel")
        save_pipeline_code("price-regression", output_dir)
    config.save_pretrained(output_dir)
    if processor is not None:
        processor.save_pretrained(output_dir)
    logger.info("exported %s to %s (%s; inputs %s; largest relative difference to the model %.2e)",
                type(model).__name__, target, quantize or "fp32", input_names, difference)
    return ExportReport(output_dir, input_names, output_names, quantize, difference)
