"""Multi-worker data loading (`dataloader_num_workers=2`): images are decoded and processed in the worker processes."""

import math

import pytest
import torch

import hf_pricer
from tests.models.dual_encoder.test_modeling_dual_encoder import IMAGE_SIZE, tiny_model, tiny_text_config
from tests.models.dual_encoder.test_processing_dual_encoder import letter_tokenizer


class WorkerRecordingCollator(hf_pricer.DualEncoderCollator):
    """Adds the id of the worker process that built the batch (-1: the main process)."""

    def __call__(self, examples):
        batch = super().__call__(examples)
        info = torch.utils.data.get_worker_info()
        batch["worker"] = torch.tensor(-1 if info is None else info.id)
        return batch


@pytest.mark.slow
def test_two_workers_decode_images_and_train(tmp_path):
    items = hf_pricer.load_items("catalog", catalog_size=40, with_images=True, image_size=48)["train"]
    assert type(items.features["image"]).__name__ == "Image"  # decoded when a worker reads the row
    processor = hf_pricer.DualEncoderProcessor(hf_pricer.DualEncoderImageProcessor(size=IMAGE_SIZE), letter_tokenizer(),
                                               max_length=24)
    args = hf_pricer.PricerTrainingArguments(output_dir=str(tmp_path), use_cpu=True, report_to="none", max_steps=4,
                                             per_device_train_batch_size=4, dataloader_num_workers=2,
                                             save_strategy="no", disable_tqdm=True, logging_steps=1)
    model = tiny_model(text_config=tiny_text_config(vocab_size=letter_tokenizer().vocab_size, max_position_embeddings=64))
    recording = hf_pricer.PricerTrainer(model=model, args=args, train_dataset=items,
                                        data_collator=WorkerRecordingCollator(processor, train=True))
    batches = [batch for _, batch in zip(range(6), recording.get_train_dataloader())]
    assert {int(batch["worker"]) for batch in batches} == {0, 1}
    for batch in batches:
        assert batch["pixel_values"].shape == (4, 3, IMAGE_SIZE, IMAGE_SIZE) and bool(batch["has_image"].all())
        assert batch["pixel_values"].std() > 0  # real images, not the blank placeholder

    trainer = hf_pricer.PricerTrainer(model=model.train(), args=args, train_dataset=items,
                                      data_collator=hf_pricer.DualEncoderCollator(processor, train=True))
    trainer.train()
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert len(losses) == 4 and all(math.isfinite(loss) for loss in losses)
