"""The embedding aligner's files (`hf_pricer.data.alignment`): the .npz layouts, their checks, and the
submission CSV."""

from pathlib import Path

import numpy as np
import pytest

from hf_pricer import AlignmentData, load_alignment_npz, read_submission, write_submission


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


def train_arrays(num_images=3, captions_per_image=1):
    data = tiny_alignment(num_images=num_images, captions_per_image=captions_per_image)
    return {
        "captions/embeddings": data.caption_embeds,
        "captions/text": data.caption_text,
        "images/embeddings": data.image_embeds,
        "images/names": data.image_names,
    }


def save(tmp_path, **arrays):
    path = tmp_path / "data.npz"
    np.savez(path, **arrays)
    return path


def test_train_layout_with_as_many_captions_as_images(tmp_path):
    arrays = train_arrays()
    data = load_alignment_npz(save(tmp_path, **arrays))
    assert data.has_images and data.image_index.tolist() == [0, 1, 2]
    assert data.caption_embeds.dtype == np.float32 and data.ids.tolist() == ["0", "1", "2"]


def test_captions_map_to_images_by_index_or_one_hot_label(tmp_path):
    arrays = train_arrays(num_images=3, captions_per_image=2)
    arrays["images/embeddings"], arrays["images/names"] = arrays["images/embeddings"][:3], arrays["images/names"][:3]
    with pytest.raises(ValueError, match="6 rows and `images/embeddings` 3: .*`captions/image_index`"):
        load_alignment_npz(save(tmp_path, **arrays))
    index = np.array([2, 2, 0, 1, 1, 0])
    by_index = load_alignment_npz(save(tmp_path, **arrays, **{"captions/image_index": index}))
    assert by_index.image_index.tolist() == index.tolist()
    one_hot = np.eye(3, dtype=np.uint8)[index]
    assert load_alignment_npz(save(tmp_path, **arrays, **{"captions/label": one_hot})).image_index.tolist() == index.tolist()
    one_hot[1, 1] = 1
    with pytest.raises(ValueError, match="`captions/label` row 1 has 2 non-zero entries"):
        load_alignment_npz(save(tmp_path, **arrays, **{"captions/label": one_hot}))
    with pytest.raises(ValueError, match="`captions/image_index` row 2 points at image 3, outside"):
        load_alignment_npz(save(tmp_path, **arrays, **{"captions/image_index": np.array([0, 1, 3, 0, 1, 2])}))


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda a: a.pop("images/embeddings"), r"`images/embeddings` is missing \(the file has"),
        (lambda a: a.pop("captions/text"), "`captions/text` is missing"),
        (lambda a: a.update({"captions/embeddings": a["captions/embeddings"][:, :, None]}), "must be 2-dimensional"),
        (lambda a: a.update({"captions/text": a["captions/text"][:, None]}), "`captions/text` must be 1-dimensional"),
        (lambda a: a.update({"captions/text": a["captions/text"][:2]}), "`captions/text` has 2 rows but `captions/embeddings` has 3"),
        (lambda a: a.update({"images/names": a["images/names"][:2]}), "`images/names` has 2 rows but `images/embeddings` has 3"),
        (lambda a: a["images/embeddings"].__setitem__((1, 2), np.nan), r"`images/embeddings` holds NaN in 1 rows \(first: row 1\)"),
        (lambda a: a["captions/embeddings"].__setitem__((2, 0), np.inf), r"`captions/embeddings` holds inf in 1 rows \(first: row 2\)"),
        (lambda a: a.update({"images/embeddings": a["images/embeddings"].astype(np.int64)}), "must be a float array, got dtype int64"),
        (lambda a: a.update({"captions/text": np.arange(3)}), "`captions/text` must hold strings, got dtype int64"),
    ],
)
def test_npz_validation_names_the_key_and_the_problem(tmp_path, change, message):
    arrays = train_arrays()
    change(arrays)
    with pytest.raises(ValueError, match=message):
        load_alignment_npz(save(tmp_path, **arrays), require_images=True)


def test_object_arrays_are_refused_not_unpickled(tmp_path):
    arrays = train_arrays()
    arrays["captions/text"] = np.array(["a", None, "c"], dtype=object)
    with pytest.raises(ValueError, match="`captions/text` cannot be read without unpickling"):
        load_alignment_npz(save(tmp_path, **arrays))


def test_not_an_npz_file(tmp_path):
    path = tmp_path / "broken.npz"
    path.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a readable .npz file"):
        load_alignment_npz(path)


def test_test_layout_needs_ids_and_round_trips(tmp_path):
    data = tiny_alignment(num_images=4)
    path = data.save(tmp_path / "test.clean.npz", with_images=False)
    assert set(np.load(path).files) == {"captions/ids", "captions/text", "captions/embeddings"}
    test = load_alignment_npz(path)
    assert not test.has_images and test.ids.tolist() == data.ids.tolist()
    np.testing.assert_array_equal(test.caption_embeds, data.caption_embeds)
    arrays = dict(np.load(path))
    arrays.pop("captions/ids")
    with pytest.raises(ValueError, match="`captions/ids` is missing"):
        load_alignment_npz(save(tmp_path, **arrays))


def test_train_layout_round_trip(tmp_path):
    data = tiny_alignment(num_images=5, captions_per_image=3)
    loaded = load_alignment_npz(data.save(tmp_path / "train.npz"), require_images=True)
    for name in ("caption_text", "caption_embeds", "caption_ids", "image_index", "image_names", "image_embeds"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(data, name), err_msg=name)


def test_split_by_image_keeps_every_caption_with_its_image():
    data = tiny_alignment(num_images=10, captions_per_image=3)
    train, test = data.split_by_image(0.3, seed=1)
    assert (len(train.image_embeds), len(test.image_embeds)) == (7, 3)
    assert set(train.image_names).isdisjoint(test.image_names)
    assert len(train) + len(test) == len(data) == 30
    for part in (train, test):
        for text, image in zip(part.caption_text, part.image_names[part.image_index]):
            assert text.endswith(image.removesuffix(".jpg"))  # caption "... of img7" stays with img7.jpg
    with pytest.raises(ValueError, match="leaves no train or no test image"):
        data.split_by_image(10)


def test_alignment_data_from_arrays_is_validated():
    with pytest.raises(ValueError, match="arrays: `captions/embeddings` must be a float array"):
        AlignmentData(caption_text=np.array(["a"]), caption_embeds=np.array([[1, 2]]))


def test_submission_round_trip_is_exact_for_float32(tmp_path):
    predictions = np.random.default_rng(0).normal(size=(3, 5)).astype(np.float32)
    path = write_submission(tmp_path / "submission.csv", np.array(["q1", "q2", "q3"]), predictions)
    assert Path(path).read_text().splitlines()[0] == "id,embedding"
    ids, loaded = read_submission(path)
    assert ids == ["q1", "q2", "q3"]
    np.testing.assert_array_equal(loaded, predictions)
    with pytest.raises(ValueError, match=r"3 ids need predictions of shape \(3, dim\)"):
        write_submission(tmp_path / "bad.csv", ["a", "b", "c"], predictions[:2])
