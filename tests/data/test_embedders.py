"""The text and image embedders (`hf_pricer.data.embedders`): MiniLM mean pools and EfficientNet-Lite0
features, and the embedded catalog."""

import numpy as np
import pytest
from PIL import Image

from hf_pricer.data import embedders as embed
from hf_pricer.data.images import ImageReport


@pytest.fixture(scope="module")
def text_embedder():
    return embed.TextEmbedder(batch_size=4)


@pytest.fixture(scope="module")
def image_embedder():
    return embed.ImageEmbedder(batch_size=2)


def test_text_embeddings_are_normalised_mean_pools_that_ignore_padding(text_embedder):
    short = "a dog on the beach"
    alone = text_embedder([short])
    batched = text_embedder([short, "a much longer caption that makes the batch padded with many tokens"])
    assert alone.shape == (1, 384) and alone.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(batched, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(batched[0], alone[0], atol=1e-5)  # padding does not enter the mean


def test_image_embeddings_and_unusable_images_are_counted(image_embedder, tmp_path):
    good = Image.new("RGB", (64, 48), (200, 40, 40))
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not an image")
    report = ImageReport("test images")
    embedder = embed.ImageEmbedder(batch_size=2, max_pixels=100 * 100)
    embeds, usable = embedder([good, str(broken), Image.new("RGB", (200, 200)), good], report=report)
    assert usable.tolist() == [True, False, False, True]
    assert embeds.shape == (2, 1280) and np.isfinite(embeds).all()
    np.testing.assert_allclose(embeds[0], embeds[1], atol=1e-5)
    assert report.counts == {"unreadable image": 1, "image too large": 1} and report.kept == 2


def test_captions_file_needs_its_columns(tmp_path):
    (tmp_path / "captions.txt").write_text("file,text\na.jpg,hello\n")
    with pytest.raises(ValueError, match="expected CSV columns `image` and `caption`"):
        embed.read_captions_file(tmp_path / "captions.txt")


def test_catalog_data_is_cached(text_embedder, image_embedder, tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(embed, "TextEmbedder", lambda: calls.append("text") or text_embedder)
    monkeypatch.setattr(embed, "ImageEmbedder", lambda: calls.append("image") or image_embedder)
    first = embed.cached_catalog_data(6, cache_dir=tmp_path)
    again = embed.cached_catalog_data(6, cache_dir=tmp_path)
    assert calls == ["text", "image"]  # the second call reads the cache
    np.testing.assert_array_equal(first.image_embeds, again.image_embeds)
    assert len(first) == len(first.image_embeds) == 6 and first.image_index.tolist() == list(range(6))
    images = embed.catalog_images(6)
    assert list(images) == first.image_names.tolist()
