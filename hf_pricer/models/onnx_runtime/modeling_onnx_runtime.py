"""A model exported to ONNX, run by ONNX Runtime behind the `PreTrainedModel` interface.

`AutoModel.from_pretrained(folder)` on a folder that `hf-pricer export` wrote gives an [`OnnxRuntimeModel`] (or, for a
price model, an [`OnnxRuntimeForPriceRegression`], which the `"price-regression"` pipeline serves): `forward` takes
the exported model's keyword tensors, runs the graph on the CPU and returns its outputs as torch tensors. It has no
parameters and does not train.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass

import numpy as np
import torch
from transformers import PreTrainedModel
from transformers.utils import ModelOutput, cached_file

from hf_pricer.modeling_utils import PriceModelMixin, PriceRegressionOutput

from .configuration_onnx_runtime import OnnxRuntimeConfig

_NUMPY_TYPES = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(float16)": np.float16,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(bool)": np.bool_,
}


@dataclass
class OnnxRuntimeOutput(ModelOutput):
    """Output of [`OnnxRuntimeModel`].

    Args:
        predictions (`torch.FloatTensor`):
            The graph's `predictions` output (e.g. the embedding aligner's predicted image embeddings).
    """

    predictions: torch.FloatTensor | None = None


def inference_session(path: str, session_options=None, providers=None):
    """An `onnxruntime.InferenceSession` of the graph at `path` (on the CPU unless `providers` says otherwise)."""
    try:
        import onnxruntime
    except ImportError as error:
        raise ImportError(
            f"running the exported model {path} needs onnxruntime: pip install 'hf_pricer[onnx]'"
        ) from error
    return onnxruntime.InferenceSession(path, sess_options=session_options,
                                       providers=providers or ["CPUExecutionProvider"])


class OnnxRuntimePreTrainedModel(PreTrainedModel):
    """Loads an exported folder: its [`OnnxRuntimeConfig`] and the graph the config names."""

    config_class = OnnxRuntimeConfig
    base_model_prefix = "onnx_runtime"
    main_input_name = "input_ids"

    def __init__(self, config: OnnxRuntimeConfig, session=None, onnx_path: str | None = None):
        super().__init__(config)
        self.session = session
        self.onnx_path = onnx_path
        if config.input_names:
            self.main_input_name = config.input_names[0]
        self.post_init()

    def _init_weights(self, module):
        """No weights: they are in the graph."""

    @property
    def device(self) -> torch.device:
        return torch.device("cpu")

    @property
    def dtype(self) -> torch.dtype:
        return torch.float32

    @classmethod
    def from_pretrained(
        cls,
        pretrained_model_name_or_path,
        *model_args,
        config: OnnxRuntimeConfig | None = None,
        session_options=None,
        providers: list[str] | None = None,
        cache_dir=None,
        force_download: bool = False,
        local_files_only: bool = False,
        token=None,
        revision: str = "main",
        subfolder: str = "",
        **kwargs,
    ):
        """The exported model of a folder or Hub repository. `session_options` (`onnxruntime.SessionOptions`) and
        `providers` go to the `InferenceSession`; other keyword arguments of `PreTrainedModel.from_pretrained`
        (`dtype`, `device_map`...) have no meaning for a graph and are ignored."""
        hub = dict(cache_dir=cache_dir, force_download=force_download, local_files_only=local_files_only,
                   token=token, revision=revision, subfolder=subfolder)
        if not isinstance(config, OnnxRuntimeConfig):
            config = OnnxRuntimeConfig.from_pretrained(pretrained_model_name_or_path, **hub)
        path = cached_file(pretrained_model_name_or_path, config.onnx_file, **hub)
        model_class = OnnxRuntimeForPriceRegression if config.task == "price-regression" else OnnxRuntimeModel
        model = model_class(config, inference_session(path, session_options, providers), onnx_path=path)
        model.name_or_path = str(pretrained_model_name_or_path)
        return model.eval()

    def save_pretrained(self, save_directory, is_main_process: bool = True, **kwargs):
        """The config and the graph (the processor is saved by its own `save_pretrained`)."""
        if not is_main_process:
            return
        os.makedirs(save_directory, exist_ok=True)
        self.config.save_pretrained(save_directory)
        target = os.path.join(save_directory, self.config.onnx_file)
        if os.path.abspath(self.onnx_path) != os.path.abspath(target):
            shutil.copyfile(self.onnx_path, target)

    def run(self, **inputs) -> dict[str, torch.Tensor]:
        """The graph's outputs, by name, for the exported model's keyword tensors."""
        given = {name: value for name, value in inputs.items() if value is not None}
        expected = [node.name for node in self.session.get_inputs()]
        missing = [name for name in expected if name not in given]
        unknown = sorted(set(given) - set(expected))
        if missing or unknown:
            raise ValueError(
                f"the exported graph of {self.name_or_path or 'this model'} takes {expected}; "
                + (f"missing {missing}" if missing else "")
                + ("; " if missing and unknown else "")
                + (f"not inputs of the graph: {unknown}" if unknown else "")
            )
        feed = {}
        for node in self.session.get_inputs():
            value = given[node.name]
            array = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
            feed[node.name] = array.astype(_NUMPY_TYPES.get(node.type, array.dtype), copy=False)
        names = [node.name for node in self.session.get_outputs()]
        return {name: torch.from_numpy(array) for name, array in zip(names, self.session.run(names, feed))}


class OnnxRuntimeModel(OnnxRuntimePreTrainedModel):
    """An exported model that is not a price model (e.g. the embedding aligner): `forward` returns the graph's
    `predictions`."""

    def forward(self, **inputs) -> OnnxRuntimeOutput:
        return OnnxRuntimeOutput(predictions=self.run(**inputs)["predictions"])


class OnnxRuntimeForPriceRegression(PriceModelMixin, OnnxRuntimePreTrainedModel):
    """An exported price model: `forward` returns `predictions` (dollars) and `log_price`, as the model did, and
    the `"price-regression"` pipeline serves it."""

    def forward(self, **inputs) -> PriceRegressionOutput:
        outputs = self.run(**inputs)
        return PriceRegressionOutput(predictions=outputs["predictions"], log_price=outputs.get("log_price"))


__all__ = ["OnnxRuntimeForPriceRegression", "OnnxRuntimeModel", "OnnxRuntimeOutput", "OnnxRuntimePreTrainedModel"]
