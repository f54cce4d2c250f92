"""Tests of the challenge CSV loader and the image downloader, against a local HTTP server."""

from __future__ import annotations

import hashlib
import io
import os
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from PIL import Image

from hf_pricer.data.challenge import (
    DownloadReport,
    download_images,
    load_challenge_dataset,
    read_challenge_csv,
)
from hf_pricer.data.entities import EntityValueReport
from tests.utils import write_csv


def _png(color) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 6), color).save(buffer, format="PNG")
    return buffer.getvalue()


IMAGES = {f"/good/{i}.png": _png((40 * i, 0, 0)) for i in range(4)}
FLAKY_FAILURES = 2  # /flaky answers 503 this many times, then the image


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        server = self.server
        with server.lock:
            server.hits[self.path] += 1
            hits = server.hits[self.path]
        if self.path in IMAGES:
            self._send(200, IMAGES[self.path])
        elif self.path == "/hang.png":
            server.release.wait(5)
        elif self.path.startswith("/flaky"):
            self._send(503, b"busy") if hits <= FLAKY_FAILURES else self._send(200, IMAGES["/good/1.png"])
        elif self.path == "/garbage.png":
            self._send(200, np.random.default_rng(0).bytes(500))
        else:
            self._send(404, b"not found")

    def _send(self, status, body):
        self.send_response(status)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    httpd.release, httpd.lock, httpd.hits = threading.Event(), threading.Lock(), Counter()
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield httpd
    httpd.release.set()
    httpd.shutdown()
    httpd.server_close()


FAST = {"timeout": 0.3, "retries": 2, "backoff": 0.01, "num_workers": 4}


def test_downloads_retries_timeouts_placeholders_and_cache(server, tmp_path):
    urls = [server.url + path for path in IMAGES]
    urls += [server.url + p for p in ("/missing.png", "/hang.png", "/flaky.png", "/garbage.png")]
    urls.append(urls[0])  # a repeated link is fetched once
    start = time.monotonic()
    paths, report = download_images(urls, tmp_path, **FAST)
    elapsed = time.monotonic() - start

    assert [p is not None for p in paths] == [True] * 4 + [False, False, True, False] + [True]
    for url, path in zip(urls[:4], paths[:4]):
        with open(path, "rb") as file:
            assert file.read() == IMAGES[url[len(server.url) :]]
    assert paths[-1] == paths[0]
    assert server.hits["/good/0.png"] == 1
    assert server.hits["/missing.png"] == 1  # a 404 is not retried
    assert server.hits["/hang.png"] == 3  # timed out, retried twice
    assert server.hits["/flaky.png"] == FLAKY_FAILURES + 1  # the retries got it
    assert server.hits["/garbage.png"] == 1
    assert report.kept == 6 and report.missing == 3
    assert report.counts == {"download failed": 2, "unreadable image": 1}
    assert report.downloaded == 5 and report.cache_hits == 0
    assert report.requests == 4 + 1 + 3 + 3 + 1 and report.retries == 2 + 2
    assert elapsed < 3 * 0.3 + 3  # three timeouts of the hanging URL, not a hang

    server.hits.clear()
    paths_again, again = download_images(urls, tmp_path, **FAST)
    assert paths_again == paths
    # the cache answers the images and the permanent failures; only the transient one is retried
    assert set(server.hits) == {"/hang.png"} and again.cache_hits == 5 and again.downloaded == 0
    assert again.counts == report.counts

    server.hits.clear()
    _, retried = download_images([server.url + "/missing.png"], tmp_path, retry_failed=True, **FAST)
    assert server.hits["/missing.png"] == 1 and retried.missing == 1


def test_cache_files_are_written_atomically(server, tmp_path, monkeypatch):
    urls = [server.url + "/good/2.png", server.url + "/missing.png"]

    def crash(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        download_images(urls, tmp_path, **FAST)
    assert os.listdir(tmp_path) == []  # no partial file is left to be taken for an image
    monkeypatch.undo()
    paths, _ = download_images(urls, tmp_path, **FAST)
    good, missing = (hashlib.sha256(url.encode()).hexdigest() for url in urls)
    assert paths == [str(tmp_path / good), None]
    assert sorted(os.listdir(tmp_path)) == sorted([good, missing + ".failed"])


def test_local_files_and_bad_arguments(tmp_path):
    good = tmp_path / "local.png"
    good.write_bytes(IMAGES["/good/3.png"])
    paths, report = download_images([str(good), str(tmp_path / "absent.png")], tmp_path / "cache")
    assert paths == [str(good), None]
    assert report.counts == {"image not found": 1} and report.downloaded == report.cache_hits == 0
    with pytest.raises(ValueError, match="retries >= 0"):
        download_images([], tmp_path, retries=-1)


def test_read_challenge_csv_normalises_labels_and_counts_bad_rows(tmp_path):
    header = ["index", "image_link", "group_id", "entity_name", "entity_value"]
    rows = [
        (0, "http://x/a.jpg", 101, "item_weight", "500 gms"),
        (1, "http://x/b.jpg", 101, "voltage", "[100.0, 240.0] volt"),
        (2, "http://x/c.jpg", 102, "item_volume", "litres"),
        (3, "http://x/d.jpg", 102, "colour", "red"),
        ("x", "http://x/e.jpg", 102, "width", "5 cm"),
        (1, "http://x/f.jpg", 102, "width", "5 cm"),
        (4, "http://x/g.jpg", 103, "height", "5 feet"),
        (5, "http://x/h.jpg", 103, "wattage", ""),
    ]
    report = EntityValueReport()
    read = read_challenge_csv(write_csv(tmp_path / "train.csv", header, rows), report=report)
    assert [(r["index"], r["entity_value"]) for r in read] == [
        (0, "500.0 gram"),
        (1, "100.0 volt"),
        (4, "5.0 foot"),
        (5, ""),
    ]
    assert read[0] == {
        "index": 0,
        "image_link": "http://x/a.jpg",
        "group_id": "101",
        "entity_name": "item_weight",
        "entity_value": "500.0 gram",
    }
    assert report.counts == {"no value": 1, "unknown entity": 1, "malformed index": 1, "duplicate index": 1}
    assert report.kept == 4

    test = write_csv(tmp_path / "test.csv", header[:4], [(0, "http://x/a.jpg", 1, "width")])
    assert read_challenge_csv(test) == [
        {"index": 0, "image_link": "http://x/a.jpg", "group_id": "1", "entity_name": "width"}
    ]
    with pytest.raises(ValueError, match=r"test.csv: missing column\(s\) \['entity_value'\]"):
        read_challenge_csv(test, labels=True)
    no_entity = write_csv(tmp_path / "bad.csv", ["index", "image_link", "group_id"], [(0, "u", 1)])
    with pytest.raises(ValueError, match=r"missing column\(s\) \['entity_name'\]"):
        read_challenge_csv(no_entity)


def test_load_challenge_dataset(server, tmp_path):
    header = ["index", "image_link", "group_id", "entity_name", "entity_value"]
    rows = [
        (10, server.url + "/good/0.png", 1, "item_weight", "1.0 kilogram"),
        (11, server.url + "/missing.png", 1, "width", "12 cm"),
        (12, server.url + "/good/1.png", 2, "item_volume", "litres"),  # skipped: no value
        (13, server.url + "/good/1.png", 2, "voltage", "12 volts"),
    ]
    path = write_csv(tmp_path / "train.csv", header, rows)
    downloads = DownloadReport()
    ds = load_challenge_dataset(path, tmp_path / "images", download_report=downloads, **FAST)
    assert ds.column_names == [
        "index",
        "image_link",
        "group_id",
        "entity_name",
        "entity_value",
        "image",
        "image_ok",
    ]
    assert ds["index"] == [10, 11, 13]
    assert ds["entity_value"] == ["1.0 kilogram", "12.0 centimetre", "12.0 volt"]
    assert ds["image_ok"] == [True, False, True]
    assert downloads.counts == {"download failed": 1}
    images = ds["image"]
    assert images[0].size == (8, 6) and images[0].getpixel((0, 0)) == (0, 0, 0)
    assert images[1].size == (100, 100) and images[1].getpixel((50, 50)) == (0, 0, 0)  # the placeholder
    assert images[2].getpixel((0, 0)) == (40, 0, 0)

    test = write_csv(tmp_path / "test.csv", header[:4], [(0, server.url + "/good/2.png", 1, "width")])
    test_ds = load_challenge_dataset(test, tmp_path / "images", **FAST)
    assert "entity_value" not in test_ds.column_names and test_ds["image_ok"] == [True]
