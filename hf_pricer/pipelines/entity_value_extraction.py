"""The `"entity-value-extraction"` pipeline: product image + entity name → `"<value> <unit>"` (the Resformer).

    from transformers import pipeline
    pipe = pipeline("entity-value-extraction", model="outputs/resformer-labels")    # with `import hf_pricer` done
    pipe = pipeline(model="you/resformer", trust_remote_code=True)                   # without
    pipe({"image": "label.png", "entity_name": "item_weight"})       # {'entity_value': '500.0 gram'}
    pipe([...], batch_size=32, num_beams=4)                          # generation arguments go to `generate`
    pipe({"image": ..., "entity_name": ..., "ocr": lines})           # OCR lines already read (OCR-token models)

This file is also stored next to the Resformer's weights (see `hf_pricer.pipelines`), so it imports hf_pricer by
absolute name only.
"""

from __future__ import annotations

from hf_pricer.pipelines.base import ItemPipeline


class EntityValueExtractionPipeline(ItemPipeline):
    """`{"image": path | URL | bytes | PIL image, "entity_name": str}` → `{"entity_value": "500.0 gram"}` (`""` when
    the image shows no value). Keyword arguments of the call (`num_beams`, `max_new_tokens`, ...) go to
    `generate`, which keeps its unit-constrained decoding unless `constrained_decoding=False`.

    A model with `use_ocr_tokens` reads the image's OCR lines from the item's `"ocr"` (see `hf_pricer.data.ocr`)
    or, without them, has its processor run the OCR engine (the `ocr` extra)."""

    def check_item(self, item: dict, position: int) -> dict:
        entity_names = self.item_processor.tokenizer.entity_names
        name = item.get("entity_name")
        if not isinstance(name, str) or name not in entity_names:
            raise ValueError(
                f"input {position}: unknown `entity_name` {name!r}{self.closest(str(name), entity_names)}; "
                f"expected one of {list(entity_names)}"
            )
        item["image"] = self.loaded_image(item, position, required=True)
        lines = item.get("ocr")
        if lines is not None and not (
            isinstance(lines, list) and all(isinstance(line, dict) and {"text", "quad"} <= set(line) for line in lines)
        ):
            raise ValueError(f"input {position}: `ocr` must be a list of OCR lines ({{'text', 'quad', ...}} dicts)")
        return item

    def predict(self, items: list[dict], **generate_kwargs) -> dict:
        batch = self.item_processor(
            images=[item["image"] for item in items],
            entity_names=[item["entity_name"] for item in items],
            ocr=[item.get("ocr") for item in items],
        )
        return {"generated": self.model.generate(**self.to_model_device(batch), **generate_kwargs)}

    def postprocess(self, model_outputs) -> dict:
        return {"entity_value": self.item_processor.decode_predictions(model_outputs["generated"])[0]}
