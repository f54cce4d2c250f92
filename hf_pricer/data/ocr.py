"""OCR of product images: printed text as lines and word tokens with boxes, for models that read labels.

An OCR result is a list of **lines**, each a dict `{"text": str, "quad": [[x, y] × 4], "confidence": float}`: the
line's four corners (top-left, top-right, bottom-right, bottom-left) normalised to 0–1000 of the image's width and
height, as LayoutLM's boxes are, in reading order (top to bottom, left to right within a row). Lines are plain
JSON, so they travel in a `datasets` column (`ocr`) and in the cache.

:func:`ocr_words` splits lines into **word tokens** by character class (OCR engines drop most spaces: `"NETWT500g"`
→ `NETWT`, `500`, `g`), each with its axis-aligned box (0–1000), the line's confidence and the line's index.

:class:`RapidOcrEngine` runs RapidOCR (PP-OCR detection and recognition as ONNX models, which its wheel ships, on
onnxruntime; Apache-2.0) and caches every result on disk by the image's content hash and the engine's settings. It
needs the `ocr` extra (`pip install "hf_pricer[ocr]"`): `rapidocr` 3.x, `onnxruntime`, and OpenCV in its headless
build, which rapidocr 3.x depends on (the older `rapidocr-onnxruntime` pulls in the GUI build instead).

:func:`simulate_ocr` turns the printed pieces of a generated label (text + quad, see
:mod:`hf_pricer.data.label_images`) into RapidOCR-like lines without running an engine (dropped spaces, character
confusions, missed and split boxes, background text, RapidOCR's reading order), so that training sets can be large
while only a small part of them pays for real OCR.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
import zlib
from typing import Any, NamedTuple

import numpy as np

from .schema import SkipReport

logger = logging.getLogger(__name__)

__all__ = [
    "OCR_EXTRA",
    "OCR_TOKEN_TYPES",
    "OcrReport",
    "OcrWord",
    "RapidOcrEngine",
    "image_content_hash",
    "ocr_token_features",
    "ocr_words",
    "require_ocr",
    "simulate_ocr",
    "sort_lines",
]

#: How to install what :class:`RapidOcrEngine` needs.
OCR_EXTRA = 'pip install "hf_pricer[ocr]"'
#: A word token: a run of digits (with at most one decimal separator), of letters, or one other character.
WORD_PATTERN = re.compile(r"\d+(?:[.,]\d+)?|[^\W\d_]+|[^\s\w]|_")
# RapidOCR puts boxes whose top edges are less than 10 image pixels apart in one row, read left to right.
ROW_TOLERANCE_PX = 10

OCR_FAILED = "ocr failed"


class OcrWord(NamedTuple):
    """A word token of an OCR result: `box` is `(x0, y0, x1, y1)` on 0–1000, `line` the index of its line."""

    text: str
    box: tuple[int, int, int, int]
    confidence: float
    line: int


class OcrReport(SkipReport):
    """Counts images whose OCR failed (by reason) and OCR results served from the cache; `kept` counts images
    read. An image whose OCR fails gets no text (models then read its pixels alone): an event, not a dropped row."""

    message = "no OCR for image {row_id}: {reason}"
    progress = "{count} images without OCR so far for {kind}"

    def __init__(self, name: str = "ocr", log_first: int = 5):
        super().__init__(name=name, log_first=log_first)
        self.cached = 0

    def summary(self) -> str:
        reasons = ", ".join(f"{count} {reason}" for reason, count in self.counts.most_common())
        return (
            f"{self.name}: read {self.kept} images ({self.cached} from the cache), failed {self.skipped}"
            + (f" ({reasons})" if reasons else "")
        )

    def __repr__(self) -> str:
        return f"OcrReport({self.summary()})"


def require_ocr():
    """Import the OCR engine, or raise an `ImportError` that says which extra installs it."""
    try:
        import onnxruntime  # noqa: F401
        from rapidocr import RapidOCR
    except ImportError as error:
        raise ImportError(
            f"OCR needs the `ocr` extra of hf_pricer ({OCR_EXTRA}: rapidocr 3.x, onnxruntime and the headless "
            f"OpenCV); importing it failed: {error}"
        ) from error
    return RapidOCR


def image_content_hash(image) -> str:
    """SHA-1 of an RGB PIL image's size and pixels: the same picture has the same hash whatever its file format."""
    digest = hashlib.sha1(f"{image.mode} {image.size[0]}x{image.size[1]}".encode())
    digest.update(image.tobytes())
    return digest.hexdigest()


def _normalised_quad(quad, width: int, height: int) -> list[list[float]]:
    points = np.asarray(quad, dtype=np.float64).reshape(4, 2) * (1000.0 / width, 1000.0 / height)
    return np.round(np.clip(points, 0.0, 1000.0), 1).tolist()


def sort_lines(lines: list[dict], image_height: int) -> list[dict]:
    """`lines` in RapidOCR's reading order: by the top-left corner's y, and left to right among lines whose top
    edges are less than `ROW_TOLERANCE_PX` image pixels apart."""
    tolerance = ROW_TOLERANCE_PX * 1000.0 / max(image_height, 1)
    ordered = sorted(lines, key=lambda line: (line["quad"][0][1], line["quad"][0][0]))
    row, rows, previous = [], [], None
    for line in ordered:
        top = line["quad"][0][1]
        if previous is not None and top - previous >= tolerance:
            rows.append(row)
            row = []
        row.append(line)
        previous = top
    rows.append(row)
    return [line for row in rows for line in sorted(row, key=lambda line: line["quad"][0][0])]


def ocr_words(lines: list[dict], max_words: int | None = None) -> list[OcrWord]:
    """The word tokens of OCR `lines` (see the module docstring), at most `max_words`.

    A word's box is the part of its line's quad that its characters span (characters are taken as equally wide,
    the same for real and simulated OCR), made axis-aligned."""
    words = []
    for index, line in enumerate(lines):
        text = line["text"]
        top_left, top_right, bottom_right, bottom_left = np.asarray(line["quad"], dtype=np.float64)
        for match in WORD_PATTERN.finditer(text):
            start, end = match.start() / len(text), match.end() / len(text)
            corners = np.stack(
                [
                    top_left + (top_right - top_left) * start,
                    top_left + (top_right - top_left) * end,
                    bottom_left + (bottom_right - bottom_left) * end,
                    bottom_left + (bottom_right - bottom_left) * start,
                ]
            )
            low, high = np.clip(corners.min(0), 0, 1000), np.clip(corners.max(0), 0, 1000)
            box = (round(low[0]), round(low[1]), round(high[0]), round(high[1]))
            words.append(OcrWord(match.group(), box, float(line.get("confidence", 1.0)), index))
            if max_words is not None and len(words) >= max_words:
                return words
    return words


#: Word token types of :func:`ocr_token_features` (0 is padding).
OCR_TOKEN_TYPES = {"word": 1, "number": 2, "other": 3}


def _token_type(text: str) -> str:
    return "number" if text[0].isdigit() else "word" if text[0].isalpha() else "other"


def ocr_token_features(
    lines: list[dict], max_tokens: int = 64, num_buckets: int = 4096, ids_per_token: int = 24
) -> tuple[list[OcrWord], dict[str, list]]:
    """The word tokens of OCR `lines` and their model features, at most `max_tokens`.

    `input_ids` `(tokens, ids_per_token)`: hashed ids (1..`num_buckets - 1`, 0 pads) of the token's whole lower-case
    text and its character 1-, 2- and 3-grams, so spellings an OCR engine garbles (`Proteln`, `NETWEIGHT`) stay
    close. Digits are hashed as their shape only (`14.5` → `dd.d`): values are copied from the OCR, never
    embedded. `bbox` `(tokens, 4)`: the word's box on 0–1000; `token_types`: see `OCR_TOKEN_TYPES`.
    """
    words = ocr_words(lines, max_words=max_tokens)
    input_ids, bbox, types = [], [], []
    for word in words:
        text = re.sub(r"\d", "d", word.text.lower())
        padded = f"<{text}>"
        grams = [padded] + [padded[k : k + n] for n in (1, 2, 3) for k in range(len(padded) - n + 1)]
        ids = [1 + zlib.crc32(gram.encode()) % (num_buckets - 1) for gram in grams[:ids_per_token]]
        input_ids.append(ids + [0] * (ids_per_token - len(ids)))
        bbox.append(list(word.box))
        types.append(OCR_TOKEN_TYPES[_token_type(word.text)])
    return words, {"input_ids": input_ids, "bbox": bbox, "token_types": types}


class RapidOcrEngine:
    r"""
    RapidOCR (PP-OCR detection + recognition, ONNX, on onnxruntime) with an on-disk cache per image.

    `engine(image)` returns the image's OCR lines (see the module docstring); `engine.batch(images)` a list of
    them. Results are cached under `cache_dir/<settings hash>/` by the image's content hash, so an image is read
    once per setting, whatever its file name or format. An image the engine fails on gets `[]`, counted in
    `report` (an [`OcrReport`]) and logged.

    Args:
        det_limit_side_len (`int`, *optional*, defaults to 736): the detector resizes an image so that its shorter
            side is this long; smaller is faster and misses more small print.
        text_score (`float`, *optional*, defaults to 0.3): lines recognised with a lower confidence are dropped.
        num_threads (`int`, *optional*, defaults to 1): onnxruntime threads per engine. onnxruntime sizes its
            thread pool itself (it ignores `OMP_NUM_THREADS`); on a shared or small machine, run several
            processes of one thread each rather than one process with several threads.
        cache_dir (`str`, *optional*): defaults to `$HF_PRICER_CACHE/ocr` or `~/.cache/hf_pricer/ocr`; `""` turns
            the disk cache off.

    The 180° text-direction classifier is off: labels are photographed upright, and it turns some of them upside
    down (`60 qt` read as `b 09`).
    """

    def __init__(
        self,
        det_limit_side_len: int = 736,
        text_score: float = 0.3,
        num_threads: int = 1,
        cache_dir: str | os.PathLike | None = None,
    ):
        if det_limit_side_len < 32:
            raise ValueError(f"det_limit_side_len must be at least 32, got {det_limit_side_len}")
        if not 0.0 <= text_score <= 1.0:
            raise ValueError(f"text_score must be in [0, 1], got {text_score}")
        require_ocr()  # fail here, with the extra's name, rather than at the first image
        self.det_limit_side_len = det_limit_side_len
        self.text_score = text_score
        self.num_threads = num_threads
        if cache_dir is None:
            default = os.path.join(os.path.expanduser("~"), ".cache", "hf_pricer")
            cache_dir = os.path.join(os.environ.get("HF_PRICER_CACHE", default), "ocr")
        self.cache_dir = os.path.join(os.fspath(cache_dir), self.settings_hash) if cache_dir else None
        self.report = OcrReport()
        self._engine = None

    @property
    def settings(self) -> dict[str, Any]:
        """What decides the engine's output (the cache key besides the image); the engine's version included."""
        from importlib.metadata import version

        require_ocr()
        return {
            "engine": f"rapidocr {version('rapidocr')}",
            "det_limit_side_len": self.det_limit_side_len,
            "text_score": self.text_score,
        }

    @property
    def settings_hash(self) -> str:
        return hashlib.sha1(json.dumps(self.settings, sort_keys=True).encode()).hexdigest()[:16]

    def __getstate__(self):
        # `datasets.map(num_proc=...)` pickles the engine into worker processes: each builds its own session.
        return {**self.__dict__, "_engine": None}

    def _load(self):
        if self._engine is None:
            RapidOCR = require_ocr()
            import rapidocr

            models = os.path.join(os.path.dirname(rapidocr.__file__), "models")
            params = {
                "Global.use_cls": False,
                "Global.text_score": self.text_score,
                "Global.log_level": "error",  # "no text detected" is an answer here, not a warning
                "Det.limit_side_len": self.det_limit_side_len,
                "EngineConfig.onnxruntime.intra_op_num_threads": self.num_threads,
                "EngineConfig.onnxruntime.inter_op_num_threads": 1,
            }
            # The models of the wheel, named explicitly: RapidOCR downloads a model that is not where it expects
            # it, and nothing here may download.
            for task, name in (("Det", "PP-OCRv6_det_small.onnx"), ("Rec", "PP-OCRv6_rec_small.onnx")):
                path = os.path.join(models, name)
                if not os.path.isfile(path):
                    raise FileNotFoundError(
                        f"the OCR model {path} is missing from the rapidocr package; reinstall it ({OCR_EXTRA})"
                    )
                params[f"{task}.model_path"] = path
            self._engine = RapidOCR(params=params)
        return self._engine

    def _cache_file(self, key: str) -> str | None:
        return None if self.cache_dir is None else os.path.join(self.cache_dir, key[:2], f"{key}.json")

    def __call__(self, image, image_id: str | None = None) -> list[dict]:
        """OCR lines of one RGB PIL image (see the module docstring)."""
        key = image_content_hash(image)
        cache_file = self._cache_file(key)
        if cache_file and os.path.isfile(cache_file):
            with open(cache_file, encoding="utf-8") as handle:
                lines = json.load(handle)
            self.report.kept += 1
            self.report.cached += 1
            return lines
        engine = self._load()  # a missing extra or model is the user's to fix: raised, not counted
        try:
            bgr = np.ascontiguousarray(np.asarray(image.convert("RGB"))[:, :, ::-1])
            # Settings go with the call too: RapidOCR resets any that a call leaves out to its defaults.
            result = engine(bgr, use_cls=False, text_score=self.text_score)
            lines = [
                {
                    "text": text,
                    "quad": _normalised_quad(quad, *image.size),
                    "confidence": round(float(score), 4),
                }
                for quad, text, score in zip(
                    result.boxes if result.txts else [], result.txts or (), result.scores or ()
                )
                if text.strip()
            ]
        except Exception as error:  # noqa: BLE001 -- a failed image is counted and gets no text, never a crash
            self.report.add(f"{OCR_FAILED} ({type(error).__name__}: {error})", image_id)
            return []
        lines = sort_lines(lines, image.size[1])
        self.report.kept += 1
        if cache_file:
            _write_json_atomic(cache_file, lines)
        return lines

    def batch(self, images, ids=None) -> list[list[dict]]:
        """OCR lines of each image (RGB PIL images; `None` gives `[]`)."""
        ids = ids if ids is not None else [None] * len(images)
        return [
            [] if image is None else self(image, image_id)
            for image, image_id in zip(images, ids, strict=True)
        ]


def _write_json_atomic(path: str, value) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            json.dump(value, file)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


# ------------------------------------------------------------------------------------------------------------
# Simulated OCR
# ------------------------------------------------------------------------------------------------------------

# Characters RapidOCR confuses on photographed print, each with what it reads instead.
_CONFUSIONS = {
    "0": "O",
    "O": "0",
    "1": "l",
    "l": "1",
    "I": "1",
    "5": "S",
    "S": "5",
    "8": "B",
    "B": "8",
    ".": ",",
    ",": ".",
    "g": "9",
    "9": "g",
    "m": "rn",
    "u": "v",
    "6": "b",
    "2": "Z",
    "7": "1",
}
_JUNK_CHARACTERS = list("ABCDEFGHIKLMNOPRSTUVaeiorstn0123456789")


def _noisy(text: str, rng: np.random.Generator, substitute: float, delete: float, keep_space: float) -> str:
    out = []
    for character in text:
        if character == " " and rng.random() >= keep_space:
            continue
        draw = rng.random()
        if draw < delete:
            continue
        if draw < delete + substitute and character in _CONFUSIONS:
            out.append(_CONFUSIONS[character])
        else:
            out.append(character)
    return "".join(out)


def simulate_ocr(
    pieces: list[dict],
    image_size: tuple[int, int],
    rng: np.random.Generator,
    *,
    substitute: float = 0.012,
    delete: float = 0.004,
    keep_space: float = 0.05,
    drop_box: float = 0.04,
    split_box: float = 0.05,
    junk: float = 0.5,
) -> list[dict]:
    """RapidOCR-like lines for the printed `pieces` of an image (`{"text", "quad"}`, quads on 0–1000).

    Calibrated on RapidOCR's output for photographed labels: it keeps about 5 % of the spaces, confuses
    1.2 % of the characters (`0/O`, `1/l`, `5/S`, `./,`, `m/rn`, ...), misses 4 % of the boxes and breaks 5 % of
    the multi-word ones at a space; background text adds a few junk boxes; corners jitter by 1 % of the image.

    Args:
        pieces: what is printed, in any order.
        image_size: `(width, height)` of the image in pixels (for the reading order's row tolerance).
        rng: draws the noise.
    """
    lines = []
    for piece in pieces:
        if rng.random() < drop_box:
            continue
        quad = np.asarray(piece["quad"], dtype=np.float64) + rng.normal(0.0, 10.0, (4, 2))
        text = piece["text"]
        parts = [(text, quad)]
        if " " in text.strip() and rng.random() < split_box:
            cut = int(rng.choice([k for k, c in enumerate(text) if c == " " and 0 < k < len(text) - 1]))
            top_left, top_right, bottom_right, bottom_left = quad
            share = cut / len(text)
            top, bottom = (
                top_left + (top_right - top_left) * share,
                bottom_left + (bottom_right - bottom_left) * share,
            )
            parts = [
                (text[:cut], np.stack([top_left, top, bottom, bottom_left])),
                (text[cut + 1 :], np.stack([top, top_right, bottom_right, bottom])),
            ]
        for part, part_quad in parts:
            part = _noisy(part, rng, substitute, delete, keep_space).strip()
            if part:
                lines.append(
                    {
                        "text": part,
                        "quad": np.round(np.clip(part_quad, 0, 1000), 1).tolist(),
                        "confidence": round(float(rng.uniform(0.8, 1.0)), 4),
                    }
                )
    while rng.random() < junk and len(lines) < 40:  # shelf tags and other packages in the background
        length = int(rng.integers(2, 9))
        x0, y0, height = rng.uniform(0, 850), rng.uniform(0, 920), rng.uniform(30, 80)
        x1 = min(x0 + 0.6 * height * length, 1000.0)
        lines.append(
            {
                "text": "".join(rng.choice(_JUNK_CHARACTERS, length)),
                "quad": np.round([[x0, y0], [x1, y0], [x1, y0 + height], [x0, y0 + height]], 1).tolist(),
                "confidence": round(float(rng.uniform(0.5, 0.9)), 4),
            }
        )
        junk *= 0.6
    return sort_lines(lines, image_size[1])
