"""Processors of the dual-encoder price regressor: product image + product text → model inputs."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from torchvision.transforms import v2
from transformers import AutoTokenizer
from transformers.feature_extraction_utils import BatchFeature
from transformers.image_processing_utils import BaseImageProcessor
from transformers.processing_utils import ProcessorMixin
from transformers.utils.constants import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD

from hf_pricer.data.images import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS, ImageReport, load_image
from hf_pricer.data.schema import item_text
from hf_pricer.processing_utils import AugmentingCollator

_JITTER_KEYS = ("brightness", "contrast", "saturation", "hue")


@contextmanager
def _one_thread():
    """Per-image transforms are tiny tensor ops: splitting them over threads costs far more than it saves
    (a 32-image batch took 7 s on 2 threads and 0.15 s on one)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _as_batch(value: Any) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]


class DualEncoderImageProcessor(BaseImageProcessor):
    r"""
    Turns product images into the `pixel_values` of [`DualEncoderForPriceRegression`], with the seed's
    preprocessing: resize to `size`, then at training time a random horizontal flip, a random rotation
    and a colour jitter, then scaling to [0, 1] and normalisation with the ImageNet statistics.

    Images are loaded with [`hf_pricer.data.images.load_image`] (paths, URLs, bytes, PIL images,
    `{"bytes", "path"}` dicts), which checks their size before decoding them. A missing or unusable
    image gives a row of zeros in `pixel_values` and `False` in `has_image`, so that the model can put
    its learned placeholder there instead; each one is counted by reason in `image_report`.

    Args:
        size (`int` or `dict[str, int]`, *optional*, defaults to 380):
            Output side, or `{"height": ..., "width": ...}`. Images are resized to it without keeping the
            aspect ratio, as in the seed.
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
        size: int | dict[str, int] = 380,
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
        if set(color_jitter) - set(_JITTER_KEYS):
            raise ValueError(f"`color_jitter` keys must be among {_JITTER_KEYS}, got {sorted(color_jitter)}")
        self.color_jitter = color_jitter
        self.max_pixels = max_pixels
        self.max_bytes = max_bytes
        self.timeout = timeout
        self.image_report = ImageReport("images")

    def to_dict(self) -> dict[str, Any]:
        output = super().to_dict()
        output.pop("image_report", None)
        return output

    def transform(self, train: bool = False) -> v2.Compose:
        """The transform applied to each loaded image (a `(3, H, W)` uint8 tensor)."""
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
            ids: item ids, used in the log lines of `image_report`.

        Returns a [`BatchFeature`] with `pixel_values` `(batch_size, 3, height, width)` float32 and
        `has_image` `(batch_size,)` bool.
        """
        images = _as_batch(images)
        ids = ids if ids is not None else [None] * len(images)
        transform = self.transform(train)
        pixel_values = torch.zeros(len(images), 3, self.size["height"], self.size["width"])
        has_image = np.zeros(len(images), dtype=bool)
        with torch.random.fork_rng(devices=[], enabled=seed is not None), _one_thread():
            if seed is not None:
                torch.manual_seed(seed)
            for row, (value, item_id) in enumerate(zip(images, ids, strict=True)):
                image, reason = load_image(
                    value, max_pixels=self.max_pixels, max_bytes=self.max_bytes, timeout=self.timeout
                )
                if image is None:
                    self.image_report.add(reason, item_id)
                    continue
                self.image_report.kept += 1
                pixel_values[row] = transform(v2.functional.pil_to_tensor(image))
                has_image[row] = True
        return BatchFeature(
            {"pixel_values": pixel_values, "has_image": has_image}, tensor_type=return_tensors
        )


class DualEncoderProcessor(ProcessorMixin):
    r"""
    Wraps a [`DualEncoderImageProcessor`] and a tokenizer (the seed uses BERT's) into one processor, which
    `save_pretrained` writes as `processor_config.json` plus the tokenizer files.

    Args:
        image_processor ([`DualEncoderImageProcessor`]): the image processor.
        tokenizer ([`PreTrainedTokenizerBase`]): the tokenizer of the text encoder.
        max_length (`int`, *optional*, defaults to 256): texts are truncated to this many tokens; batches are
            padded to their longest text.
        text_fields (`list[str]`, *optional*, defaults to `["title", "text"]`):
            Item fields joined (one per line) into the text that is tokenized, see [`item_text`].
    """

    def __init__(
        self,
        image_processor: DualEncoderImageProcessor | None = None,
        tokenizer=None,
        max_length: int = 256,
        text_fields: list[str] | tuple[str, ...] = ("title", "text"),
        **kwargs,
    ):
        super().__init__(image_processor, tokenizer, **kwargs)
        self.max_length = max_length
        self.text_fields = list(text_fields)

    @classmethod
    def _get_arguments_from_pretrained(cls, pretrained_model_name_or_path, processor_dict=None, **kwargs):
        # The image processor is loaded by its class rather than through `AutoImageProcessor`, so that
        # loading does not depend on the Auto registration done by `import hf_pricer`.
        image_processor = DualEncoderImageProcessor.from_pretrained(pretrained_model_name_or_path, **kwargs)
        tokenizer = AutoTokenizer.from_pretrained(pretrained_model_name_or_path, **kwargs)
        return [image_processor, tokenizer]

    @property
    def image_report(self) -> ImageReport:
        """Counts of the images that could not be used, by reason (see [`ImageReport`])."""
        return self.image_processor.image_report

    @property
    def model_input_names(self) -> list[str]:
        return self.image_processor.model_input_names + self.tokenizer.model_input_names + ["has_text"]

    def item_text(self, item: dict) -> str:
        """The text of an item that gets tokenized: its `text_fields`, non-empty ones joined by newlines."""
        return item_text(item, self.text_fields)

    def __call__(
        self,
        images: Any = None,
        text: str | list[str | None] | None = None,
        train: bool = False,
        return_tensors: str | None = "pt",
        seed: int | None = None,
        ids: list[str | None] | None = None,
    ) -> BatchFeature:
        r"""
        Process a batch of images, of texts, or of both (same length). A single image or string is a batch
        of one; `images=None` means no image input, while `None` inside a list is a missing image.

        Returns a [`BatchFeature`] with, for images, `pixel_values` and `has_image` (see
        [`DualEncoderImageProcessor.preprocess`]; `train`, `seed` and `ids` go there) and, for texts,
        `input_ids`, `attention_mask` (and `token_type_ids` when the tokenizer makes them) of shape
        `(batch_size, longest_text)` and `has_text` `(batch_size,)` bool: `False` for `None`, empty or
        whitespace-only text, which is tokenized as `""`.
        """
        if images is None and text is None:
            raise ValueError("Pass `images`, `text` or both.")
        data = {}
        if text is not None:
            texts = _as_batch(text)
            for position, value in enumerate(texts):
                if value is not None and not isinstance(value, str):
                    raise TypeError(
                        f"`text[{position}]` must be a string or None, got {type(value).__name__}"
                    )
            has_text = [bool(value and value.strip()) for value in texts]
            data.update(
                self.tokenizer(
                    [value if present else "" for value, present in zip(texts, has_text, strict=True)],
                    padding="longest",
                    truncation=True,
                    max_length=self.max_length,
                    return_tensors=return_tensors,
                )
            )
            data["has_text"] = np.array(has_text, dtype=bool)
        if images is not None:
            images = _as_batch(images)
            if text is not None and len(images) != len(data["has_text"]):
                raise ValueError(f"Got {len(images)} images but {len(data['has_text'])} texts.")
            data.update(
                self.image_processor(images, train=train, return_tensors=return_tensors, seed=seed, ids=ids)
            )
        return BatchFeature(data, tensor_type=return_tensors)


class DualEncoderCollator(AugmentingCollator):
    """Data collator: items (dicts with the item schema's `image`, text fields and `price`) → model batch.

    Images are loaded, augmented (when `train`) and tokenized here, per batch, so datasets keep their raw
    columns: paths, URLs, `datasets.Image()` (decoded PIL images) or `datasets.Image(decode=False)` dicts.
    Use it with `remove_unused_columns=False` (the [`PricerTrainingArguments`] default). Adds `labels`
    (prices in dollars) when every item has a price.
    """

    def __call__(self, items: list[dict]) -> dict[str, torch.Tensor]:
        batch = dict(
            self.processor(
                images=[item.get("image") for item in items],
                text=[self.processor.item_text(item) for item in items],
                train=self.train,
                ids=[item.get("id") for item in items],
            )
        )
        if all(item.get("price") is not None for item in items):
            batch["labels"] = torch.tensor([float(item["price"]) for item in items], dtype=torch.float32)
        return batch


__all__ = ["DualEncoderCollator", "DualEncoderImageProcessor", "DualEncoderProcessor"]
