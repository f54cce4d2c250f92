import sys

import numpy as np
import pytest

from hf_pricer.data.label_images import generate_label_images
from hf_pricer.data.ocr import (
    OCR_EXTRA,
    OCR_TOKEN_TYPES,
    RapidOcrEngine,
    ocr_token_features,
    ocr_words,
    require_ocr,
    simulate_ocr,
    sort_lines,
)


def _ocr_installed() -> bool:
    try:
        require_ocr()
    except ImportError:
        return False
    return True


requires_ocr = pytest.mark.skipif(
    not _ocr_installed(), reason=f"the OCR engine needs the `ocr` extra of hf_pricer ({OCR_EXTRA})"
)


def _line(text, x0, y0, x1, y1, confidence=0.9):
    return {"text": text, "quad": [[x0, y0], [x1, y0], [x1, y1], [x0, y1]], "confidence": confidence}


def test_missing_extra_raises_an_import_error_naming_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "rapidocr", None)
    with pytest.raises(ImportError, match=r"hf_pricer\[ocr\]"):
        require_ocr()
    with pytest.raises(ImportError, match=r"`ocr` extra"):
        RapidOcrEngine(cache_dir="")


def test_words_split_by_character_class_with_boxes_on_the_line():
    words = ocr_words([_line("NETWT500g", 100, 200, 190, 240, 0.8), _line("1.5 kg", 0, 300, 600, 400)])
    assert [w.text for w in words] == ["NETWT", "500", "g", "1.5", "kg"]
    netwt, number, unit = words[:3]
    assert (
        netwt.box == (100, 200, 150, 240)
        and number.box == (150, 200, 180, 240)
        and unit.box == (180, 200, 190, 240)
    )
    assert {w.line for w in words[:3]} == {0} and words[3].line == 1 and words[3].confidence == 0.9
    assert all(0 <= c <= 1000 for w in words for c in w.box)
    assert len(ocr_words([_line("a b c d", 0, 0, 10, 10)], max_words=2)) == 2


def test_reading_order_is_by_row_then_left_to_right():
    lines = [
        _line("right", 600, 102, 900, 150),
        _line("below", 0, 400, 300, 450),
        _line("left", 0, 100, 300, 150),
    ]
    # 1000 px high: lines whose tops are < 10 px apart share a row
    assert [line["text"] for line in sort_lines(lines, 1000)] == ["left", "right", "below"]
    # 100 px high: 10 px are 100 units, the same three lines read the same way
    assert [line["text"] for line in sort_lines(lines, 100)] == ["left", "right", "below"]


def test_simulated_ocr_is_deterministic_and_noisy_like_an_engine():
    pieces = [
        {
            "text": f"NET WT {k} g",
            "quad": [[100, 30 * k], [400, 30 * k], [400, 30 * k + 25], [100, 30 * k + 25]],
        }
        for k in range(1, 31)
    ]
    a = simulate_ocr(pieces, (300, 300), np.random.default_rng(0))
    b = simulate_ocr(pieces, (300, 300), np.random.default_rng(0))
    assert a == b
    texts = [line["text"] for line in a]
    assert 20 <= len([t for t in texts if t.startswith("NET")]) <= 31  # a few boxes missed
    assert sum(" " not in t for t in texts) > len(texts) / 2  # most spaces dropped, as RapidOCR does
    assert all(0 <= x <= 1000 and 0 <= y <= 1000 for line in a for x, y in line["quad"])


@requires_ocr
def test_engine_reads_a_rendered_label_and_caches_it(tmp_path):
    rows = generate_label_images(2, seed=1, image_size=224, split="test", empty_fraction=0.0)
    engine = RapidOcrEngine(cache_dir=tmp_path)
    first = engine.batch(rows["image"], ids=rows["id"])
    for row, lines in zip(rows, first):
        text = "".join(line["text"] for line in lines).replace(" ", "").lower()
        assert row["printed"].replace(" ", "").lower() in text
        assert all(0 <= c <= 1000 for line in lines for point in line["quad"] for c in point)
    again = RapidOcrEngine(cache_dir=tmp_path)
    again._engine = "unused"  # served from the cache: the engine is never called
    assert again.batch(rows["image"]) == first and again.report.cached == 2
    assert engine.report.kept == 2 and engine.report.skipped == 0


@requires_ocr
def test_a_failing_image_is_counted_and_gets_no_text(tmp_path):
    engine = RapidOcrEngine(cache_dir="")

    def broken(*args, **kwargs):
        raise RuntimeError("corrupt input")

    engine._engine = broken
    image = generate_label_images(1, seed=2, image_size=64)[0]["image"]
    assert engine(image, image_id="row-7") == []
    assert engine.report.skipped == 1 and "ocr failed" in engine.report.summary()


def test_token_features_hash_text_and_only_the_shape_of_numbers():
    words, features = ocr_token_features(
        [_line("NETWT 500g", 0, 0, 500, 40), _line("NETWT 731g", 0, 100, 500, 140)],
        num_buckets=256,
        ids_per_token=6,
    )
    assert [w.text for w in words] == ["NETWT", "500", "g", "NETWT", "731", "g"]
    ids = features["input_ids"]
    assert all(len(row) == 6 and all(0 <= i < 256 for i in row) for row in ids)
    assert ids[1] == ids[4] and ids[0] == ids[3]  # 500 and 731 share their shape; values are never embedded
    assert features["token_types"] == [OCR_TOKEN_TYPES[t] for t in ("word", "number", "word") * 2]
    assert features["bbox"][4][1] == 100
    assert len(ocr_token_features([_line("a b c d e", 0, 0, 10, 10)], max_tokens=3)[0]) == 3
