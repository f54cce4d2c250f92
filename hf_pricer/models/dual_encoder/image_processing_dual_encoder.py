"""Image processor of the dual-encoder price model."""

from __future__ import annotations

from hf_pricer.image_processing_utils import ProductImageProcessor


class DualEncoderImageProcessor(ProductImageProcessor):
    r"""
    Turns product images into the `pixel_values` and `has_image` of [`DualEncoderForPriceRegression`]:
    resize to `size` (380 for EfficientNet-B4), at training time a random horizontal flip, a rotation of at
    most 15° and a colour jitter, then ImageNet normalisation. A missing or unusable image gives a row of
    zeros and `has_image=False`, so that the model puts its learned placeholder there. Every argument is
    described in [`ProductImageProcessor`].
    """

    def __init__(self, size: int | dict[str, int] = 380, **kwargs):
        super().__init__(size=size, **kwargs)


__all__ = ["DualEncoderImageProcessor"]
