"""Image processor of the Resformer."""

from __future__ import annotations

from hf_pricer.image_processing_utils import ProductImageProcessor


class ResformerImageProcessor(ProductImageProcessor):
    r"""
    Turns product images into the `pixel_values` of [`ResformerForConditionalGeneration`]: resize to `size`
    (400 px at the design size), at training time a rotation of at most 3° and a light colour jitter but no
    flip (it would mirror the printed value), then ImageNet normalisation. A missing or unusable image
    becomes a black image, counted by reason in `image_report`. Every argument is described in
    [`ProductImageProcessor`].
    """

    model_input_names = ["pixel_values"]

    def __init__(
        self,
        size: int | dict[str, int] = 400,
        flip_probability: float = 0.0,
        rotation_degrees: float = 3.0,
        color_jitter: float | dict[str, float] | None = 0.1,
        **kwargs,
    ):
        super().__init__(
            size=size, flip_probability=flip_probability, rotation_degrees=rotation_degrees,
            color_jitter=color_jitter, **kwargs,
        )


__all__ = ["ResformerImageProcessor"]
