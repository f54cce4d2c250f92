import numpy as np

from hf_pricer import AlignmentData


def tiny_alignment(num_images=12, captions_per_image=2, text_dim=8, image_dim=6, seed=0, prefix="img"):
    """Captions whose embeddings are a noisy linear function of their image's embedding (learnable)."""
    rng = np.random.default_rng(seed)
    image_embeds = rng.normal(size=(num_images, image_dim)).astype(np.float32)
    image_index = np.repeat(np.arange(num_images), captions_per_image)
    mixing = np.random.default_rng(123).normal(size=(image_dim, text_dim))
    caption_embeds = image_embeds[image_index] @ mixing + 0.05 * rng.normal(size=(len(image_index), text_dim))
    return AlignmentData(
        caption_text=np.asarray([f"caption {i} of {prefix}{j}" for i, j in enumerate(image_index)]),
        caption_embeds=caption_embeds.astype(np.float32),
        caption_ids=np.asarray([f"{prefix}-c{i}" for i in range(len(image_index))]),
        image_index=image_index,
        image_names=np.asarray([f"{prefix}{j}.jpg" for j in range(num_images)]),
        image_embeds=image_embeds,
        source=prefix,
    )
