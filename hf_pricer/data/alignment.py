"""Data of the embedding aligner: its `.npz` files, rows for the Trainer, submissions.

The `.npz` layout (read with `allow_pickle=False`; text arrays are numpy unicode arrays):

- a **train** file (captions with their images):
  `captions/embeddings` `(num_captions, text_dim)` float, `captions/text` `(num_captions,)` str,
  `images/embeddings` `(num_images, image_dim)` float, `images/names` `(num_images,)` str;
  optionally `captions/ids` `(num_captions,)` str or int.
- a **test** file (`test.clean.npz`, captions only):
  `captions/ids`, `captions/text`, `captions/embeddings`.

Which image a caption describes: the original layout has no key for it, so the files say it one of three
ways, tried in this order:

1. `captions/image_index` `(num_captions,)` int: the row of the caption's image in `images/*` (what
   `hf-pricer embed` writes; several captions may share an image);
2. `captions/label` `(num_captions, num_images)`: a one-hot matrix, one non-zero per row;
3. neither: as many captions as images, caption `i` describing image `i`.

Every array is checked (key present, dimensions, lengths, dtype, finite values) with an error that names
the file, the key and the problem.

A submission CSV has one row per test caption: `id`, and `embedding`, the predicted image embedding as a
JSON list of floats (`"[0.0123, -0.98, ...]"`, 9 significant digits: float32 round-trips exactly).
"""

from __future__ import annotations

import csv
import json
import os
import zipfile
import zlib
from dataclasses import dataclass, field

import numpy as np

CAPTION_EMBEDS = "captions/embeddings"
CAPTION_TEXT = "captions/text"
CAPTION_IDS = "captions/ids"
CAPTION_IMAGE_INDEX = "captions/image_index"
CAPTION_LABEL = "captions/label"
IMAGE_EMBEDS = "images/embeddings"
IMAGE_NAMES = "images/names"
TRAIN_KEYS = (CAPTION_EMBEDS, IMAGE_EMBEDS, CAPTION_TEXT, IMAGE_NAMES)
TEST_KEYS = (CAPTION_IDS, CAPTION_TEXT, CAPTION_EMBEDS)
SUBMISSION_COLUMNS = ("id", "embedding")


@dataclass
class AlignmentData:
    """Captions (text and embeddings) and, for training and evaluation data, their images' embeddings.

    `image_index[i]` is the row in `image_embeds`/`image_names` of caption `i`'s image.
    """

    caption_text: np.ndarray
    caption_embeds: np.ndarray
    caption_ids: np.ndarray | None = None
    image_index: np.ndarray | None = None
    image_names: np.ndarray | None = None
    image_embeds: np.ndarray | None = None
    source: str = field(default="arrays", repr=False)

    def __post_init__(self):
        validate_alignment(self)

    @property
    def has_images(self) -> bool:
        return self.image_embeds is not None

    @property
    def ids(self) -> np.ndarray:
        return self.caption_ids if self.caption_ids is not None else np.arange(len(self.caption_text)).astype(str)

    def __len__(self) -> int:
        return len(self.caption_text)

    def to_arrays(self, with_images: bool = True) -> dict[str, np.ndarray]:
        """The `.npz` arrays: the train layout (with `captions/image_index`), or the test layout."""
        arrays = {CAPTION_IDS: self.ids, CAPTION_TEXT: self.caption_text, CAPTION_EMBEDS: self.caption_embeds}
        if with_images and self.has_images:
            arrays.update({CAPTION_IMAGE_INDEX: self.image_index, IMAGE_NAMES: self.image_names,
                           IMAGE_EMBEDS: self.image_embeds})
        return arrays

    def save(self, path: str | os.PathLike, with_images: bool = True) -> str:
        """Write the train layout, or with `with_images=False` the test (`test.clean.npz`) layout."""
        np.savez(path, **self.to_arrays(with_images))
        return os.fspath(path)

    def to_dataset(self):
        """A `datasets.Dataset` with one row per caption: `id`, `text`, `text_embeds` and, with images,
        `image_index`, `image_name`, `image_embeds` (the target of the collator's `labels`)."""
        from datasets import Dataset

        columns = {"id": self.ids.astype(str), "text": self.caption_text, "text_embeds": self.caption_embeds}
        if self.has_images:
            columns.update(
                image_index=self.image_index,
                image_name=self.image_names[self.image_index],
                image_embeds=self.image_embeds[self.image_index],
            )
        return Dataset.from_dict(columns).with_format("numpy")

    def subset_images(self, image_rows: np.ndarray) -> AlignmentData:
        """The captions of the images `image_rows` (in that order), re-indexed."""
        new_row = np.full(len(self.image_embeds), -1)
        new_row[image_rows] = np.arange(len(image_rows))
        captions = np.flatnonzero(new_row[self.image_index] >= 0)
        return AlignmentData(
            caption_text=self.caption_text[captions],
            caption_embeds=self.caption_embeds[captions],
            caption_ids=self.ids[captions],
            image_index=new_row[self.image_index[captions]],
            image_names=self.image_names[image_rows],
            image_embeds=self.image_embeds[image_rows],
            source=self.source,
        )

    def split_by_image(self, test_size: float, seed: int = 0) -> tuple[AlignmentData, AlignmentData]:
        """Split into (train, test) by image, so that no test image (or caption of it) is in train."""
        if not self.has_images:
            raise ValueError(f"{self.source}: splitting by image needs `{IMAGE_EMBEDS}`")
        num_images = len(self.image_embeds)
        num_test = round(test_size * num_images) if test_size < 1 else int(test_size)
        if not 0 < num_test < num_images:
            raise ValueError(f"`test_size`={test_size} leaves no train or no test image out of {num_images}")
        order = np.random.default_rng(seed).permutation(num_images)
        return self.subset_images(np.sort(order[num_test:])), self.subset_images(np.sort(order[:num_test]))


def _error(source: str, key: str, problem: str) -> ValueError:
    return ValueError(f"{source}: `{key}` {problem}")


def _check_embeddings(source: str, key: str, values: np.ndarray) -> np.ndarray:
    if values.dtype.kind != "f":
        raise _error(source, key, f"must be a float array, got dtype {values.dtype}")
    if values.ndim != 2 or values.shape[1] == 0:
        raise _error(source, key, f"must be 2-dimensional (rows, dim), got shape {values.shape}")
    finite = np.isfinite(values)
    if not finite.all():
        bad_rows = np.flatnonzero(~finite.all(axis=1))
        kinds = " and ".join(
            name for name, present in (("NaN", np.isnan(values).any()), ("inf", np.isinf(values).any())) if present
        )
        raise _error(source, key, f"holds {kinds} in {len(bad_rows)} rows (first: row {bad_rows[0]})")
    return values.astype(np.float32, copy=False)


def _check_strings(source: str, key: str, values: np.ndarray, allow_int: bool = False) -> np.ndarray:
    kinds = "USiu" if allow_int else "US"
    if values.ndim != 1:
        raise _error(source, key, f"must be 1-dimensional, got shape {values.shape}")
    if values.dtype.kind not in kinds:
        expected = "strings or integers" if allow_int else "strings"
        raise _error(source, key, f"must hold {expected}, got dtype {values.dtype}")
    if values.dtype.kind == "S":
        return np.char.decode(values, "utf-8")
    return values


def _check_rows(source: str, key: str, values: np.ndarray, rows: int, reference: str) -> None:
    if len(values) != rows:
        raise _error(source, key, f"has {len(values)} rows but `{reference}` has {rows}")


def validate_alignment(data: AlignmentData) -> None:
    """Check and normalise `data` in place (float32 embeddings, str text); raises `ValueError` naming the key."""
    source = data.source
    data.caption_embeds = _check_embeddings(source, CAPTION_EMBEDS, np.asarray(data.caption_embeds))
    num_captions = len(data.caption_embeds)
    data.caption_text = _check_strings(source, CAPTION_TEXT, np.asarray(data.caption_text))
    _check_rows(source, CAPTION_TEXT, data.caption_text, num_captions, CAPTION_EMBEDS)
    if data.caption_ids is not None:
        data.caption_ids = _check_strings(source, CAPTION_IDS, np.asarray(data.caption_ids), allow_int=True)
        _check_rows(source, CAPTION_IDS, data.caption_ids, num_captions, CAPTION_EMBEDS)
    if data.image_embeds is None:
        if data.image_index is not None or data.image_names is not None:
            raise _error(source, IMAGE_EMBEDS, "is missing but captions refer to images")
        return
    data.image_embeds = _check_embeddings(source, IMAGE_EMBEDS, np.asarray(data.image_embeds))
    num_images = len(data.image_embeds)
    if data.image_names is None:
        data.image_names = np.arange(num_images).astype(str)
    data.image_names = _check_strings(source, IMAGE_NAMES, np.asarray(data.image_names))
    _check_rows(source, IMAGE_NAMES, data.image_names, num_images, IMAGE_EMBEDS)
    if data.image_index is None:
        if num_captions != num_images:
            raise ValueError(
                f"{source}: `{CAPTION_EMBEDS}` has {num_captions} rows and `{IMAGE_EMBEDS}` {num_images}: with "
                f"unequal counts, `{CAPTION_IMAGE_INDEX}` (or a one-hot `{CAPTION_LABEL}`) must say which image "
                "each caption describes"
            )
        data.image_index = np.arange(num_images)
    index = np.asarray(data.image_index)
    if index.ndim != 1 or index.dtype.kind not in "iu":
        raise _error(source, CAPTION_IMAGE_INDEX, f"must be a 1-dimensional integer array, got {index.dtype} {index.shape}")
    _check_rows(source, CAPTION_IMAGE_INDEX, index, num_captions, CAPTION_EMBEDS)
    if len(index) and (index.min() < 0 or index.max() >= num_images):
        bad = int(np.flatnonzero((index < 0) | (index >= num_images))[0])
        raise _error(source, CAPTION_IMAGE_INDEX, f"row {bad} points at image {int(index[bad])}, outside [0, {num_images})")
    data.image_index = index.astype(np.int64, copy=False)


def _one_hot_to_index(source: str, label: np.ndarray, num_images: int) -> np.ndarray:
    if label.ndim != 2 or label.shape[1] != num_images:
        raise _error(source, CAPTION_LABEL, f"must have shape (num_captions, {num_images}), got {label.shape}")
    if label.dtype.kind not in "biuf":
        raise _error(source, CAPTION_LABEL, f"must be numeric or boolean, got dtype {label.dtype}")
    nonzero = (label != 0).sum(axis=1)
    if (nonzero != 1).any():
        bad = int(np.flatnonzero(nonzero != 1)[0])
        raise _error(source, CAPTION_LABEL, f"row {bad} has {int(nonzero[bad])} non-zero entries; it must be one-hot")
    return np.argmax(label != 0, axis=1)


def load_alignment_npz(path: str | os.PathLike, require_images: bool | None = None) -> AlignmentData:
    """Read and validate a train-layout or test-layout `.npz` file (see the module docstring).

    Args:
        path: the `.npz` file.
        require_images: `True` for a train file (image keys required), `False` to read captions only,
            `None` to accept either layout.
    """
    source = os.fspath(path)
    if os.path.isfile(source) and os.path.getsize(source) == 0:
        raise ValueError(f"{source}: not a readable .npz file (the file is empty, 0 bytes)")
    try:
        archive = np.load(source, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise ValueError(f"{source}: not a readable .npz file ({type(error).__name__}: {error})") from error
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(f"{source}: expected an .npz archive of named arrays, got a single array")
    with archive:
        keys = set(archive.files)

        def get(key: str, required: bool = True) -> np.ndarray | None:
            if key not in keys:
                if required:
                    raise _error(source, key, f"is missing (the file has {sorted(keys)})")
                return None
            try:
                return archive[key]
            except ValueError as error:
                if "allow_pickle" in str(error):  # an object array: it is never unpickled
                    raise _error(source, key, f"cannot be read without unpickling ({error}); store it as a numeric "
                                 "or unicode array") from None
                raise _error(source, key, f"is damaged ({type(error).__name__}: {error})") from None
            except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as error:  # a corrupt or truncated member
                raise _error(source, key, f"is damaged ({type(error).__name__}: {error})") from None

        with_images = IMAGE_EMBEDS in keys if require_images is None else require_images
        caption_ids = get(CAPTION_IDS, required=not with_images)
        common = {"caption_text": get(CAPTION_TEXT), "caption_embeds": get(CAPTION_EMBEDS), "caption_ids": caption_ids}
        if not with_images:
            return AlignmentData(**common, source=source)
        image_embeds = get(IMAGE_EMBEDS)
        image_index = get(CAPTION_IMAGE_INDEX, required=False)
        if image_index is None and CAPTION_LABEL in keys:
            image_index = _one_hot_to_index(source, get(CAPTION_LABEL), len(image_embeds))
        return AlignmentData(
            **common, image_index=image_index, image_names=get(IMAGE_NAMES), image_embeds=image_embeds, source=source
        )


def write_submission(path: str | os.PathLike, ids, predictions) -> str:
    """Write the submission CSV: columns `id`, `embedding` (a JSON list of floats)."""
    predictions = np.asarray(predictions, dtype=np.float32)
    ids = np.asarray(ids)
    if predictions.ndim != 2 or len(predictions) != len(ids):
        raise ValueError(f"{len(ids)} ids need predictions of shape ({len(ids)}, dim), got {predictions.shape}")
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(SUBMISSION_COLUMNS)
        for identifier, row in zip(ids.tolist(), predictions):
            writer.writerow([identifier, "[" + ",".join(f"{value:.9g}" for value in row.tolist()) + "]"])
    return os.fspath(path)


def read_submission(path: str | os.PathLike) -> tuple[list[str], np.ndarray]:
    """Read a submission CSV back: the ids (as strings) and the `(rows, dim)` float32 embeddings."""
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if tuple(header or ()) != SUBMISSION_COLUMNS:
            raise ValueError(f"{path}: expected the header {SUBMISSION_COLUMNS}, got {header}")
        ids, rows = [], []
        for line, (identifier, embedding) in enumerate(reader, start=2):
            ids.append(identifier)
            try:
                rows.append(json.loads(embedding))
            except json.JSONDecodeError as error:
                raise ValueError(f"{path}: line {line}: `embedding` is not a JSON list ({error})") from None
    return ids, np.asarray(rows, dtype=np.float32)


__all__ = [
    "TEST_KEYS",
    "TRAIN_KEYS",
    "AlignmentData",
    "load_alignment_npz",
    "read_submission",
    "write_submission",
]
