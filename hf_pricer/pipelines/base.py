"""What hf_pricer's pipelines share: inputs are items (dicts), checked one by one with errors that name the input,
field and value, and batched by the model's processor rather than by padding tensors per item."""

from __future__ import annotations

import collections.abc
import difflib
from typing import Any

from torch.utils.data import DataLoader
from transformers import AutoFeatureExtractor, AutoProcessor, Pipeline
from transformers.pipelines.pt_utils import PipelineDataset, PipelineIterator
from transformers.utils import PROCESSOR_NAME, cached_file

from hf_pricer.data.images import load_image


class ItemPipeline(Pipeline):
    """A pipeline over items: `pipe(item)` → one result, `pipe([item, ...], batch_size=8)` → a list of results.

    Subclasses define `check_item(item, position) -> item` (validation and normalisation of one input) and
    `predict(items, **forward_params) -> {name: tensor of shape (batch_size, ...)}`, and `postprocess`.
    """

    # The model's own processor batches items. It is loaded here, by the Auto class it was saved for, rather than
    # by `pipeline()`'s guesses (which would try `AutoProcessor` on a model whose preprocessing is a feature
    # extractor); `processor=` or `feature_extractor=` passes one in.
    _load_processor = False
    _load_feature_extractor = False
    _load_image_processor = False
    _load_video_processor = False
    _load_tokenizer = False

    def __init__(self, model, processor=None, feature_extractor=None, **kwargs):
        super().__init__(model=model, processor=processor, feature_extractor=feature_extractor, **kwargs)
        self.item_processor = processor if processor is not None else feature_extractor
        if self.item_processor is None:
            self.item_processor = self._load_item_processor(model.name_or_path)

    @staticmethod
    def _load_item_processor(source: str):
        # hf_pricer is imported wherever this runs (this module imports it), so its processors load without
        # remote code.
        has_processor = cached_file(source, PROCESSOR_NAME, _raise_exceptions_for_missing_entries=False)
        return (AutoProcessor if has_processor else AutoFeatureExtractor).from_pretrained(source)

    def __call__(self, inputs, **kwargs):
        """`inputs`: one item (a dict) or a list of items; returns one result or a list of results."""
        if isinstance(inputs, collections.abc.Mapping):
            return super().__call__(dict(inputs), **kwargs)
        if isinstance(inputs, (str, bytes)) or not isinstance(inputs, collections.abc.Iterable):
            raise TypeError(
                f"{self.task or type(self).__name__} takes a dict or a list of dicts, got {type(inputs).__name__}"
            )
        inputs = list(inputs)
        return super().__call__(inputs, **kwargs) if inputs else []

    def _sanitize_parameters(self, **kwargs):
        return {}, kwargs, {}

    def preprocess(self, item, position: int | None = None):
        if not isinstance(item, collections.abc.Mapping):
            raise TypeError(f"input {position or 0}: expected a dict, got {type(item).__name__}: {item!r}")
        return {"items": [self.check_item(dict(item), position or 0)]}

    def _forward(self, model_inputs, **forward_params):
        return self.predict(model_inputs["items"], **forward_params)

    def get_iterator(self, inputs, num_workers, batch_size, preprocess_params, forward_params, postprocess_params):
        # Each item keeps its position for error messages; a batch is a list of items, which `predict` hands to the
        # processor as one batch.
        dataset = PipelineDataset(list(enumerate(inputs)), lambda pair: self.preprocess(pair[1], pair[0]), {})
        loader = DataLoader(dataset, num_workers=num_workers, batch_size=batch_size, collate_fn=_concat_items)
        model_iterator = PipelineIterator(loader, self.forward, forward_params, loader_batch_size=batch_size)
        return PipelineIterator(model_iterator, self.postprocess, postprocess_params)

    def to_model_device(self, batch) -> dict:
        return {name: value.to(self.device) if hasattr(value, "to") else value for name, value in batch.items()}

    # -- helpers for check_item --------------------------------------------------------------------------------

    @staticmethod
    def loaded_image(item: dict, position: int, required: bool) -> Any:
        """The item's `image` (path, URL, bytes or PIL image) as a PIL image, None when absent and not
        `required`; an image that was given but cannot be used is an error, never a silent placeholder."""
        value = item.get("image")
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                raise ValueError(f"input {position}: `image` is required (a path, URL, bytes or PIL image)")
            return None
        image, reason = load_image(value)
        if image is None:
            shown = value if isinstance(value, str) else type(value).__name__
            raise ValueError(f"input {position}: `image` {shown!r} cannot be used: {reason}")
        return image

    @staticmethod
    def closest(name: str, choices) -> str:
        """`" (did you mean 'x'?)"` for the closest of `choices`, or `""`."""
        match = difflib.get_close_matches(name, list(choices), n=1)
        return f" (did you mean {match[0]!r}?)" if match else ""


def _concat_items(batch: list[dict]) -> dict:
    return {"items": [item for example in batch for item in example["items"]]}
