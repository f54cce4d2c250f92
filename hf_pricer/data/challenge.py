"""The Amazon ML Challenge 2024 CSVs as `datasets.Dataset`s, with their images downloaded and cached.

The challenge ships `train.csv` (`index, image_link, group_id, entity_name, entity_value`) and `test.csv` /
`sample_test.csv` (the same without `entity_value`). :func:`load_challenge_dataset` reads one of them,
normalises its labels (:func:`~hf_pricer.data.entities.normalize_entity_value`), downloads its images
(:func:`download_images`) and returns a dataset with the columns

- `index` (int64), `image_link`, `group_id`, `entity_name` (strings), as in the file;
- `entity_value`: the canonical label (`"500.0 gram"`, `""` for no value); only when the file has labels;
- `image` (`datasets.Image`): the cached image, or a placeholder when it could not be downloaded or decoded;
- `image_ok` (bool): False for the placeholder rows.

Rows that cannot be used (malformed or repeated `index`, unknown `entity_name`, unparseable label) are
skipped and counted by reason in an :class:`~hf_pricer.data.entities.EntityValueReport`; images that cannot
be had are counted by reason in a :class:`DownloadReport` but keep their row, as in the original
implementation: the answer for such a row is still due in the output file.

Downloads run in a thread pool, one request per distinct URL, each with one deadline (`timeout`) for the whole
request, redirects only to http(s) URLs (and to `allowed_hosts`, when given); transient
failures (timeouts, connection errors, HTTP 408/429/5xx) are retried up to `retries` times after
`backoff * 2**attempt` seconds. Every image is size-checked and decoded once
(:func:`~hf_pricer.data.images.check_image`: JPEGs at 1/8 scale, under the shared decode budget, so sixteen
threads hold about one large image's memory) before it is written to the cache (`cache_dir/<sha256 of URL>`,
atomically), so the cache holds only usable images and a second run makes no request for them. Permanent
failures (HTTP 4xx, unreadable or oversized images) are remembered in `<sha256>.failed` and not requested
again unless `retry_failed=True`; transient ones are tried again on the next run.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal, NamedTuple

from PIL import Image as PILImage

from .entities import ENTITY_NAMES, EntityValueError, EntityValueReport, normalize_entity_value
from .files import CsvFile
from .images import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_PIXELS,
    DOWNLOAD_FAILED,
    DownloadError,
    ImageReport,
    check_image,
    download,
)

logger = logging.getLogger(__name__)

__all__ = [
    "CHALLENGE_COLUMNS",
    "DownloadReport",
    "FetchOptions",
    "challenge_dataset",
    "download_images",
    "load_challenge_dataset",
    "read_challenge_csv",
]

#: Columns every challenge CSV has; training files add `entity_value`.
CHALLENGE_COLUMNS = ("index", "image_link", "group_id", "entity_name")

MALFORMED_INDEX = "malformed index"
DUPLICATE_INDEX = "duplicate index"
UNKNOWN_ENTITY = "unknown entity"

PLACEHOLDER_NAME = "placeholder.png"
_PLACEHOLDER_SIZE = (100, 100)  # the original implementation's black 100x100 placeholder


class DownloadReport(ImageReport):
    """Counts images that could not be had, by reason, and the work done to get the others.

    `kept` counts usable images; `cache_hits` those found in the cache, `downloaded` those fetched now,
    `requests` every HTTP request made (retries included) and `retries` the repeated ones.
    """

    message = "no image for {row_id}: {reason}"
    progress = "{count} images missing so far for {kind}"

    def __init__(self, name: str = "image downloads", log_first: int = 5):
        super().__init__(name=name, log_first=log_first)
        self.cache_hits = self.downloaded = self.requests = self.retries = 0

    def summary(self) -> str:
        return (
            f"{super().summary()}; {self.cache_hits} from the cache, {self.downloaded} downloaded, "
            f"{self.requests} requests ({self.retries} retries)"
        )

    def __repr__(self) -> str:
        return f"DownloadReport({self.summary()})"


def _cache_path(cache_dir: str, url: str) -> str:
    return os.path.join(cache_dir, hashlib.sha256(url.encode("utf-8")).hexdigest())


def _write_atomic(path: str, data: bytes) -> None:
    """Write to a temporary file in the same folder, then rename: readers never see a partial file."""
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


class _Fetched(NamedTuple):
    path: str | None  # None when the image could not be had
    reason: str | None
    requests: int
    source: Literal["cache", "download", "local", "failed"]


@dataclass(frozen=True)
class FetchOptions:
    """How :func:`download_images` fetches each image.

    Args:
        timeout: the deadline of one request in seconds (connection, headers, redirects and body).
        retries: how often a transient failure (timeout, connection error, HTTP 408/425/429/5xx) is retried.
        backoff: seconds before the first retry, doubled for each further one.
        max_bytes, max_pixels: the limits of :func:`~hf_pricer.data.images.load_image`.
        allowed_hosts: if given, the only hosts image URLs and their redirects may point at.
        retry_failed: request again the URLs that failed permanently on an earlier run.
    """

    timeout: float = 10.0
    retries: int = 3
    backoff: float = 0.5
    max_bytes: int = DEFAULT_MAX_BYTES
    max_pixels: int = DEFAULT_MAX_PIXELS
    allowed_hosts: tuple[str, ...] | None = None
    retry_failed: bool = False

    def __post_init__(self):
        if self.retries < 0 or self.timeout <= 0 or self.backoff < 0:
            raise ValueError(
                f"need retries >= 0, timeout > 0 and backoff >= 0; got retries={self.retries}, "
                f"timeout={self.timeout}, backoff={self.backoff}"
            )

    def check(self, data: bytes | str) -> str | None:
        """Why an image cannot be used, None when it can (:func:`~hf_pricer.data.images.check_image`)."""
        return check_image(data, max_bytes=self.max_bytes, max_pixels=self.max_pixels)


def _fetch(url: str, cache_dir: str, options: FetchOptions) -> _Fetched:
    if not url.lower().startswith(("http://", "https://")):  # a local file is used where it is
        reason = options.check(url)
        return _Fetched(None, reason, 0, "failed") if reason else _Fetched(url, None, 0, "local")
    path = _cache_path(cache_dir, url)
    if os.path.exists(path):
        return _Fetched(path, None, 0, "cache")
    if not options.retry_failed and os.path.exists(path + ".failed"):
        with open(path + ".failed", encoding="utf-8") as file:
            return _Fetched(None, file.read(), 0, "failed")
    for attempt in range(options.retries + 1):
        try:
            data = download(url, max_bytes=options.max_bytes, timeout=options.timeout,
                            allowed_hosts=options.allowed_hosts)
            break
        except DownloadError as error:
            if not error.retryable:
                _write_atomic(path + ".failed", str(error).encode("utf-8"))
                return _Fetched(None, str(error), attempt + 1, "failed")
            if attempt == options.retries:
                return _Fetched(None, f"{error} (after {attempt + 1} attempts)", attempt + 1, "failed")
            time.sleep(options.backoff * 2**attempt)
    reason = options.check(data)
    if reason is not None:  # permanent: the server answered with something that is not a usable image
        _write_atomic(path + ".failed", reason.encode("utf-8"))
        return _Fetched(None, reason, attempt + 1, "failed")
    _write_atomic(path, data)
    return _Fetched(path, None, attempt + 1, "download")


def download_images(
    urls: list[str],
    cache_dir: str | os.PathLike,
    *,
    num_workers: int = 16,
    report: DownloadReport | None = None,
    **options,
) -> tuple[list[str | None], DownloadReport]:
    """Download `urls` into `cache_dir`; returns the local path of each (None where it failed) and the report.

    `options` are the fields of :class:`FetchOptions` (`timeout`, `retries`, `backoff`, `max_bytes`,
    `max_pixels`, `allowed_hosts`, `retry_failed`). Each distinct URL is fetched once, by `num_workers`
    threads; decoding them shares :data:`~hf_pricer.data.images.DECODE_BUDGET`, so memory stays bounded
    whatever their number. Values that are not `http(s)://` URLs are taken as local files and only checked.
    See the module docstring for retries, caching and what counts as a failure.
    """
    options = FetchOptions(**options)
    if num_workers < 1:
        raise ValueError(f"need num_workers >= 1, got {num_workers}")
    cache_dir = os.fspath(cache_dir)
    os.makedirs(cache_dir, exist_ok=True)
    report = DownloadReport() if report is None else report
    unique = list(dict.fromkeys(urls))
    with ThreadPoolExecutor(max_workers=num_workers) as pool:
        results = dict(zip(unique, pool.map(partial(_fetch, cache_dir=cache_dir, options=options), unique)))
    for url in urls:  # counted per row, so that the report matches the dataset
        fetched = results[url]
        if fetched.path is None:
            report.add(fetched.reason or DOWNLOAD_FAILED, row_id=url)
        else:
            report.kept += 1
    for fetched in results.values():  # the work done, per distinct URL
        report.requests += fetched.requests
        report.retries += max(fetched.requests - 1, 0)
        report.cache_hits += fetched.source == "cache"
        report.downloaded += fetched.source == "download"
    logger.info("%s", report.summary())
    return [results[url].path for url in urls], report


def placeholder_image(cache_dir: str | os.PathLike) -> str:
    """The path of the black 100x100 PNG that stands in for missing images (written once, atomically)."""
    path = os.path.join(os.fspath(cache_dir), PLACEHOLDER_NAME)
    if not os.path.exists(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        image = PILImage.new("RGB", _PLACEHOLDER_SIZE)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-", suffix=".png")
        with os.fdopen(fd, "wb") as file:
            image.save(file, format="PNG")
        os.replace(tmp, path)
    return path


def read_challenge_csv(
    path: str | os.PathLike,
    *,
    labels: bool | None = None,
    ranges: Literal["first", "max", "reject"] = "first",
    report: EntityValueReport | None = None,
) -> list[dict[str, Any]]:
    """The usable rows of a challenge CSV, with `index` as int and `entity_value` in canonical form.

    `labels=None` reads labels when the file has an `entity_value` column; `labels=True` requires one.
    Bad rows (see the module; also lines that are not UTF-8, malformed CSV rows and oversized fields) are
    skipped and counted in `report` with their line. A missing column, a file that cannot be read and a file
    without a usable row raise `ValueError` naming the file.
    """
    path = os.fspath(path)
    name = os.path.basename(path)
    report = EntityValueReport(name=name) if report is None else report
    with CsvFile(path) as table:
        columns = table.header
        if labels is None:
            labels = "entity_value" in columns
        required = CHALLENGE_COLUMNS + (("entity_value",) if labels else ())
        if missing := [c for c in required if c not in columns]:
            raise ValueError(f"{path}: missing column(s) {missing}; found {columns}")
        rows, seen = [], set()
        for where, raw, problem in table:
            row_id = f"{name}:{where.removeprefix('line ')}"
            if problem is not None:
                report.add(problem, row_id=row_id)
                continue
            try:
                index = int(raw["index"])
            except (TypeError, ValueError):
                report.add(MALFORMED_INDEX, row_id=row_id, detail=repr(raw["index"]))
                continue
            if index in seen:
                report.add(DUPLICATE_INDEX, row_id=row_id, detail=str(index))
                continue
            entity_name = raw["entity_name"].strip()
            if entity_name not in ENTITY_NAMES:
                report.add(UNKNOWN_ENTITY, row_id=row_id, detail=repr(entity_name))
                continue
            row = {
                "index": index,
                "image_link": raw["image_link"].strip(),
                "group_id": raw["group_id"].strip(),
                "entity_name": entity_name,
            }
            if labels:
                try:
                    row["entity_value"] = normalize_entity_value(raw["entity_value"], entity_name, ranges=ranges)
                except EntityValueError as error:
                    report.add(error.reason, row_id=row_id, detail=raw["entity_value"])
                    continue
            seen.add(index)
            rows.append(row)
            report.kept += 1
    if report.skipped:
        logger.warning("%s", report.summary())
    if not rows:
        raise ValueError(f"{path}: no usable row ({report.summary()})")
    return rows


def load_challenge_dataset(
    path: str | os.PathLike,
    cache_dir: str | os.PathLike,
    *,
    labels: bool | None = None,
    ranges: Literal["first", "max", "reject"] = "first",
    report: EntityValueReport | None = None,
    download_report: DownloadReport | None = None,
    **download_kwargs,
):
    """A challenge CSV as a `datasets.Dataset` with its images downloaded into `cache_dir` (columns above).

    `labels` and `ranges` go to :func:`read_challenge_csv`, `download_kwargs` (`num_workers`, `timeout`,
    `retries`, `backoff`, `allowed_hosts`, `retry_failed`...) to :func:`download_images`. Pass `report` / `download_report` to
    inspect the skipped rows and the missing images.
    """
    rows = read_challenge_csv(path, labels=labels, ranges=ranges, report=report)
    return challenge_dataset(rows, cache_dir, report=download_report, **download_kwargs)


def challenge_dataset(rows: list[dict[str, Any]], cache_dir: str | os.PathLike, **download_kwargs):
    """Rows in challenge format (as :func:`read_challenge_csv` gives them) as a `datasets.Dataset`.

    The images of `image_link` are fetched by :func:`download_images` (`download_kwargs` go to it) and
    added as the `image` and `image_ok` columns; other columns are kept, as strings unless listed above.
    """
    from datasets import Dataset, Features, Image, Value

    paths, _ = download_images([row["image_link"] for row in rows], cache_dir, **download_kwargs)
    placeholder = placeholder_image(cache_dir) if None in paths else None
    names = list(rows[0]) if rows else list(CHALLENGE_COLUMNS)
    features = Features(
        {
            **{name: Value("int64" if name == "index" else "string") for name in names},
            "image": Image(),
            "image_ok": Value("bool"),
        }
    )
    columns = {name: [row[name] for row in rows] for name in names}
    columns["image"] = [path or placeholder for path in paths]
    columns["image_ok"] = [path is not None for path in paths]
    return Dataset.from_dict(columns, features=features)
