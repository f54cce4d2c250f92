"""The product-image pipeline every image-reading hf_pricer model uses.

:class:`ProductImageProcessor` loads images of any kind (paths, URLs, bytes, PIL images,
`datasets.Image` dicts) with :func:`hf_pricer.data.images.load_image`, which checks their size before
decoding them; resizes them; augments them at training time (flip, rotation, colour jitter); normalises
them; and flags, per image, whether it could be used (`has_image`). An unusable image becomes a
row of zeros, counted by reason in `image_report`, so a model can substitute a learned placeholder and
nothing is dropped silently. Models subclass it to set their defaults and their `model_input_names`.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from transformers.feature_extraction_utils import BatchFeature
from transformers.image_processing_utils import BaseImageProcessor
from transformers.utils.constants import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD

from hf_pricer.data.images import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS, ImageReport, load_image

JITTER_KEYS = ("brightness", "contrast", "saturation", "hue")


@contextmanager
def one_thread():
    """Per-image transforms are tiny tensor ops: splitting them over threads costs far more than it saves
    (a 32-image batch took 7 s on 2 threads and 0.15 s on one)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def as_batch(value: Any) -> list:
    """A list or tuple as a list; anything else as a batch of one."""
    return list(value) if isinstance(value, (list, tuple)) else [value]


class ProductImageProcessor(BaseImageProcessor):
    r"""
    Turns product images into `pixel_values`: resize to `size`, then at training time a random horizontal
    flip, a random rotation and a colour jitter, then scaling to [0, 1] and normalisation.

    Args:
        size (`int` or `dict[str, int]`, *optional*, defaults to 224):
            Output side, or `{"height": ..., "width": ...}`. Images are resized to it without keeping the
            aspect ratio.
        image_mean (`list[float]`, *optional*, defaults to `[0.485, 0.456, 0.406]`): per-channel mean.
        image_std (`list[float]`, *optional*, defaults to `[0.229, 0.224, 0.225]`): per-channel std.
        flip_probability (`float`, *optional*, defaults to 0.5): probability of a horizontal flip (train).
        rotation_degrees (`float`, *optional*, defaults to 15.0):
            Rotation angle drawn from `[-rotation_degrees, rotation_degrees]` (train); corners are black.
        color_jitter (`float` or `dict[str, float]`, *optional*, defaults to 0.2):
            Strength of the colour jitter (train): a dict with any of `brightness`, `contrast`, `saturation`,
            `hue`, or one number for brightness, contrast and saturation. `0` or `{}` disables it.
        max_pixels (`int`, *optional*, defaults to 40,000,000): larger images are rejected before decoding.
        max_bytes (`int`, *optional*, defaults to 30 MiB): larger files and downloads are rejected.
        timeout (`float`, *optional*, defaults to 10.0): seconds before an image download is abandoned.
    """

    model_input_names = ["pixel_values", "has_image"]

    def __init__(
        self,
        size: int | dict[str, int] = 224,
        image_mean: list[float] | tuple[float, ...] = tuple(IMAGENET_DEFAULT_MEAN),
        image_std: list[float] | tuple[float, ...] = tuple(IMAGENET_DEFAULT_STD),
        flip_probability: float = 0.5,
        rotation_degrees: float = 15.0,
        color_jitter: float | dict[str, float] | None = 0.2,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        max_bytes: int = DEFAULT_MAX_BYTES,
        timeout: float = 10.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.size = {"height": size, "width": size} if isinstance(size, int) else dict(size)
        self.image_mean = list(image_mean)
        self.image_std = list(image_std)
        self.flip_probability = flip_probability
        self.rotation_degrees = rotation_degrees
        if isinstance(color_jitter, (int, float)):
            color_jitter = {"brightness": color_jitter, "contrast": color_jitter, "saturation": color_jitter}
        color_jitter = {key: value for key, value in (color_jitter or {}).items() if value}
        if set(color_jitter) - set(JITTER_KEYS):
            raise ValueError(f"`color_jitter` keys must be among {JITTER_KEYS}, got {sorted(color_jitter)}")
        self.color_jitter = color_jitter
        self.max_pixels = max_pixels
        self.max_bytes = max_bytes
        self.timeout = timeout
        self.image_report = ImageReport("images")

    def to_dict(self) -> dict[str, Any]:
        output = super().to_dict()
        output.pop("image_report", None)
        return output

    def transform(self, train: bool = False):
        """The `torchvision.transforms.v2` transform applied to each loaded image (a `(3, H, W)` uint8 tensor)."""
        from torchvision.transforms import v2

        steps = [v2.Resize((self.size["height"], self.size["width"]), antialias=True)]
        if train:
            if self.flip_probability:
                steps.append(v2.RandomHorizontalFlip(self.flip_probability))
            if self.rotation_degrees:
                steps.append(v2.RandomRotation(self.rotation_degrees))
            if self.color_jitter:
                steps.append(v2.ColorJitter(**self.color_jitter))
        steps += [v2.ToDtype(torch.float32, scale=True), v2.Normalize(self.image_mean, self.image_std)]
        return v2.Compose(steps)

    def load(self, value: Any, example_id: str | None = None):
        """One image as RGB PIL image, or None (counted by reason in `image_report`) when it cannot be used."""
        image, reason = load_image(value, max_pixels=self.max_pixels, max_bytes=self.max_bytes, timeout=self.timeout)
        if image is None:
            self.image_report.add(reason, example_id)
        else:
            self.image_report.kept += 1
        return image

    def preprocess(
        self,
        images: Any,
        train: bool = False,
        return_tensors: str | None = "pt",
        seed: int | None = None,
        ids: list[str | None] | None = None,
    ) -> BatchFeature:
        r"""
        Load and transform one image or a list of images (any kind `load_image` accepts, `None` for none).

        Args:
            train: apply the random augmentations.
            return_tensors: `"pt"` or `"np"`.
            seed: makes the augmentations reproducible without touching the global RNG; without it they
                draw from torch's global RNG (seeded per worker by the `DataLoader`).
            ids: the examples' ids, used in the log lines of `image_report`.

        Returns a [`BatchFeature`] with `pixel_values` `(batch_size, 3, height, width)` float32 and
        `has_image` `(batch_size,)` bool, restricted to the class's `model_input_names`.
        """
        from torchvision.transforms.v2.functional import pil_to_tensor

        images = as_batch(images)
        ids = ids if ids is not None else [None] * len(images)
        transform = self.transform(train)
        pixel_values = torch.zeros(len(images), 3, self.size["height"], self.size["width"])
        has_image = np.zeros(len(images), dtype=bool)
        with torch.random.fork_rng(devices=[], enabled=seed is not None), one_thread():
            if seed is not None:
                torch.manual_seed(seed)
            for row, (value, example_id) in enumerate(zip(images, ids, strict=True)):
                image = self.load(value, example_id)
                if image is not None:
                    pixel_values[row] = transform(pil_to_tensor(image))
                    has_image[row] = True
        data = {"pixel_values": pixel_values, "has_image": has_image}
        return BatchFeature({name: data[name] for name in self.model_input_names}, tensor_type=return_tensors)


class RecordImageCollator:
    """Base of the collators whose examples are records with an `image` that must be usable (the records were
    validated when loaded, see `hf_pricer.data.records`): `pixel_values(examples)` loads every image,
    size-checked, and runs an 🤗 image processor (e.g. [`vit_image_processor`]) on them. An image that fails
    here changed on disk after loading: the error names the record and the image."""

    def __init__(self, image_processor, max_pixels: int = DEFAULT_MAX_PIXELS, max_bytes: int = DEFAULT_MAX_BYTES):
        self.image_processor = image_processor
        self.max_pixels = max_pixels
        self.max_bytes = max_bytes

    def pixel_values(self, examples) -> torch.Tensor:
        images = []
        for example in examples:
            image, reason = load_image(example["image"], max_pixels=self.max_pixels, max_bytes=self.max_bytes)
            if image is None:
                raise ValueError(f"record {example.get('id')!r}: image {example['image']!r}: {reason}")
            images.append(image)
        return self.image_processor(images, return_tensors="pt")["pixel_values"]


def vit_image_processor(image_size: int):
    """The image processor of a ViT taking `image_size` × `image_size` images (mean and std 0.5, as ViT-Base)."""
    from transformers import ViTImageProcessor

    return ViTImageProcessor(size={"height": image_size, "width": image_size})


__all__ = ["ProductImageProcessor", "RecordImageCollator", "as_batch", "one_thread", "vit_image_processor"]
