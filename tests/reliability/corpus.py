"""The bad-input corpus of the fault-injection suite: every case writes its input and says what must happen.

    python -m tests.reliability.corpus OUT_DIR      # writes each file case's input under OUT_DIR/<case>/

A case's expected outcome is one of:

- `skipped`: the load succeeds, the bad rows are counted under `reason` (`count` of them) and every other
  row is kept: nothing is dropped without being counted;
- `noted`: every row is kept, and `count` of them are noted under `reason` (a decimal comma, a duplicate id,
  a value cast to text);
- `kept`: every row is kept, nothing counted (the case's own check says what must be true of the data);
- `error`: the load raises an error whose message names the file (or, for collators, the example) and
  matches `reason`;
- `refused`: an image is refused with a reason starting with `reason` (and, for network cases, within twice
  the deadline);
- `recovered`: a transient network failure is retried until it succeeds.

:func:`run_case` runs a case and :func:`check_outcome` says whether what happened is what the case expects;
`tests/reliability/test_corpus.py` asserts it for every case and `benchmarks/reliability.py` tabulates it.
"""

from __future__ import annotations

import io
import json
import math
import os
import struct
import sys
import time
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from hf_pricer.data import challenge as challenge_module
from hf_pricer.data import files, schema
from hf_pricer.data import records as records_module

SKIPPED, NOTED, KEPT, ERROR, REFUSED, RECOVERED = "skipped", "noted", "kept", "error", "refused", "recovered"

GOOD_ROWS = [{"id": f"good-{i}", "title": f"Steel kettle {i}", "text": "A 1.7 l kettle", "price": 20.0 + i}
             for i in range(3)]


@dataclass
class Outcome:
    """What a case did: the rows it kept and counted, the error it raised, or the reason an image was refused."""

    rows: int | None = None  # data rows in the input, for the silent-drop check
    kept: int | None = None
    skipped: Counter = field(default_factory=Counter)
    notes: Counter = field(default_factory=Counter)
    error: BaseException | None = None
    refused: str | None = None
    names: tuple[str, ...] = ()  # what an error must name: the file, the example id
    seconds: float = 0.0


@dataclass(frozen=True)
class Case:
    """One bad input. `write(folder)` writes it and returns what is loaded; `load(target)` loads it."""

    name: str
    what: str
    expect: str
    reason: str
    write: Callable[[Path], object]
    load: Callable[[object], Outcome]
    count: int = 1
    deadline: float | None = None  # network cases: the request deadline under test


# --- writing inputs -------------------------------------------------------------------------------------------

def _lines(folder: Path, name: str, lines) -> str:
    """A file of `lines`: dicts as JSON, str as text, bytes as they are; one per line."""
    path = folder / name
    with open(path, "wb") as handle:
        for line in lines:
            if isinstance(line, dict):
                line = json.dumps(line)
            handle.write((line.encode() if isinstance(line, str) else line) + b"\n")
    return str(path)


def _jsonl(*bad, good=GOOD_ROWS, name="items.jsonl"):
    return lambda folder: _lines(folder, name, [*good, *bad])


def _raw(name: str, data: bytes):
    def write(folder: Path) -> str:
        (folder / name).write_bytes(data)
        return str(folder / name)

    return write


def _csv(header: str, *lines, good=True, name="items.csv", bom=b""):
    rows = [f"{row['id']},{row['title']},{row['text']},{row['price']}" for row in GOOD_ROWS] if good else []
    return lambda folder: _lines(folder, name, [bom + header.encode(), *rows, *lines])


CSV_HEADER = "id,title,text,price"


def _png(size=(8, 6), color=(10, 200, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def _png_claiming(width: int, height: int) -> bytes:
    """A small PNG whose header claims `width` × `height` (a decompression bomb's header)."""
    data = _png((4, 4))
    header = struct.pack(">II", width, height) + data[24:29]
    return data[:16] + header + struct.pack(">I", zlib.crc32(b"IHDR" + header)) + data[33:]


def _parquet(folder: Path) -> str:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = folder / "items.parquet"
    pq.write_table(pa.Table.from_pylist(GOOD_ROWS * 50), path)
    return str(path)


def _truncated(write, fraction=0.5):
    def cut(folder: Path) -> str:
        path = write(folder)
        data = Path(path).read_bytes()
        Path(path).write_bytes(data[: int(len(data) * fraction)])
        return path

    return cut


# --- loading --------------------------------------------------------------------------------------------------

def _report_outcome(report, rows) -> Outcome:
    return Outcome(rows=rows, kept=report.kept, skipped=Counter(report.counts), notes=Counter(report.notes))


def _items(rows: int, check=None, streaming=False, **kwargs):
    """Load with `load_items` (one `train` split unless `test_size` is given); `check(data)` asserts on it."""

    def load(path) -> Outcome:
        from hf_pricer.data import load_items

        reports = {}
        kwargs.setdefault("test_size", 0)
        data = load_items(path, streaming=streaming, reports=reports, **kwargs)
        if streaming:
            data = {name: list(split) for name, split in data.items()}
        if check is not None:
            check(data)
        return _report_outcome(reports["train"], rows)

    return load


def _challenge(rows: int):
    def load(path) -> Outcome:
        from hf_pricer.data import read_challenge_csv
        from hf_pricer.data.entities import EntityValueReport

        report = EntityValueReport()
        read_challenge_csv(path, report=report)
        return _report_outcome(report, rows)

    return load


def _challenge_csv(*lines, header="index,image_link,group_id,entity_name,entity_value", good=True):
    """Write: a challenge `train.csv`: `header`, a good row unless not `good`, then `lines`."""
    first = ["0,http://x/a.jpg,1,item_weight,500 gram"] if good else []
    return lambda folder: _lines(folder, "train.csv", [header, *first, *lines])


TARGETS = ("length", "diameter")


def _records_file(*records, valid=2, raw: bytes | None = None):
    """A records JSON file next to an `img.png`: `valid` usable records, then `records` (or `raw` bytes)."""

    def write(folder: Path) -> str:
        (folder / "img.png").write_bytes(_png())
        good = [{"id": f"r{i}", "image_path": "img.png", "company": "Acme", "model": "A1", "length": 10.0,
                 "diameter": 4.0} for i in range(valid)]
        path = folder / "records.json"
        path.write_bytes(raw if raw is not None else json.dumps([*good, *records]).encode())
        return str(path)

    return write


def _records(rows: int):
    def load(path) -> Outcome:
        from hf_pricer.data.records import load_records

        _, report = load_records(path, TARGETS, check_images=False)
        return _report_outcome(report, rows)

    return load


def _npz(**arrays):
    def write(folder: Path) -> str:
        rng = np.random.default_rng(0)
        base = {"captions/embeddings": rng.random((4, 3), dtype=np.float32), "captions/text": np.array(list("abcd")),
                "images/embeddings": rng.random((4, 5), dtype=np.float32), "images/names": np.array(list("wxyz"))}
        base.update(arrays)
        path = folder / "train.npz"
        np.savez(path, **{key: value for key, value in base.items() if value is not None})
        return str(path)

    return write


def _corrupt_member(write):
    """Flip the bytes of the first member's data in an npz (zip) written by `write`."""

    def corrupt(folder: Path) -> str:
        path = write(folder)
        data = bytearray(Path(path).read_bytes())
        for offset in range(120, 150):  # inside the first member's .npy payload, past its local header
            data[offset] ^= 0xFF
        Path(path).write_bytes(bytes(data))
        return path

    return corrupt


def _load_npz(path) -> Outcome:
    from hf_pricer.data.alignment import load_alignment_npz

    load_alignment_npz(path)
    return Outcome(kept=1)


def _image(**kwargs):
    def load(value) -> Outcome:
        from hf_pricer.data.images import load_image

        image, reason = load_image(value, **kwargs)
        return Outcome(refused=reason, kept=int(image is not None))

    return load


def _price_batch(bad_price):
    """Write: a batch of examples, the second one's price `bad_price` (the `missing` marker: no price at all)."""

    def write(folder: Path) -> list[dict]:
        second = {"id": "item-2", "title": "Oak frame"}
        if bad_price != "missing":
            second["price"] = bad_price
        return [{"id": "item-1", "title": "Steel kettle", "price": 20.0}, second]

    return write


def _collate_residual(examples) -> Outcome:
    from hf_pricer import ResidualRegressorCollator, ResidualRegressorProcessor

    batch = ResidualRegressorCollator(ResidualRegressorProcessor(n_features=32))(examples)
    return Outcome(kept=len(batch["labels"]), names=("item-2",))


def _target_batch(folder: Path) -> list[dict]:
    (folder / "img.png").write_bytes(_png((16, 16)))
    image = str(folder / "img.png")
    return [{"id": "rec-1", "image": image, "length": 10.0, "diameter": 4.0},
            {"id": "rec-2", "image": image, "length": float("nan"), "diameter": 4.0}]


def _collate_dual_embedding(examples) -> Outcome:
    from hf_pricer import DualEmbeddingCollator
    from hf_pricer.image_processing_utils import vit_image_processor

    batch = DualEmbeddingCollator(vit_image_processor(16), TARGETS)(examples)
    return Outcome(kept=len(batch["labels"]), names=("rec-2",))


def _column_kept(name, values):
    def check(data):
        assert data["train"][name] == values, (name, data["train"][name])

    return check


def _prices(values):
    return _column_kept("price", values)


def _split_by_id(data):
    train, test = set(data["train"]["id"]), set(data["test"]["id"])
    assert not train & test, f"ids in both splits: {sorted(train & test)}"


def _missing_source(name):
    def write(folder: Path) -> str:
        (folder / "items.jsonl").write_text(json.dumps(GOOD_ROWS[0]) + "\n")
        return str(folder / name) if not name.startswith("./") else name

    return write


def _load_missing(path) -> Outcome:
    from hf_pricer.data import load_items

    load_items(path)
    return Outcome(kept=1)


G = len(GOOD_ROWS)
ITEM = {"title": "Oak frame", "text": "A frame", "id": "bad-1"}

CASES: list[Case] = [
    # -- item files: prices --------------------------------------------------------------------------------------
    Case("price-missing", "jsonl row without a price", SKIPPED, schema.MISSING_PRICE,
         _jsonl({**ITEM}), _items(G + 1)),
    Case("price-nan", "jsonl price NaN", SKIPPED, schema.NAN_PRICE, _jsonl('{"title": "x", "price": NaN}'),
         _items(G + 1)),
    Case("price-inf-text", 'price "inf"', SKIPPED, schema.NAN_PRICE, _jsonl({**ITEM, "price": "inf"}), _items(G + 1)),
    Case("price-negative", "price -3", SKIPPED, schema.NEGATIVE_PRICE, _jsonl({**ITEM, "price": -3}), _items(G + 1)),
    Case("price-zero", "price 0", SKIPPED, schema.ZERO_PRICE, _jsonl({**ITEM, "price": 0}), _items(G + 1)),
    Case("price-words", 'price "call us"', SKIPPED, schema.NON_NUMERIC_PRICE, _jsonl({**ITEM, "price": "call us"}),
         _items(G + 1)),
    Case("price-bool", "price true", SKIPPED, schema.NON_NUMERIC_PRICE, _jsonl({**ITEM, "price": True}),
         _items(G + 1)),
    Case("price-list", "price [3]", SKIPPED, schema.NON_NUMERIC_PRICE, _jsonl({**ITEM, "price": [3]}), _items(G + 1)),
    Case("price-huge", "price 1e12", SKIPPED, schema.IMPLAUSIBLE_PRICE, _jsonl({**ITEM, "price": 1e12}),
         _items(G + 1)),
    Case("price-tiny", "price 1e-9", SKIPPED, schema.IMPLAUSIBLE_PRICE, _jsonl({**ITEM, "price": 1e-9}),
         _items(G + 1)),
    Case("price-commas", 'price "1,2,3"', SKIPPED, schema.NON_NUMERIC_PRICE, _jsonl({**ITEM, "price": "1,2,3"}),
         _items(G + 1)),
    Case("price-comma-4-digits", 'price "12,5000" (neither rule)', SKIPPED, schema.NON_NUMERIC_PRICE,
         _jsonl({**ITEM, "price": "12,5000"}), _items(G + 1)),
    Case("price-decimal-comma", 'price "12,50" is 12.5', NOTED, schema.DECIMAL_COMMA,
         _jsonl({**ITEM, "price": "12,50"}), _items(G + 1, check=_prices([20.0, 21.0, 22.0, 12.5]))),
    Case("price-european", 'price "1.299,50" is 1299.5', NOTED, schema.DECIMAL_COMMA,
         _jsonl({**ITEM, "price": "1.299,50"}), _items(G + 1, check=_prices([20.0, 21.0, 22.0, 1299.5]))),
    Case("price-thousands", 'price "$1,299.00" is 1299', KEPT, "",
         _jsonl({**ITEM, "price": "$1,299.00"}), _items(G + 1, check=_prices([20.0, 21.0, 22.0, 1299.0]))),
    Case("price-bounds-off", "price 1e12 kept with price_range=None", KEPT, "",
         _jsonl({**ITEM, "price": 1e12}), _items(G + 1, price_range=None)),
    # -- item files: text, columns, ids --------------------------------------------------------------------------
    Case("text-empty", "no title and no text", SKIPPED, schema.EMPTY_TEXT,
         _jsonl({"id": "bad-1", "title": " ", "price": 3}), _items(G + 1)),
    Case("text-title-only-jsonl", "jsonl with title and price only", KEPT, "",
         _jsonl(good=[{"title": f"Kettle {i}", "price": 3 + i} for i in range(4)]), _items(4)),
    Case("text-title-only-csv", "csv with title and price only", KEPT, "",
         lambda folder: _lines(folder, "items.csv", ["title,price", "Kettle,3", "Frame,4.5"]), _items(2)),
    Case("column-missing-in-first-row", "`image` absent from row 1 only", KEPT, "",
         _jsonl({**ITEM, "price": 5, "image": "a.png"}),
         _items(G + 1, check=_column_kept("image", [None, None, None, "a.png"]))),
    Case("column-mixed-types", "`weight` 2 in one row, \"2 kg\" in another", NOTED, schema.CAST_TO_STRING,
         _jsonl({**ITEM, "price": 5, "weight": "2 kg"}, {**ITEM, "id": "bad-2", "price": 6, "weight": 2}),
         _items(G + 2, check=_column_kept("weight", [None, None, None, "2 kg", "2"]))),
    Case("column-mixed-nested", "`tags` a list in one row, text in another", NOTED, schema.CAST_TO_STRING,
         _jsonl({**ITEM, "price": 5, "tags": ["a", "b"]}, {**ITEM, "id": "bad-2", "price": 6, "tags": "c"}),
         _items(G + 2, check=_column_kept("tags", [None, None, None, '["a", "b"]', "c"]))),
    Case("ids-duplicated", "10 repeated ids, split 50/50 by id", NOTED, schema.DUPLICATE_ID,
         _jsonl(good=[{"id": f"p{i % 10}", "title": f"Kettle {i}", "price": 3 + i} for i in range(20)]),
         _items(20, check=_split_by_id, test_size=0.5), count=10),
    Case("bom-jsonl", "UTF-8 byte-order mark before the first row", KEPT, "",
         lambda folder: _lines(folder, "items.jsonl", [b"\xef\xbb\xbf" + json.dumps(GOOD_ROWS[0]).encode(),
                                                       *GOOD_ROWS[1:]]), _items(G)),
    Case("bom-csv", "UTF-8 byte-order mark before the CSV header", KEPT, "",
         _csv(CSV_HEADER, bom=b"\xef\xbb\xbf"), _items(G, check=_column_kept("id", ["good-0", "good-1", "good-2"]))),
    # -- item files: damaged rows --------------------------------------------------------------------------------
    Case("jsonl-malformed-line", "a line `{not json`", SKIPPED, files.MALFORMED_JSON_LINE, _jsonl("{not json"),
         _items(G + 1)),
    Case("jsonl-not-object", "a line `[1, 2]`", SKIPPED, files.NOT_AN_OBJECT, _jsonl("[1, 2]"), _items(G + 1)),
    Case("jsonl-truncated", "the file cut in its last line", SKIPPED, files.MALFORMED_JSON_LINE,
         _jsonl('{"id": "bad-1", "title": "Oak fr'), _items(G + 1)),
    Case("jsonl-non-utf8", "one byte 0xff in a line", SKIPPED, files.UNDECODABLE,
         _jsonl(b'{"title": "Caf\xff", "price": 3}'), _items(G + 1)),
    Case("jsonl-stream-non-utf8", "one byte 0xff, streamed", SKIPPED, files.UNDECODABLE,
         _jsonl(b'{"title": "Caf\xff", "price": 3}'), _items(G + 1, streaming=True)),
    Case("jsonl-stream-mixed-types", "mixed-type column, streamed", NOTED, schema.CAST_TO_STRING,
         _jsonl({**ITEM, "price": 5, "weight": "2 kg"}, {**ITEM, "id": "bad-2", "price": 6, "weight": 2}),
         _items(G + 2, streaming=True)),
    Case("json-non-utf8", "JSON list with one byte 0xff in a record", SKIPPED, files.UNDECODABLE,
         lambda folder: _raw("items.json", b'[{"title": "a", "price": 3}, {"title": "Caf\xff", "price": 3}]')(folder),
         _items(2)),
    Case("json-not-object", "JSON list with a number in it", SKIPPED, files.NOT_AN_OBJECT,
         _raw("items.json", b'[{"title": "a", "price": 3}, 7]'), _items(2)),
    Case("json-lines-in-json", "a .json file with one object per line", KEPT, "",
         _jsonl(name="items.json"), _items(G)),
    Case("csv-extra-field", "a CSV row with one field too many", SKIPPED, files.MALFORMED_CSV_ROW,
         _csv(CSV_HEADER, "bad-1,Oak frame,A frame,5,surplus"), _items(G + 1)),
    Case("csv-missing-field", "a CSV row with one field too few", SKIPPED, files.MALFORMED_CSV_ROW,
         _csv(CSV_HEADER, "bad-1,Oak frame,5"), _items(G + 1)),
    Case("csv-non-utf8", "one byte 0xff in a CSV row", SKIPPED, files.UNDECODABLE,
         _csv(CSV_HEADER, b"bad-1,Caf\xff,A frame,5"), _items(G + 1)),
    Case("csv-huge-field", "a 1 MB field in a CSV row", SKIPPED, files.MALFORMED_CSV_ROW,
         _csv(CSV_HEADER, "bad-1,Oak," + "x" * 2**20 + ",5"), _items(G + 1)),
    Case("csv-decimal-comma", 'a quoted CSV price "12,50"', NOTED, schema.DECIMAL_COMMA,
         _csv(CSV_HEADER, 'bad-1,Oak frame,A frame,"12,50"'), _items(G + 1, check=_prices([20.0, 21.0, 22.0, 12.5]))),
    # -- item files: whole-file failures -------------------------------------------------------------------------
    Case("jsonl-empty", "0-byte .jsonl", ERROR, "empty", _raw("items.jsonl", b""), _items(0)),
    Case("jsonl-blank", "a .jsonl of blank lines", ERROR, "no rows", _raw("items.jsonl", b"\n\n  \n"), _items(0)),
    Case("jsonl-all-bad", "every row with a bad price", ERROR, "every row was rejected",
         _jsonl({**ITEM, "price": -1}, good=[]), _items(1)),
    Case("too-few-to-split", "one usable row left to split", ERROR, r"1 usable rows.*too few.*skipped 2",
         _jsonl({**ITEM, "price": -1}, {**ITEM, "id": "bad-2", "price": "x"}, good=GOOD_ROWS[:1]),
         _items(3, test_size=0.2)),
    Case("json-truncated", "a JSON list cut in half", ERROR, r"not valid JSON \(truncated\?\)",
         _truncated(_raw("items.json", json.dumps(GOOD_ROWS).encode())), _items(G)),
    Case("json-empty", "0-byte .json", ERROR, "empty", _raw("items.json", b""), _items(0)),
    Case("json-not-list", 'a .json holding "hello"', ERROR, "expected a JSON list", _raw("items.json", b'"hello"'),
         _items(0)),
    Case("csv-empty", "0-byte .csv", ERROR, "empty", _raw("items.csv", b""), _items(0)),
    Case("csv-header-only", "a CSV header and no rows", ERROR, "no rows", _csv(CSV_HEADER, good=False), _items(0)),
    Case("csv-repeated-column", "a CSV header naming `price` twice", ERROR, r"repeats column\(s\) \['price'\]",
         _csv("id,title,price,price"), _items(G)),
    Case("parquet-empty", "0-byte .parquet", ERROR, "empty", _raw("items.parquet", b""), _items(0)),
    Case("parquet-garbage", "a .parquet of random bytes", ERROR, "not a readable Parquet file",
         _raw("items.parquet", np.random.default_rng(0).bytes(4000)), _items(0)),
    Case("parquet-truncated", "a .parquet cut in half", ERROR, "not a readable Parquet file",
         _truncated(_parquet), _items(150)),
    Case("unsupported-format", "an existing items.txt", ERROR, "unsupported items file", _raw("items.txt", b"a\n"),
         _items(0)),
    Case("path-no-extension", "`items` (a mistyped items.jsonl) is not a Hub id", ERROR,
         r"not found.*not looked up on the Hub.*did you mean", _missing_source("items"), _load_missing),
    Case("path-missing-file", "`missing.jsonl`", ERROR, "not found", _missing_source("missing.jsonl"), _load_missing),
    Case("path-relative-folder", "`./data/items`, no such file", ERROR, "not looked up on the Hub",
         _missing_source("./data/items"), _load_missing),
    # -- challenge CSV -------------------------------------------------------------------------------------------
    Case("challenge-non-utf8", "challenge CSV row with a byte 0xff", SKIPPED, files.UNDECODABLE,
         _challenge_csv(b"1,http://x/\xff.jpg,1,item_weight,2 kilogram"), _challenge(2)),
    Case("challenge-huge-field", "challenge CSV row with a 1 MB field", SKIPPED, files.MALFORMED_CSV_ROW,
         _challenge_csv("1,http://x/" + "a" * 2**20 + ",1,item_weight,2 gram"), _challenge(2)),
    Case("challenge-extra-field", "challenge CSV row with a field too many", SKIPPED, files.MALFORMED_CSV_ROW,
         _challenge_csv("1,http://x/b.jpg,1,item_weight,2 gram,extra"), _challenge(2)),
    Case("challenge-bad-index", "challenge row with index `x`", SKIPPED, challenge_module.MALFORMED_INDEX,
         _challenge_csv("x,http://x/b.jpg,1,item_weight,2 gram"), _challenge(2)),
    Case("challenge-repeated-index", "challenge rows with one index twice", SKIPPED, challenge_module.DUPLICATE_INDEX,
         _challenge_csv("0,http://x/b.jpg,1,item_weight,2 gram"), _challenge(2)),
    Case("challenge-unknown-entity", "challenge row with entity `colour`", SKIPPED, challenge_module.UNKNOWN_ENTITY,
         _challenge_csv("1,http://x/b.jpg,1,colour,red"), _challenge(2)),
    Case("challenge-bad-label", 'challenge label "heavy"', SKIPPED, "no value",
         _challenge_csv("1,http://x/b.jpg,1,item_weight,heavy"), _challenge(2)),
    Case("challenge-all-bad", "challenge CSV whose rows are all bad", ERROR, "no usable row",
         _challenge_csv("x,http://x/a.jpg,1,item_weight,500 gram", good=False), _challenge(1)),
    Case("challenge-empty", "0-byte challenge CSV", ERROR, "empty", _raw("train.csv", b""), _challenge(0)),
    Case("challenge-missing-column", "challenge CSV without `entity_name`", ERROR,
         r"missing column\(s\) \['entity_name'\]",
         _challenge_csv("0,http://x/a.jpg,1", header="index,image_link,group_id", good=False), _challenge(1)),
    # -- records JSON --------------------------------------------------------------------------------------------
    Case("records-truncated", "records JSON cut in half", ERROR, r"not valid JSON \(truncated\?\)",
         _truncated(_records_file()), _records(2)),
    Case("records-empty", "0-byte records JSON", ERROR, "empty", _records_file(raw=b""), _records(0)),
    Case("records-not-list", "records JSON holding an object", ERROR, "expected a JSON list",
         _records_file(raw=b'{"a": 1}'), _records(0)),
    Case("records-non-utf8", "a record with a byte 0xff", SKIPPED, files.UNDECODABLE,
         _records_file(raw=b'[{"id": "r0", "image_path": "img.png", "company": "Acme", "model": "A1", "length": 1,'
                           b' "diameter": 2}, {"id": "r1", "image_path": "img.png", "company": "Acm\xff", '
                           b'"model": "A1", "length": 1, "diameter": 2}]'), _records(2)),
    Case("records-nan-target", "a record with length NaN", SKIPPED, records_module.NON_FINITE_TARGET,
         _records_file({"id": "r9", "image_path": "img.png", "company": "Acme", "model": "A1", "length": "nan",
                        "diameter": 4.0}), _records(3)),
    Case("records-missing-image", "a record whose image does not exist", SKIPPED, records_module.IMAGE_NOT_FOUND,
         _records_file({"id": "r9", "image_path": "gone.png", "company": "Acme", "model": "A1", "length": 1,
                        "diameter": 4.0}), _records(3)),
    Case("records-missing-label", "a record without `company`", SKIPPED, records_module.MISSING_FIELD,
         _records_file({"id": "r9", "image_path": "img.png", "model": "A1", "length": 1, "diameter": 4.0}),
         _records(3)),
    # -- aligner npz ---------------------------------------------------------------------------------------------
    Case("npz-empty", "0-byte .npz", ERROR, "empty", _raw("train.npz", b""), _load_npz),
    Case("npz-truncated", ".npz cut in half", ERROR, "not a readable .npz file", _truncated(_npz()), _load_npz),
    Case("npz-corrupt-member", ".npz with a damaged member", ERROR, "`captions/embeddings` is damaged",
         _corrupt_member(_npz()), _load_npz),
    Case("npz-object-array", ".npz with an object array", ERROR, "`captions/text` cannot be read without unpickling",
         _npz(**{"captions/text": np.array(["a", 1, None, "d"], dtype=object)}), _load_npz),
    Case("npz-nan", ".npz embeddings with NaN", ERROR, "`images/embeddings` holds NaN",
         _npz(**{"images/embeddings": np.full((4, 5), np.nan, dtype=np.float32)}), _load_npz),
    Case("npz-missing-key", ".npz without `captions/text`", ERROR, "`captions/text` is missing",
         _npz(**{"captions/text": None}), _load_npz),
    Case("npz-row-mismatch", ".npz with 3 texts for 4 captions", ERROR, "`captions/text` has 3 rows",
         _npz(**{"captions/text": np.array(list("abc"))}), _load_npz),
    # -- images --------------------------------------------------------------------------------------------------
    Case("image-bomb-header", "PNG header claiming 8000×8000", REFUSED, "image too large (8000×8000 pixels)",
         lambda folder: _png_claiming(8000, 8000), _image()),
    Case("image-bomb-beyond-pillow", "PNG header claiming 50000×50000", REFUSED, "image too large",
         lambda folder: _png_claiming(50000, 50000), _image()),
    Case("image-truncated", "a PNG cut in half", REFUSED, "unreadable image",
         lambda folder: _noise_png()[: len(_noise_png()) // 2], _image()),
    Case("image-not-an-image", "bytes that are no image", REFUSED, "unreadable image", lambda folder: b"hello",
         _image()),
    Case("image-other-format", "a PPM (not a web format)", REFUSED, "unreadable image",
         lambda folder: _encode(Image.new("RGB", (2, 2)), "PPM"), _image()),
    Case("image-too-many-bytes", "a file over max_bytes", REFUSED, "image too large",
         lambda folder: _raw("big.png", _png((64, 64)))(folder), _image(max_bytes=50)),
    Case("image-missing-file", "a path that does not exist", REFUSED, "image not found",
         lambda folder: str(folder / "gone.png"), _image()),
    # -- collators -----------------------------------------------------------------------------------------------
    *[Case(f"collator-price-{name}", f"residual collator, price {value!r}", ERROR,
           rf"'item-2'.*`price` {problem}", _price_batch(value), _collate_residual)
      for name, value, problem in [("nan", math.nan, "is not finite"), ("inf", math.inf, "is not finite"),
                                   ("negative", -4.0, "is not positive"), ("zero", 0, "is not positive"),
                                   ("text", "abc", "is not a number"), ("missing", "missing", "is missing")]],
    Case("collator-target-nan", "dual-embedding collator, target NaN", ERROR, r"'rec-2'.*`length` is not finite",
         _target_batch, _collate_dual_embedding),
]


def _noise_png() -> bytes:
    return _encode(Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)))


def _encode(image: Image.Image, format: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=format)
    return buffer.getvalue()


# --- network --------------------------------------------------------------------------------------------------

def _get(path: str, **kwargs):
    """Load: `load_image` of the server's `path`; the challenge downloader's fetch (with retries) when `retries`
    is given."""

    def load(base_url) -> Outcome:
        from hf_pricer.data.images import load_image

        if "retries" in kwargs:
            import tempfile

            from hf_pricer.data.challenge import FetchOptions, _fetch

            with tempfile.TemporaryDirectory() as cache:
                fetched = _fetch(base_url + path, cache, FetchOptions(backoff=0.01, **kwargs))
            return Outcome(kept=int(fetched.path is not None), refused=fetched.reason,
                           skipped=Counter(retries=fetched.requests - 1))
        image, reason = load_image(base_url + path, **kwargs)
        return Outcome(kept=int(image is not None), refused=reason)

    return load


NETWORK_TIMEOUT = 2.0  # the deadline of the cases that answer at once
SLOW_TIMEOUT = 0.5  # the deadline of the servers that never finish: each case takes that long

NETWORK_CASES: list[Case] = [
    Case("net-trickled-headers", "headers trickled one byte per 50 ms", REFUSED, "download failed (TimeoutError",
         lambda folder: "/trickle-headers.png", _get("/trickle-headers.png", timeout=SLOW_TIMEOUT),
         deadline=SLOW_TIMEOUT),
    Case("net-trickled-body", "body trickled one byte per 50 ms", REFUSED, "download failed (TimeoutError",
         lambda folder: "/trickle-body.png", _get("/trickle-body.png", timeout=SLOW_TIMEOUT),
         deadline=SLOW_TIMEOUT),
    Case("net-silent", "connection accepted, nothing sent", REFUSED, "download failed (TimeoutError",
         lambda folder: "/hang.png", _get("/hang.png", timeout=SLOW_TIMEOUT), deadline=SLOW_TIMEOUT),
    Case("net-trickled-headers-retried", "trickled headers, 1 retry", REFUSED, "download failed (TimeoutError",
         lambda folder: "/trickle-headers.png", _get("/trickle-headers.png", timeout=SLOW_TIMEOUT, retries=1),
         deadline=2 * SLOW_TIMEOUT),
    Case("net-500-then-200", "HTTP 500 twice, then the image", RECOVERED, "",
         lambda folder: "/flaky.png", _get("/flaky.png", timeout=NETWORK_TIMEOUT, retries=3),
         deadline=NETWORK_TIMEOUT),
    Case("net-500", "HTTP 500 always, 2 retries", REFUSED, "download failed (HTTP 500",
         lambda folder: "/500.png", _get("/500.png", timeout=NETWORK_TIMEOUT, retries=2), deadline=NETWORK_TIMEOUT),
    Case("net-404", "HTTP 404", REFUSED, "download failed (HTTP 404", lambda folder: "/404.png",
         _get("/404.png", timeout=NETWORK_TIMEOUT), deadline=NETWORK_TIMEOUT),
    Case("net-huge-declared", "Content-Length of 10 GB", REFUSED, "image too large (10000000000 bytes)",
         lambda folder: "/huge-declared.png", _get("/huge-declared.png", timeout=NETWORK_TIMEOUT),
         deadline=NETWORK_TIMEOUT),
    Case("net-huge-stream", "endless body without a length", REFUSED, "image too large (more than",
         lambda folder: "/huge-stream.png", _get("/huge-stream.png", timeout=NETWORK_TIMEOUT, max_bytes=2**20),
         deadline=NETWORK_TIMEOUT),
    Case("net-closed-early", "declares 1000 bytes, sends 10, closes", REFUSED, "download failed (connection closed",
         lambda folder: "/short.png", _get("/short.png", timeout=NETWORK_TIMEOUT), deadline=NETWORK_TIMEOUT),
    Case("net-redirect-ftp", "redirect to ftp://", REFUSED, "download failed (refused: redirect to 'ftp://",
         lambda folder: "/to-ftp.png", _get("/to-ftp.png", timeout=NETWORK_TIMEOUT), deadline=NETWORK_TIMEOUT),
    Case("net-redirect-other-host", "redirect to another host, allowlist 127.0.0.1", REFUSED,
         "download failed (refused: redirect to 'http://localhost", lambda folder: "/to-other-host.png",
         _get("/to-other-host.png", timeout=NETWORK_TIMEOUT, allowed_hosts=["127.0.0.1"]),
         deadline=NETWORK_TIMEOUT),
    Case("net-redirect-other-host-allowed", "redirect to another host, no allowlist", KEPT, "",
         lambda folder: "/to-other-host.png", _get("/to-other-host.png", timeout=NETWORK_TIMEOUT),
         deadline=NETWORK_TIMEOUT),
]


# --- running and judging --------------------------------------------------------------------------------------

def run_case(case: Case, folder: Path, base_url: str | None = None) -> Outcome:
    """Write the case's input into `folder` (network cases: against `base_url`) and load it."""
    target = case.write(folder)
    start = time.monotonic()
    try:
        outcome = case.load(base_url if case.deadline is not None else target)
    except (ValueError, OSError) as error:
        outcome = Outcome(error=error)
    outcome.seconds = time.monotonic() - start
    if outcome.error is not None and not outcome.names:
        outcome.names = (os.path.basename(target),) if isinstance(target, str) else ("item-2", "rec-2")
    return outcome


def check_outcome(case: Case, outcome: Outcome) -> list[str]:
    """What is wrong with `outcome` for `case` (empty when it is the expected one)."""
    import re

    problems = []
    if case.deadline is not None and outcome.seconds > 2 * case.deadline + 1:
        problems.append(f"took {outcome.seconds:.1f}s, deadline {case.deadline:g}s")
    if case.expect == ERROR:
        if outcome.error is None:
            return problems + ["no error"]
        message = str(outcome.error)
        if not any(name in message for name in outcome.names):
            problems.append(f"the error names none of {list(outcome.names)}: {message}")
        if not re.search(case.reason, message, re.DOTALL):
            problems.append(f"the error does not match {case.reason!r}: {message}")
        return problems
    if outcome.error is not None:
        return problems + [f"unexpected error {type(outcome.error).__name__}: {outcome.error}"]
    if case.expect == REFUSED:
        if outcome.refused is None or not outcome.refused.startswith(case.reason):
            problems.append(f"refused with {outcome.refused!r}, expected {case.reason!r}...")
        return problems
    if case.expect == RECOVERED:
        if outcome.kept != 1 or outcome.skipped["retries"] < 1:
            problems.append(f"not recovered by a retry: kept {outcome.kept}, {outcome.skipped['retries']} retries")
        return problems
    if outcome.rows is not None and outcome.kept + sum(outcome.skipped.values()) != outcome.rows:
        problems.append(f"silent drop: {outcome.rows} rows, {outcome.kept} kept, {dict(outcome.skipped)} skipped")
    if case.expect == SKIPPED and outcome.skipped != Counter({case.reason: case.count}):
        problems.append(f"skipped {dict(outcome.skipped)}, expected {case.count} {case.reason!r}")
    if case.expect == NOTED and (outcome.notes[case.reason] != case.count or outcome.skipped):
        problems.append(f"noted {dict(outcome.notes)} and skipped {dict(outcome.skipped)}, "
                        f"expected {case.count} {case.reason!r} and no skip")
    if case.expect == KEPT and (outcome.skipped or (outcome.kept != (outcome.rows or 1))):
        problems.append(f"kept {outcome.kept} of {outcome.rows}, skipped {dict(outcome.skipped)}")
    return problems


def describe(case: Case, outcome: Outcome) -> str:
    """One line on what happened, for the results table."""
    if outcome.error is not None:
        return f"{type(outcome.error).__name__}: {outcome.error}"
    if outcome.refused is not None:
        return f"refused: {outcome.refused}"
    if case.expect == RECOVERED:
        return f"loaded after {outcome.skipped['retries']} retries"
    counts = ", ".join(f"{n} {reason}" for reason, n in outcome.skipped.items())
    notes = ", ".join(f"{n} {kind}" for kind, n in outcome.notes.items())
    return f"kept {outcome.kept}" + (f", skipped {counts}" if counts else "") + (f", noted {notes}" if notes else "")


def main(argv=None) -> None:
    """Write the input of every file case into `OUT_DIR/<case>/`."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        raise SystemExit("usage: python -m tests.reliability.corpus OUT_DIR")
    for case in CASES:
        folder = Path(argv[0]) / case.name
        folder.mkdir(parents=True, exist_ok=True)
        target = case.write(folder)
        if not isinstance(target, str):  # bytes and batches: stored as they are given to the loader
            (folder / "input").write_bytes(target if isinstance(target, bytes) else json.dumps(target).encode())
    print(f"wrote {len(CASES)} cases into {argv[0]}")


if __name__ == "__main__":
    main()
