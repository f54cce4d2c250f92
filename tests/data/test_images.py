import io
import logging
import math
import socket
import struct
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from PIL import Image, ImageFile

from hf_pricer.data.images import DecodeBudget, ImageReport, check_image, load_image


def _encode(image: Image.Image, format: str = "PNG", **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=format, **kwargs)
    return buffer.getvalue()


def _pixels(image: Image.Image) -> list:
    return [tuple(int(c) for c in pixel) for pixel in np.asarray(image).reshape(-1, 3)]


def _with_png_size(data: bytes, width: int, height: int) -> bytes:
    """The PNG with the size in its header (IHDR, the first chunk) replaced, and the chunk's CRC fixed."""
    header = struct.pack(">II", width, height) + data[24:29]
    return data[:16] + header + struct.pack(">I", zlib.crc32(b"IHDR" + header)) + data[33:]


RED_GREEN = Image.fromarray(
    np.array([[[255, 0, 0], [0, 255, 0]], [[0, 0, 255], [10, 20, 30]]], dtype=np.uint8)
)
PNG = _encode(RED_GREEN)


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/image.png":
            self._headers(200, len(PNG))
            self.wfile.write(PNG)
        elif self.path == "/no-length.png":
            self._headers(200, None)
            self.wfile.write(PNG)
        elif self.path == "/huge.png":
            self._headers(200, 10**9)
        elif self.path == "/hang.png":
            self.server.release.wait(5)
        elif self.path == "/trickle.png":
            self._headers(200, 1000)
            try:
                for _ in range(1000):
                    if self.server.release.wait(0.05):
                        break
                    self.wfile.write(b"\0")
            except OSError:
                pass
        else:
            self._headers(404, 0)

    def _headers(self, status, length):
        self.send_response(status)
        self.send_header("Content-Type", "image/png")
        if length is not None:
            self.send_header("Content-Length", str(length))
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.release = threading.Event()
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.release.set()
    httpd.shutdown()
    httpd.server_close()


def _assert_red_green(image):
    assert image.mode == "RGB" and image.size == (2, 2)
    assert _pixels(image) == [(255, 0, 0), (0, 255, 0), (0, 0, 255), (10, 20, 30)]


def test_every_input_kind_loads_as_rgb(tmp_path):
    path = tmp_path / "image.png"
    path.write_bytes(PNG)
    for value in [
        str(path),
        path,
        PNG,
        bytearray(PNG),
        RED_GREEN,
        Image.open(io.BytesIO(PNG)),  # lazily opened, as `datasets.Image()` decodes
        {"bytes": PNG, "path": "ignored.png"},
        {"bytes": None, "path": str(path)},
    ]:
        image, reason = load_image(value)
        assert reason is None, value
        _assert_red_green(image)


def test_format_comes_from_the_content_and_is_limited_to_web_formats(tmp_path):
    lying = tmp_path / "photo.jpg"
    lying.write_bytes(PNG)
    _assert_red_green(load_image(lying)[0])
    ppm = _encode(RED_GREEN, "PPM")  # Pillow reads PPM, but it is not an accepted format
    assert load_image(ppm) == (None, "unreadable image (not a JPEG, PNG, WEBP, GIF, BMP, TIFF, AVIF image)")


@pytest.mark.parametrize("value", [None, "", "   ", math.nan, {"bytes": None, "path": None}, {}])
def test_absent_images_are_no_image(value):
    assert load_image(value) == (None, "no image")


def test_missing_file_and_corrupt_data_have_distinct_reasons(tmp_path):
    image, reason = load_image(tmp_path / "nope.png")
    assert image is None and reason == f"image not found ({tmp_path / 'nope.png'})"
    assert load_image(b"not an image", formats=("PNG",)) == (None, "unreadable image (not a PNG image)")
    noise = _encode(Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)))
    truncated, reason = load_image(noise[: len(noise) // 2])  # the header is intact: fails while decoding
    assert truncated is None and reason.startswith("unreadable image (OSError")
    assert load_image(tmp_path)[1].startswith("unreadable image")  # a directory
    with pytest.raises(TypeError, match="got int"):
        load_image(3)


def test_bomb_is_rejected_from_its_header_before_decoding(monkeypatch):
    def no_decoding(self):
        raise AssertionError("pixels were decoded")

    small = _encode(Image.new("RGB", (4, 4)))
    bomb = _with_png_size(small, 8000, 8000)  # 64 MP claimed; the data would not even decode
    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    assert load_image(bomb) == (None, "image too large (8000×8000 pixels)")
    assert load_image(Image.open(io.BytesIO(bomb))) == (None, "image too large (8000×8000 pixels)")
    assert load_image(small, max_pixels=15) == (None, "image too large (4×4 pixels)")
    huge, reason = load_image(_with_png_size(small, 50000, 50000))  # beyond Pillow's own limit
    assert huge is None and reason.startswith("image too large")


def test_byte_cap_applies_to_files_and_bytes(tmp_path):
    path = tmp_path / "image.png"
    path.write_bytes(PNG)
    assert load_image(path, max_bytes=50) == (None, f"image too large ({len(PNG)} bytes)")
    assert load_image(PNG, max_bytes=50) == (None, f"image too large ({len(PNG)} bytes)")


def test_urls(server):
    _assert_red_green(load_image(f"{server}/image.png")[0])
    _assert_red_green(load_image({"bytes": None, "path": f"{server}/image.png"})[0])
    assert load_image(f"{server}/missing.png")[1] == f"download failed (HTTP 404 for {server}/missing.png)"
    assert load_image(f"{server}/huge.png") == (None, f"image too large ({10**9} bytes)")
    assert load_image(f"{server}/no-length.png", max_bytes=50) == (
        None,
        "image too large (more than 50 bytes)",
    )
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}/image.png"
    assert load_image(closed)[1].startswith("download failed")
    assert load_image("http://")[1].startswith("download failed")


@pytest.mark.parametrize("path", ["/hang.png", "/trickle.png"])
def test_slow_downloads_are_abandoned(server, path):
    start = time.monotonic()
    image, reason = load_image(server + path, timeout=0.2)
    assert image is None and reason.startswith("download failed") and "Timeout" in reason
    assert time.monotonic() - start < 2


def test_alpha_becomes_white_background():
    rgba = Image.new("RGBA", (2, 1))
    rgba.putpixel((0, 0), (255, 0, 0, 255))
    rgba.putpixel((1, 0), (0, 0, 255, 0))
    assert _pixels(load_image(_encode(rgba))[0]) == [(255, 0, 0), (255, 255, 255)]
    la = Image.new("LA", (1, 1), (0, 0))
    assert _pixels(load_image(_encode(la))[0]) == [(255, 255, 255)]


def test_palette_grayscale_bilevel_and_cmyk_become_rgb():
    palette = Image.new("P", (2, 1))
    palette.putpalette([255, 0, 0, 0, 255, 0])
    palette.putpixel((1, 0), 1)
    assert _pixels(load_image(_encode(palette))[0]) == [(255, 0, 0), (0, 255, 0)]
    assert _pixels(load_image(_encode(palette, transparency=1))[0]) == [(255, 0, 0), (255, 255, 255)]
    assert _pixels(load_image(_encode(Image.new("L", (1, 1), 100)))[0]) == [(100, 100, 100)]
    assert _pixels(load_image(_encode(Image.new("1", (1, 1), 1)))[0]) == [(255, 255, 255)]
    cmyk = _encode(Image.new("CMYK", (1, 1), (0, 255, 255, 0)), "TIFF")
    assert _pixels(load_image(cmyk)[0]) == [(255, 0, 0)]


def test_sixteen_bit_samples_are_scaled_not_clipped():
    deep = Image.fromarray(np.array([[0, 257 * 128, 65535]], dtype=np.uint16))
    assert deep.mode.startswith("I;16")
    assert _pixels(load_image(_encode(deep))[0]) == [(0, 0, 0), (128, 128, 128), (255, 255, 255)]


def test_exif_orientation_is_applied():
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    image, _ = load_image(_encode(Image.new("RGB", (4, 2)), "JPEG", exif=exif))
    assert image.size == (2, 4)


def test_image_report_counts_kinds_and_logs(caplog):
    report = ImageReport(log_first=1)
    with caplog.at_level(logging.WARNING, logger="hf_pricer.data.images"):
        report.add("image too large (9×9 pixels)", "a")
        report.add("image too large (8×8 pixels)", "b")
        report.add("no image", "c")
    report.kept = 5
    assert report.counts == {"image too large": 2, "no image": 1} and report.missing == 3
    assert report.summary() == "images: loaded 5, unusable 3 (2 image too large, 1 no image)"
    assert "item a: image too large (9×9 pixels)" in caplog.text and "item b" not in caplog.text


def test_decode_budget_bounds_pixels_and_decodes_in_flight():
    budget = DecodeBudget(max_pixels=100, max_decodes=2)
    lock, held, peaks = threading.Lock(), {"pixels": 0, "decodes": 0}, {"pixels": 0, "decodes": 0}

    def decode(pixels):
        with budget.reserve(pixels):
            with lock:
                held["pixels"] += min(pixels, 100)
                held["decodes"] += 1
                for key, value in held.items():
                    peaks[key] = max(peaks[key], value)
            time.sleep(0.02)
            with lock:
                held["pixels"] -= min(pixels, 100)
                held["decodes"] -= 1

    threads = [threading.Thread(target=decode, args=(pixels,)) for pixels in [60, 60, 30, 500, 10, 10, 10]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert not any(thread.is_alive() for thread in threads)  # an image over the budget still goes, alone
    assert peaks["pixels"] <= 100 and peaks["decodes"] == 2
    with pytest.raises(ValueError, match="max_decodes >= 1"):
        DecodeBudget(max_decodes=0)


def test_jpeg_draft_mode_decodes_at_a_reduced_scale():
    jpeg = _encode(Image.new("RGB", (800, 600), (200, 30, 30)), "JPEG")
    assert load_image(jpeg)[0].size == (800, 600)
    assert load_image(jpeg, draft=(150, 150))[0].size == (200, 150)  # 1/4: the smallest scale still ≥ 150
    png = _encode(Image.new("RGB", (800, 600)))
    assert load_image(png, draft=(150, 150))[0].size == (800, 600)  # only JPEG has a draft mode


def test_check_image_gives_the_reasons_of_load_image(tmp_path):
    assert check_image(PNG) is None
    assert check_image(_with_png_size(PNG, 9000, 9000)) == "image too large (9000×9000 pixels)"
    assert check_image(tmp_path / "gone.png") == f"image not found ({tmp_path / 'gone.png'})"
    jpeg = _encode(Image.fromarray(np.random.default_rng(0).integers(0, 256, (256, 256, 3), dtype=np.uint8)), "JPEG")
    assert check_image(jpeg) is None
    assert check_image(jpeg[: len(jpeg) // 2]).startswith("unreadable image")  # draft mode still reads all data
