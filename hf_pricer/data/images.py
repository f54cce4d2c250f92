"""Safe image loading, shared by every model that reads product images.

Product images come as local paths, URLs, raw bytes, PIL images or the `{"bytes", "path"}` dicts of
`datasets.Image(decode=False)`, and some of them are missing, broken or hostile. :func:`load_image`
turns any of these into an RGB `PIL.Image.Image` or into a reason why it could not:

- nothing is decoded before the header's `width * height` is checked against `max_pixels`, and no
  file or download is read past `max_bytes`, so a decompression bomb costs a header read;
- the format is sniffed from the content (never the file extension) and limited to common web image
  formats (`formats`); nothing is unpickled and no external decoder (e.g. Ghostscript for EPS) runs;
- palette, alpha (composited on white), grayscale, CMYK and 16-bit images become 8-bit RGB, and the EXIF
  orientation is applied;
- a download has one deadline for connecting, headers, redirects and body (a server trickling bytes cannot
  hold it), follows redirects only to http(s) URLs (optionally only to allowed hosts), and is retried by
  nobody here: :mod:`hf_pricer.data.challenge` retries transient failures;
- decodes share a :class:`DecodeBudget` of pixels in flight, so many threads decoding large images at once
  hold about one large image's pixels, not one each.

Unusable images are counted by reason in an :class:`ImageReport`, which logs them.
"""

from __future__ import annotations

import http.client
import io
import logging
import math
import os
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from contextlib import contextmanager, nullcontext
from functools import partial
from typing import Any, Self

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
DEFAULT_DECODE_PIXELS = 48_000_000
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


class DecodeBudget:
    """Bounds the pixels being decoded at the same time, and the number of decodes, across a process's threads.

    A decode reserves its image's `width * height` pixels (at most `max_pixels`, so that any accepted image
    can go alone) before it starts, and gives them back once its RGB image is made; other decodes wait. With
    16 download threads each holding a 36-megapixel image, the decoded pixels in memory stay near one image's
    instead of 16. The RGB images handed back are the caller's, outside the budget.
    """

    def __init__(self, max_pixels: int = DEFAULT_DECODE_PIXELS, max_decodes: int = os.cpu_count() or 4):
        if max_pixels < 1 or max_decodes < 1:
            raise ValueError(f"need max_pixels >= 1 and max_decodes >= 1, got {max_pixels} and {max_decodes}")
        self.max_pixels, self.max_decodes = max_pixels, max_decodes
        self._pixels = self._decodes = 0
        self._condition = threading.Condition()

    @contextmanager
    def reserve(self, pixels: int):
        """Wait until `pixels` (at most `max_pixels`) and one decode fit in the budget; hold them in the block."""
        pixels = min(pixels, self.max_pixels)
        with self._condition:
            self._condition.wait_for(
                lambda: self._decodes < self.max_decodes and self._pixels + pixels <= self.max_pixels
            )
            self._pixels += pixels
            self._decodes += 1
        try:
            yield
        finally:
            with self._condition:
                self._pixels -= pixels
                self._decodes -= 1
                self._condition.notify_all()

    def _after_fork(self) -> None:
        # A forked child (e.g. a DataLoader worker) has none of its parent's decodes, and maybe a held lock.
        self._pixels = self._decodes = 0
        self._condition = threading.Condition()


#: The budget :func:`load_image` uses by default: 48 megapixels (about 190 MB as Pillow holds RGB) and as many
#: decodes as CPUs at once.
DECODE_BUDGET = DecodeBudget()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=DECODE_BUDGET._after_fork)


def load_image(
    value: Any,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_bytes: int = DEFAULT_MAX_BYTES,
    timeout: float = 10.0,
    formats: tuple[str, ...] = IMAGE_FORMATS,
    allowed_hosts: Iterable[str] | None = None,
    draft: tuple[int, int] | None = None,
    budget: DecodeBudget | None = DECODE_BUDGET,
) -> tuple[Image.Image | None, str | None]:
    """Load an image as 8-bit RGB. Returns `(image, None)`, or `(None, reason)` when it cannot be used.

    Args:
        value: a local path (`str` or `os.PathLike`), an `http(s)://` URL, `bytes`, a `PIL.Image.Image`,
            a `{"bytes": ..., "path": ...}` dict (bytes win over path), or `None`/`""`/NaN for no image.
        max_pixels: largest accepted `width * height`, checked on the header before decoding.
        max_bytes: largest accepted file or download, in bytes.
        timeout: the deadline of a download, in seconds, covering connection, headers, redirects and body
            (see :func:`download`).
        formats: Pillow format names that are tried; anything else is an unreadable image.
        allowed_hosts: if given, the only hosts a URL and its redirects may point at.
        draft: `(width, height)`: a JPEG is decoded at the smallest of 1/1, 1/2, 1/4 or 1/8 scale that is
            still at least this size (Pillow's draft mode: less memory and time when the image is resized
            down anyway). Other formats decode at full size.
        budget: the :class:`DecodeBudget` decodes wait for (None: no waiting).

    The reason starts with one of `"no image"`, `"unreadable image"`, `"image not found"`,
    `"download failed"` or `"image too large"`, followed by details in parentheses, e.g.
    `"image too large (8000×8000 pixels)"`. Any failure of the decoder counts as an unreadable image;
    input types other than the above raise `TypeError`.
    """
    try:
        options = {"max_pixels": max_pixels, "max_bytes": max_bytes, "timeout": timeout, "formats": formats}
        return _decode(value, **options, allowed_hosts=allowed_hosts, draft=draft, budget=budget, keep=True), None
    except _Rejected as rejected:
        return None, str(rejected)


def check_image(
    value: Any,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_bytes: int = DEFAULT_MAX_BYTES,
    timeout: float = 10.0,
    formats: tuple[str, ...] = IMAGE_FORMATS,
    allowed_hosts: Iterable[str] | None = None,
    budget: DecodeBudget | None = DECODE_BUDGET,
) -> str | None:
    """Why `value` cannot be used as an image (a reason of :func:`load_image`), None when it can.

    The image is decoded to find damage (a JPEG at 1/8 scale, which still reads all its data) and dropped before
    its share of `budget` is given back, so that the pixels held at once stay within the budget.
    """
    try:
        options = {"max_pixels": max_pixels, "max_bytes": max_bytes, "timeout": timeout, "formats": formats}
        _decode(value, **options, allowed_hosts=allowed_hosts, draft=(1, 1), budget=budget, keep=False)
        return None
    except _Rejected as rejected:
        return str(rejected)


def _one_block_per_image() -> None:
    """Have Pillow allocate every accepted image in one block (its default is 16 MB blocks).

    glibc serves 16 MB blocks from a per-thread arena and keeps them there once freed, so 16 threads decoding
    large images in turn would end up holding one image each; a block above 32 MB is its own memory mapping,
    returned to the system when the image is freed. It only changes how Pillow lays out images in memory, and
    a block size set by the user (`PILLOW_BLOCK_SIZE`, or larger than this) is left as it is.
    """
    global _BLOCKS_SET
    if not _BLOCKS_SET and "PILLOW_BLOCK_SIZE" not in os.environ:
        Image.core.set_block_size(max(Image.core.get_block_size(), 2**28))  # 256 MB: any accepted image
    _BLOCKS_SET = True


_BLOCKS_SET = False


def _decode(value: Any, *, max_pixels: int, max_bytes: int, timeout: float, formats: tuple[str, ...],
            allowed_hosts, draft, budget: DecodeBudget | None, keep: bool) -> Image.Image | None:
    """The RGB image of `value` (None after checking it when not `keep`); raises `_Rejected` with the reason."""
    owned = not isinstance(value, Image.Image)  # the caller's image is never changed in place
    read = partial(_read, max_bytes=max_bytes, timeout=timeout, allowed_hosts=allowed_hosts)
    image = _open(value, read, max_bytes=max_bytes, formats=formats)
    width, height = image.size
    if width * height > max_pixels:
        raise _Rejected(f"{IMAGE_TOO_LARGE} ({width}×{height} pixels)")
    if draft is not None and owned and image.format == "JPEG":
        image.draft("RGB", draft)
    _one_block_per_image()
    with budget.reserve(image.size[0] * image.size[1]) if budget is not None else nullcontext():
        try:
            image.load()
            if owned:
                ImageOps.exif_transpose(image, in_place=True)
            else:
                image = ImageOps.exif_transpose(image)
            image = _to_rgb(image, copy=not owned)
        except Image.DecompressionBombError as error:  # e.g. a GIF frame larger than its header
            raise _Rejected(f"{IMAGE_TOO_LARGE} ({error})") from None
        except Exception as error:  # noqa: BLE001 -- malformed files make decoders fail in many ways
            raise _Rejected(f"{UNREADABLE_IMAGE} ({type(error).__name__}: {error})") from None
        if keep:
            return image
    return None


def _read(value: str | os.PathLike, *, max_bytes: int, timeout: float, allowed_hosts) -> bytes:
    """The bytes of a URL or a local file."""
    if isinstance(value, str) and value.lower().startswith(("http://", "https://")):
        return download(value, max_bytes=max_bytes, timeout=timeout, allowed_hosts=allowed_hosts)
    return _read_file(value, max_bytes=max_bytes)


def _open(value: Any, read, *, max_bytes: int, formats: tuple[str, ...]) -> Image.Image:
    """The lazily opened image (header read, pixels not decoded); `read` fetches paths and URLs."""
    if isinstance(value, Image.Image):
        return value
    if value is None or (isinstance(value, str) and not value.strip()):
        raise _Rejected(NO_IMAGE)
    if isinstance(value, float) and math.isnan(value):  # pandas' missing value
        raise _Rejected(NO_IMAGE)
    if isinstance(value, dict):
        if value.get("bytes"):
            return _open(value["bytes"], read, max_bytes=max_bytes, formats=formats)
        if value.get("path"):
            return _open(value["path"], read, max_bytes=max_bytes, formats=formats)
        raise _Rejected(NO_IMAGE)
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
    elif isinstance(value, (str, os.PathLike)):
        data = read(value)
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


class _Deadline:
    """One deadline for a whole request: when it passes, the sockets of the request are shut down, which ends
    any read blocked on them (a server trickling its headers defeats per-read socket timeouts)."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.end = time.monotonic() + seconds
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self.expire)
        self._timer.daemon = True

    def remaining(self) -> float:
        return max(self.end - time.monotonic(), 0.001)

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            if self.expired:
                self._shutdown(sock)

    def expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                self._shutdown(sock)

    @staticmethod
    def _shutdown(sock: socket.socket) -> None:
        try:
            socket.socket.shutdown(sock, socket.SHUT_RDWR)  # the plain socket's, also under TLS
        except OSError:
            pass

    def __enter__(self) -> Self:
        self._timer.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._timer.cancel()


class _WatchedConnection:
    """Mixin for `http.client` connections: its socket is handed to the request's :class:`_Deadline`."""

    def __init__(self, *args, deadline: _Deadline, **kwargs):
        super().__init__(*args, **kwargs)
        self._deadline = deadline

    def connect(self):
        super().connect()
        self._deadline.watch(self.sock)


class _HTTPConnection(_WatchedConnection, http.client.HTTPConnection):
    pass


class _HTTPSConnection(_WatchedConnection, http.client.HTTPSConnection):
    pass


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, deadline: _Deadline):
        super().__init__()
        self.deadline = deadline

    def http_open(self, req):
        return self.do_open(partial(_HTTPConnection, deadline=self.deadline), req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, deadline: _Deadline):
        super().__init__()
        self.deadline = deadline

    def https_open(self, req):
        return self.do_open(partial(_HTTPSConnection, deadline=self.deadline), req, context=self._context)


def _check_url(url: str, allowed_hosts: frozenset[str] | None, what: str = "URL") -> None:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        raise DownloadError(f"{DOWNLOAD_FAILED} (refused: {what} {url!r} is not http(s))")
    if allowed_hosts is not None and (parts.hostname or "").lower() not in allowed_hosts:
        raise DownloadError(f"{DOWNLOAD_FAILED} (refused: {what} {url!r} is on a host that is not allowed)")


class _RedirectHandler(urllib.request.HTTPRedirectHandler):
    """Follows redirects only to http(s) URLs, and only to allowed hosts when there is a host allowlist."""

    def __init__(self, allowed_hosts: frozenset[str] | None):
        super().__init__()
        self.allowed_hosts = allowed_hosts

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        _check_url(urllib.parse.urljoin(req.full_url, newurl), self.allowed_hosts, what="redirect to")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def download(
    url: str,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    timeout: float = 10.0,
    allowed_hosts: Iterable[str] | None = None,
) -> bytes:
    """The body of an `http(s)://` URL; raises :class:`DownloadError`.

    Args:
        max_bytes: largest accepted body, checked on `Content-Length` and while reading.
        timeout: one deadline, in seconds, for the whole request: connecting, the response headers, every
            redirect and the body. A server that trickles bytes cannot hold a download past it.
        allowed_hosts: if given, the only host names the URL and its redirects may point at.

    Redirects are followed only to http(s) URLs (and allowed hosts); a redirect elsewhere is refused.
    """
    allowed = None if allowed_hosts is None else frozenset(host.lower() for host in allowed_hosts)
    try:
        _check_url(url, allowed)
    except ValueError as error:  # a malformed URL
        raise DownloadError(f"{DOWNLOAD_FAILED} ({type(error).__name__}: {error} for {url})") from None
    request = urllib.request.Request(url, headers={"User-Agent": "hf_pricer"})
    with _Deadline(timeout) as deadline:
        opener = urllib.request.build_opener(_HTTPHandler(deadline), _HTTPSHandler(deadline), _RedirectHandler(allowed))
        try:
            with opener.open(request, timeout=deadline.remaining()) as response:
                length = response.headers.get("Content-Length")
                if length is not None and length.isdigit() and int(length) > max_bytes:
                    raise DownloadError(f"{IMAGE_TOO_LARGE} ({int(length)} bytes)")
                chunks, received = [], 0
                while chunk := response.read1(_CHUNK):
                    chunks.append(chunk)
                    received += len(chunk)
                    if received > max_bytes:
                        raise DownloadError(f"{IMAGE_TOO_LARGE} (more than {max_bytes} bytes)")
                if deadline.expired:
                    raise TimeoutError()
                if response.length:  # the connection closed before the announced length
                    raise DownloadError(
                        f"{DOWNLOAD_FAILED} (connection closed after {received} of {received + response.length} "
                        f"bytes for {url})", retryable=True
                    )
                return b"".join(chunks)
        except DownloadError:
            raise
        except urllib.error.HTTPError as error:
            retryable = error.code in _RETRYABLE_HTTP or error.code >= 500
            raise DownloadError(f"{DOWNLOAD_FAILED} (HTTP {error.code} for {url})", retryable) from None
        except Exception as error:
            if deadline.expired:
                raise DownloadError(
                    f"{DOWNLOAD_FAILED} (TimeoutError: no complete response within {timeout:g}s for {url})", True
                ) from None
            if isinstance(error, urllib.error.URLError) and isinstance(error.reason, DownloadError):
                raise error.reason from None
            if isinstance(error, ValueError):  # a malformed URL
                raise DownloadError(f"{DOWNLOAD_FAILED} ({type(error).__name__}: {error} for {url})") from None
            if isinstance(error, (OSError, http.client.HTTPException)):  # timeouts, resets, truncated responses
                raise DownloadError(f"{DOWNLOAD_FAILED} ({type(error).__name__}: {error} for {url})", True) from None
            raise


def _to_rgb(image: Image.Image, copy: bool = True) -> Image.Image:
    """8-bit RGB; transparent pixels become white, 16-bit and float samples are scaled, not clipped. An RGB
    image is returned as it is unless `copy`."""
    if image.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        samples = np.clip(np.asarray(image, dtype=np.float64), 0, 65535) / 257
        image = Image.fromarray(samples.round().astype(np.uint8))
    elif image.mode == "F":
        image = Image.fromarray(np.clip(np.asarray(image), 0, 255).round().astype(np.uint8))
    if image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or (
        image.mode == "P" and "transparency" in image.info
    ):
        image = Image.alpha_composite(Image.new("RGBA", image.size, _WHITE), image.convert("RGBA"))
    if image.mode == "RGB" and not copy:
        return image
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
    "DECODE_BUDGET",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_PIXELS",
    "DOWNLOAD_FAILED",
    "IMAGE_FORMATS",
    "IMAGE_NOT_FOUND",
    "IMAGE_TOO_LARGE",
    "NO_IMAGE",
    "UNREADABLE_IMAGE",
    "DecodeBudget",
    "DownloadError",
    "ImageReport",
    "check_image",
    "download",
    "load_image",
]
