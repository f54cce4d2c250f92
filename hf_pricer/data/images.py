"""Safe image loading, shared by every model that reads product images.

Product images come as local paths, URLs, raw bytes, PIL images or the `{"bytes", "path"}` dicts of
`datasets.Image(decode=False)`, and some of them are missing, broken or hostile. :func:`load_image`
turns any of these into an RGB `PIL.Image.Image` or into a reason why it could not:

- nothing is decoded before the header's `width * height` is checked against `max_pixels`, and no
  file or download is read past `max_bytes`, so a decompression bomb costs a header read;
- the format is sniffed from the content (never the file extension) and limited to common web image
  formats (`formats`); nothing is unpickled and no external decoder (e.g. Ghostscript for EPS) runs;
- palette, alpha (composited on white), grayscale, CMYK and 16-bit images become 8-bit RGB, and the EXIF
  orientation is applied.

Unusable images are counted by reason in an :class:`ImageReport`, which logs them.
"""

from __future__ import annotations

import http.client
import io
import logging
import math
import os
import time
import urllib.error
import urllib.request
from typing import Any

import numpy as np
from PIL import Image, ImageOps

from .schema import SkipReport

logger = logging.getLogger(__name__)

NO_IMAGE = "no image"
UNREADABLE_IMAGE = "unreadable image"
IMAGE_NOT_FOUND = "image not found"
DOWNLOAD_FAILED = "download failed"
IMAGE_TOO_LARGE = "image too large"

DEFAULT_MAX_PIXELS = 40_000_000
DEFAULT_MAX_BYTES = 30 * 2**20
IMAGE_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF", "AVIF")

_CHUNK = 2**16
_RETRYABLE_HTTP = (408, 425, 429)
_WHITE = (255, 255, 255, 255)


class _Rejected(Exception):
    """Internal: carries the reason an image cannot be used."""


class DownloadError(_Rejected):
    """A failed download; `retryable` marks transient failures (timeouts, resets, HTTP 408/429/5xx)."""

    def __init__(self, reason: str, retryable: bool = False):
        super().__init__(reason)
        self.retryable = retryable


def load_image(
    value: Any,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_bytes: int = DEFAULT_MAX_BYTES,
    timeout: float = 10.0,
    formats: tuple[str, ...] = IMAGE_FORMATS,
) -> tuple[Image.Image | None, str | None]:
    """Load an image as 8-bit RGB. Returns `(image, None)`, or `(None, reason)` when it cannot be used.

    Args:
        value: a local path (`str` or `os.PathLike`), an `http(s)://` URL, `bytes`, a `PIL.Image.Image`,
            a `{"bytes": ..., "path": ...}` dict (bytes win over path), or `None`/`""`/NaN for no image.
        max_pixels: largest accepted `width * height`, checked on the header before decoding.
        max_bytes: largest accepted file or download, in bytes.
        timeout: seconds without data after which a download is abandoned; the whole download is also
            abandoned after about `2 * timeout` seconds, so a server that trickles bytes cannot hold it.
        formats: Pillow format names that are tried; anything else is an unreadable image.

    The reason starts with one of `"no image"`, `"unreadable image"`, `"image not found"`,
    `"download failed"` or `"image too large"`, followed by details in parentheses, e.g.
    `"image too large (8000×8000 pixels)"`. Any failure of the decoder counts as an unreadable image;
    input types other than the above raise `TypeError`.
    """
    try:
        image = _open(value, max_bytes=max_bytes, timeout=timeout, formats=formats)
        width, height = image.size
        if width * height > max_pixels:
            raise _Rejected(f"{IMAGE_TOO_LARGE} ({width}×{height} pixels)")
        try:
            image.load()
            return _to_rgb(ImageOps.exif_transpose(image)), None
        except Image.DecompressionBombError as error:  # e.g. a GIF frame larger than its header
            raise _Rejected(f"{IMAGE_TOO_LARGE} ({error})") from None
        except Exception as error:  # noqa: BLE001 -- malformed files make decoders fail in many ways
            raise _Rejected(f"{UNREADABLE_IMAGE} ({type(error).__name__}: {error})") from None
    except _Rejected as rejected:
        return None, str(rejected)


def _open(value: Any, *, max_bytes: int, timeout: float, formats: tuple[str, ...]) -> Image.Image:
    """The lazily opened image (header read, pixels not decoded)."""
    if isinstance(value, Image.Image):
        return value
    if value is None or (isinstance(value, str) and not value.strip()):
        raise _Rejected(NO_IMAGE)
    if isinstance(value, float) and math.isnan(value):  # pandas' missing value
        raise _Rejected(NO_IMAGE)
    if isinstance(value, dict):
        if value.get("bytes"):
            return _open(value["bytes"], max_bytes=max_bytes, timeout=timeout, formats=formats)
        if value.get("path"):
            return _open(value["path"], max_bytes=max_bytes, timeout=timeout, formats=formats)
        raise _Rejected(NO_IMAGE)
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
    elif isinstance(value, str) and value.lower().startswith(("http://", "https://")):
        data = download(value, max_bytes=max_bytes, timeout=timeout)
    elif isinstance(value, (str, os.PathLike)):
        data = _read_file(value, max_bytes=max_bytes)
    else:
        raise TypeError(
            "an image must be a path, URL, bytes, PIL image or {'bytes', 'path'} dict, "
            f"got {type(value).__name__}"
        )
    if len(data) > max_bytes:
        raise _Rejected(f"{IMAGE_TOO_LARGE} ({len(data)} bytes)")
    try:
        return Image.open(io.BytesIO(data), formats=formats)
    except Image.DecompressionBombError as error:  # Pillow's own limit, hit while reading the header
        raise _Rejected(f"{IMAGE_TOO_LARGE} ({error})") from None
    except Image.UnidentifiedImageError:
        raise _Rejected(f"{UNREADABLE_IMAGE} (not a {', '.join(formats)} image)") from None
    except Exception as error:  # noqa: BLE001 -- as above, for the header parsers
        raise _Rejected(f"{UNREADABLE_IMAGE} ({type(error).__name__}: {error})") from None


def _read_file(path: str | os.PathLike, *, max_bytes: int) -> bytes:
    try:
        size = os.stat(path).st_size
        if size > max_bytes:
            raise _Rejected(f"{IMAGE_TOO_LARGE} ({size} bytes)")
        with open(path, "rb") as file:
            return file.read(max_bytes + 1)
    except (FileNotFoundError, NotADirectoryError):
        raise _Rejected(f"{IMAGE_NOT_FOUND} ({os.fspath(path)})") from None
    except (OSError, ValueError) as error:
        raise _Rejected(f"{UNREADABLE_IMAGE} ({type(error).__name__}: {error})") from None


def download(url: str, *, max_bytes: int = DEFAULT_MAX_BYTES, timeout: float = 10.0) -> bytes:
    """The body of `url`, read in chunks with the limits of :func:`load_image`; raises :class:`DownloadError`."""
    request = urllib.request.Request(url, headers={"User-Agent": "hf_pricer"})
    deadline = time.monotonic() + 2 * timeout
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            if length is not None and length.isdigit() and int(length) > max_bytes:
                raise DownloadError(f"{IMAGE_TOO_LARGE} ({int(length)} bytes)")
            chunks, received = [], 0
            while chunk := response.read1(_CHUNK):  # one recv per call, so the deadline is checked
                chunks.append(chunk)
                received += len(chunk)
                if received > max_bytes:
                    raise DownloadError(f"{IMAGE_TOO_LARGE} (more than {max_bytes} bytes)")
                if time.monotonic() > deadline:
                    raise TimeoutError(f"download took longer than {2 * timeout:g}s")
            return b"".join(chunks)
    except urllib.error.HTTPError as error:
        retryable = error.code in _RETRYABLE_HTTP or error.code >= 500
        raise DownloadError(f"{DOWNLOAD_FAILED} (HTTP {error.code} for {url})", retryable) from None
    except ValueError as error:  # a malformed URL
        raise DownloadError(f"{DOWNLOAD_FAILED} ({type(error).__name__}: {error} for {url})") from None
    except (OSError, http.client.HTTPException) as error:  # timeouts, resets, truncated responses
        raise DownloadError(f"{DOWNLOAD_FAILED} ({type(error).__name__}: {error} for {url})", True) from None


def _to_rgb(image: Image.Image) -> Image.Image:
    """8-bit RGB; transparent pixels become white, 16-bit and float samples are scaled, not clipped."""
    if image.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        samples = np.clip(np.asarray(image, dtype=np.float64), 0, 65535) / 257
        image = Image.fromarray(samples.round().astype(np.uint8))
    elif image.mode == "F":
        image = Image.fromarray(np.clip(np.asarray(image), 0, 255).round().astype(np.uint8))
    if image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or (
        image.mode == "P" and "transparency" in image.info
    ):
        image = Image.alpha_composite(Image.new("RGBA", image.size, _WHITE), image.convert("RGBA"))
    return image.convert("RGB")


class ImageReport(SkipReport):
    """Counts images that could not be used, by reason, and logs them; `kept` counts the loaded ones.

    A missing image does not drop its row (the models substitute a learned placeholder), so these are
    events, not skipped rows: an item whose image is broken is counted again every epoch. Reasons are
    counted by their kind (`"image too large"`), and logged in full for the first `log_first` of each
    kind, then at every power of ten.
    """

    message = "no usable image for item {row_id}: {reason}"
    progress = "{count} images unusable so far for {kind}"

    def __init__(self, name: str = "images", log_first: int = 5):
        super().__init__(name=name, log_first=log_first)

    @property
    def missing(self) -> int:
        return self.skipped

    def summary(self) -> str:
        reasons = ", ".join(f"{count} {reason}" for reason, count in self.counts.most_common())
        return f"{self.name}: loaded {self.kept}, unusable {self.missing}" + (
            f" ({reasons})" if reasons else ""
        )

    def __repr__(self) -> str:
        return f"ImageReport({self.summary()})"


__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_PIXELS",
    "DOWNLOAD_FAILED",
    "IMAGE_FORMATS",
    "IMAGE_NOT_FOUND",
    "IMAGE_TOO_LARGE",
    "NO_IMAGE",
    "UNREADABLE_IMAGE",
    "DownloadError",
    "ImageReport",
    "download",
    "load_image",
]
