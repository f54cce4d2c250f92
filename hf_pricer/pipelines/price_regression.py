"""The `"price-regression"` pipeline: product title, description and optional image → price in US dollars.

    from transformers import pipeline
    pipe = pipeline("price-regression", model="outputs/dual-catalog")      # with `import hf_pricer` done
    pipe = pipeline(model="you/dual-pricer", trust_remote_code=True)        # without: the code stored in the repo
    pipe({"title": "Steel kettle", "text": "1.7 l, 2200 W", "image": "kettle.jpg"})   # {'price': 38.2}
    pipe([item, item, ...], batch_size=16)                                   # [{'price': ...}, ...]

A model that predicts price quantiles (`config.quantiles`, e.g. a `PriceEnsemble` or a residual regressor with
`quantiles=[0.1, 0.5, 0.9]`) also answers `price_low` and `price_high`, the ends of its prediction interval.

This file is also stored next to the weights of every price model (see `hf_pricer.pipelines`), so it imports
hf_pricer by absolute name only.
"""

from __future__ import annotations

import logging

import torch

from hf_pricer.pipelines.base import ItemPipeline

logger = logging.getLogger(__name__)


class PriceRegressionPipeline(ItemPipeline):
    """Price of each item: `{"title": str, "text": str, "image": path | URL | bytes | PIL image (optional)}` →
    `{"price": float}`, plus `price_low` and `price_high` for a model with price quantiles. At least one of
    `title` and `text` must be non-empty text. Works with every model that
    `hf_pricer.pipelines` describes as a price model (its processor's `process_items` builds the batch)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not callable(getattr(self.item_processor, "process_items", None)):
            raise TypeError(
                f"{type(self.item_processor).__name__} has no `process_items(items)`: it is not the processor of "
                "an hf_pricer price model"
            )
        self.reads_images = hasattr(self.item_processor, "image_processor")
        self._warned_unused_image = False

    def check_item(self, item: dict, position: int) -> dict:
        for name in ("title", "text"):
            value = item.get(name)
            if value is not None and not isinstance(value, str):
                raise TypeError(f"input {position}: `{name}` must be a string, got {type(value).__name__}: {value!r}")
        if not any((item.get(name) or "").strip() for name in ("title", "text")):
            raise ValueError(
                f"input {position}: `text` is missing or empty (got title={item.get('title')!r}, "
                f"text={item.get('text')!r}); a price model needs the product's title or description"
            )
        if self.reads_images:
            item["image"] = self.loaded_image(item, position, required=False)
        elif item.get("image") is not None and not self._warned_unused_image:
            logger.warning("%s reads text only: the `image` of the inputs is not used", type(self.model).__name__)
            self._warned_unused_image = True
        return item

    def predict(self, items: list[dict]) -> dict:
        batch = self.to_model_device(self.item_processor.process_items(items))
        outputs = self.model(**batch)
        results = {"price": outputs.predictions.float()}
        # A model with price quantiles (`config.quantiles`) also gives the interval between its outer ones.
        quantiles = outputs.get("quantile_predictions")
        if quantiles is not None:
            results["price_low"], results["price_high"] = quantiles[:, 0].float(), quantiles[:, -1].float()
        return results

    def postprocess(self, model_outputs) -> dict:
        return {
            name: float(value.reshape(-1)[0]) if isinstance(value, torch.Tensor) else float(value)
            for name, value in model_outputs.items()
        }
