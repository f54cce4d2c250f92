"""Product images: a backdrop, a drawn product with its surface finish, and a printed label.

:func:`render_product` draws a :class:`ProductScene` as an RGB ``PIL.Image``, and :func:`png_bytes` encodes it
the way the datasets store it. The synthetic catalog (:mod:`hf_pricer.data.catalog`) and the label images
(:mod:`hf_pricer.data.label_images`) draw every image with them.

The scene fixes everything but the backdrop's faint texture, which is drawn from the generator passed to
:func:`render_product`: the same scene, size and generator state give byte-identical images (given the same
Pillow/FreeType/zlib build; labels use the scalable font that Pillow >= 10.1 bundles,
``ImageFont.load_default(size=...)``).
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple

import numpy as np

__all__ = ["SHAPES", "ProductScene", "font", "jpeg_bytes", "photograph", "png_bytes", "render_product", "warp_points"]


@dataclass(frozen=True)
class ProductScene:
    """What one product image shows.

    Attributes:
        shape: the drawn product, one of :data:`SHAPES`.
        rgb: the body colour.
        finish: how the surface reflects light: `"matte"`, `"glossy"` or `"metallic"`.
        size: fraction of the canvas taken by the product's longer side.
        prefix: the label's first line (e.g. `"NET WT"`); `""` prints the value line alone.
        label: the label's value line (e.g. `"2.5 kg"`).
        dx: horizontal offset of the product from the centre, in [-1, 1] (1: by 15 % of the free space).
        dy: vertical offset, as `dx`.
        background: the backdrop's colour.
        landscape: whether a frame is wider than tall (the other shapes have a fixed aspect).
    """

    shape: str
    rgb: tuple[int, int, int]
    finish: str
    size: float
    prefix: str
    label: str
    dx: float
    dy: float
    background: tuple[int, int, int]
    landscape: bool


def render_product(
    scene: ProductScene, image_size: int, rng: np.random.Generator, draw_text: bool = True, return_layout: bool = False
):
    """Draw `scene` on an `image_size` square RGB canvas.

    Args:
        scene: what to draw.
        image_size: side of the image, in pixels (labels are legible from 128 up).
        rng: draws the backdrop's texture.
        draw_text: when False the label's sticker is drawn without its text (to locate the ink in tests).
        return_layout: also return the printed pieces, `[{"text", "quad"}]` with the quads on 0–1000 (what an
            OCR engine could read; see `hf_pricer.data.ocr.simulate_ocr`).

    Returns:
        A `PIL.Image.Image` in mode RGB, and the layout when `return_layout`.
    """
    from PIL import Image, ImageDraw

    if scene.shape not in SHAPES:
        raise ValueError(f"shape must be one of {SHAPES}, got {scene.shape!r}")
    canvas = Image.fromarray(_backdrop(scene.background, image_size, rng), "RGB")
    box = _product_box(scene, image_size)
    line_width = max(1, image_size // 112)
    # The outline is a darker body colour, or dark grey where the body itself is near black.
    outline = _shade(scene.rgb, 0.55) if sum(scene.rgb) > 150 else (90, 90, 95)
    _draw_shadow(ImageDraw.Draw(canvas), box, scene.background)

    # The silhouette masks the finished surface; the details (caps, lids, outlines) go on top of it.
    silhouette = Image.new("L", (image_size, image_size), 0)
    details, label_cy = _SHAPE_DRAWERS[scene.shape](ImageDraw.Draw(silhouette), box, outline, line_width)
    surface = _finished_surface(scene.rgb, scene.finish, box, image_size)
    canvas = Image.composite(Image.fromarray(np.ascontiguousarray(surface), "RGB"), canvas, silhouette)
    draw = ImageDraw.Draw(canvas)
    for method, xy, kwargs in details:
        getattr(draw, method)(xy, **kwargs)

    pieces = _draw_label(draw, scene, (box.cx, label_cy), image_size, line_width, draw_text)
    if not return_layout:
        return canvas
    scale = 1000.0 / image_size
    layout = [
        {"text": text, "quad": [[round(x * scale, 1), round(y * scale, 1)] for x, y in _corners(box_)]}
        for text, box_ in pieces if text.strip()
    ]
    return canvas, layout


def _corners(box) -> list[tuple[float, float]]:
    x0, y0, x1, y1 = box
    return [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]


def png_bytes(image) -> bytes:
    """`image` encoded as PNG, as the datasets store it."""
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=3)
    return buf.getvalue()


# --------------------------------------------------------------------------------------------
# Backdrop and layout
# --------------------------------------------------------------------------------------------


def _backdrop(colour, size: int, rng: np.random.Generator) -> np.ndarray:
    """The backdrop, (size, size, 3) uint8: a light vertical gradient, a faint texture, a darker floor."""
    from PIL import Image

    base = np.asarray(colour, dtype=np.float32)
    y = np.linspace(-1.0, 1.0, size, dtype=np.float32)[:, None, None]
    img = base[None, None, :] * (1.0 - 0.04 * y) + np.zeros((size, size, 3), np.float32)
    # coarse noise upsampled bilinearly: cheap to compress, and deterministic
    cells = max(size // 16, 2)
    coarse = rng.normal(0.0, 3.0, size=(cells, cells)).astype(np.float32)
    texture = np.asarray(
        Image.fromarray(coarse, "F").resize((size, size), Image.Resampling.BILINEAR), np.float32
    )
    img += texture[:, :, None]
    floor = int(size * 0.86)
    img[floor:] *= 0.94
    return np.clip(img, 0, 255).astype(np.uint8)


_SHAPE_ASPECT = {  # width / height of the product's bounding box; a frame's follows `landscape`
    "bottle": 0.55,
    "bag": 0.78,
    "jar": 1.15,
    "battery": 0.5,
    "can": 0.85,
    "appliance": 0.9,
}


class _Box(NamedTuple):
    """The product's bounding box on the canvas: corners, width, height and centre (pixels)."""

    x0: float
    y0: float
    x1: float
    y1: float
    w: float
    h: float
    cx: float
    cy: float


def _product_box(scene: ProductScene, size: int) -> _Box:
    """Where the product sits: its longer side is `scene.size` of the canvas, shifted by `(dx, dy)`."""
    S = float(size)
    if scene.shape == "frame":
        aspect = 1.3 if scene.landscape else 0.8
    else:
        aspect = _SHAPE_ASPECT[scene.shape]
    long_side = scene.size * S
    w, h = (long_side * aspect, long_side) if aspect <= 1 else (long_side, long_side / aspect)
    cx = S / 2 + scene.dx * (S - w) * 0.15
    cy = S / 2 + scene.dy * (S - h) * 0.15
    return _Box(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2, w, h, cx, cy)


def _shade(rgb, factor: float) -> tuple[int, int, int]:
    return tuple(int(max(0, min(255, round(c * factor)))) for c in rgb)


def _draw_shadow(draw, box: _Box, background) -> None:
    """A flat ellipse under the product's base."""
    x0, _, x1, y1, w, h, _, _ = box
    draw.ellipse([x0 + 0.05 * w, y1 - 0.04 * h, x1 - 0.05 * w, y1 + 0.04 * h], fill=_shade(background, 0.8))


# --------------------------------------------------------------------------------------------
# Product shapes
# --------------------------------------------------------------------------------------------
# Each drawer fills the product's silhouette on the mask and returns the details to draw on top of the
# finished surface, as (ImageDraw method, xy, keyword arguments), and the vertical centre of the label.

_GREY, _DARK_GREY = (150, 152, 156), (60, 62, 66)
_Details = list[tuple[str, Any, dict[str, Any]]]


def _bottle(mask, box: _Box, outline, lw: int) -> tuple[_Details, float]:
    x0, y0, x1, y1, w, h, cx, _ = box
    neck_w, body_top = 0.36 * w, y0 + 0.32 * h
    mask.rounded_rectangle([x0, body_top, x1, y1], radius=0.18 * w, fill=255)
    shoulders = [
        (cx - neck_w / 2, y0 + 0.14 * h),
        (cx + neck_w / 2, y0 + 0.14 * h),
        (x1 - 0.04 * w, body_top + 0.06 * h),
        (x0 + 0.04 * w, body_top + 0.06 * h),
    ]
    mask.polygon(shoulders, fill=255)
    cap = [cx - neck_w / 2 - 1, y0, cx + neck_w / 2 + 1, y0 + 0.14 * h]
    details = [
        ("rectangle", cap, {"fill": _DARK_GREY}),
        ("rounded_rectangle", [x0, body_top, x1, y1], {"radius": 0.18 * w, "outline": outline, "width": lw}),
    ]
    return details, y0 + 0.64 * h


def _bag(mask, box: _Box, outline, lw: int) -> tuple[_Details, float]:
    x0, y0, x1, y1, w, h, _, _ = box
    teeth = 8  # the serrated top seal
    pts = [(x0 + 0.06 * w, y0 + 0.06 * h)]
    for k in range(1, teeth * 2):
        pts.append((x0 + 0.06 * w + k * (0.88 * w) / (teeth * 2), y0 + (0.0 if k % 2 else 0.06 * h)))
    pts += [(x1 - 0.06 * w, y0 + 0.06 * h), (x1, y1), (x0, y1)]
    mask.polygon(pts, fill=255)
    details = [
        (  # the seal's crease
            "line",
            [(x0 + 0.05 * w, y0 + 0.14 * h), (x1 - 0.05 * w, y0 + 0.14 * h)],
            {"fill": outline, "width": max(lw, 2)},
        ),
        ("polygon", pts, {"outline": outline, "width": lw}),
    ]
    return details, y0 + 0.56 * h


def _jar(mask, box: _Box, outline, lw: int) -> tuple[_Details, float]:
    x0, y0, x1, y1, w, h, _, _ = box
    lid_h = 0.26 * h
    mask.rounded_rectangle([x0, y0 + lid_h, x1, y1], radius=0.12 * w, fill=255)
    lid = [x0 - 0.02 * w, y0, x1 + 0.02 * w, y0 + lid_h]
    details = [("rounded_rectangle", lid, {"radius": 0.05 * w, "fill": _DARK_GREY})]
    for k in range(1, 12):  # the lid's ridges
        xx = x0 + k * w / 12
        ridge = [(xx, y0 + 0.15 * lid_h), (xx, y0 + 0.85 * lid_h)]
        details.append(("line", ridge, {"fill": (90, 92, 96), "width": lw}))
    details.append(
        ("rounded_rectangle", [x0, y0 + lid_h, x1, y1], {"radius": 0.12 * w, "outline": outline, "width": lw})
    )
    return details, y0 + lid_h + 0.5 * (h - lid_h)


def _battery(mask, box: _Box, outline, lw: int) -> tuple[_Details, float]:
    x0, y0, x1, y1, w, h, cx, _ = box
    nub_h = 0.07 * h
    body = [x0, y0 + nub_h, x1, y1]
    mask.rounded_rectangle(body, radius=0.12 * w, fill=255)
    terminal = [cx - 0.18 * w, y0, cx + 0.18 * w, y0 + nub_h + 1]
    band = [x0, y0 + nub_h + 0.1 * w, x1, y0 + nub_h + 0.2 * h]
    details = [
        ("rectangle", terminal, {"fill": _GREY}),
        ("rectangle", band, {"fill": (30, 30, 32)}),
        ("rounded_rectangle", body, {"radius": 0.12 * w, "outline": outline, "width": lw}),
    ]
    return details, y0 + 0.62 * h


def _can(mask, box: _Box, outline, lw: int) -> tuple[_Details, float]:
    x0, y0, x1, y1, w, h, _, _ = box
    rim = 0.1 * h
    body = [x0, y0 + 0.12 * h + rim / 2, x1, y1 - rim / 2]
    mask.rectangle(body, fill=255)
    mask.ellipse([x0, y1 - rim, x1, y1], fill=255)
    details = [
        (  # handle
            "arc",
            [x0 + 0.1 * w, y0, x1 - 0.1 * w, y0 + 0.3 * h + rim],
            {"start": 180, "end": 360, "fill": _DARK_GREY, "width": max(lw, 2)},
        ),
        (  # lid
            "ellipse",
            [x0, y0 + 0.12 * h, x1, y0 + 0.12 * h + rim],
            {"fill": _GREY, "outline": _DARK_GREY, "width": lw},
        ),
        ("line", [(x0, body[1]), (x0, body[3])], {"fill": outline, "width": lw}),
        ("line", [(x1, body[1]), (x1, body[3])], {"fill": outline, "width": lw}),
    ]
    return details, y0 + 0.6 * h


def _appliance(mask, box: _Box, outline, lw: int) -> tuple[_Details, float]:
    x0, y0, x1, y1, w, h, _, _ = box
    mask.rounded_rectangle([x0, y0, x1, y1], radius=0.08 * w, fill=255)
    panel = [x0 + 0.08 * w, y1 - 0.26 * h, x1 - 0.08 * w, y1 - 0.06 * h]
    details = [("rounded_rectangle", panel, {"radius": 0.03 * w, "fill": (40, 42, 46)})]
    r = 0.05 * min(w, h)
    py = (panel[1] + panel[3]) / 2
    for k, frac in enumerate((0.25, 0.5, 0.75)):  # two grey knobs and a red one
        px = panel[0] + frac * (panel[2] - panel[0])
        fill = (220, 60, 50) if k == 2 else (200, 202, 206)
        details.append(("ellipse", [px - r, py - r, px + r, py + r], {"fill": fill}))
    details.append(
        ("rounded_rectangle", [x0, y0, x1, y1], {"radius": 0.08 * w, "outline": outline, "width": lw})
    )
    return details, y0 + 0.38 * h


def _frame(mask, box: _Box, outline, lw: int) -> tuple[_Details, float]:
    x0, y0, x1, y1, w, h, _, cy = box
    mask.rectangle([x0, y0, x1, y1], fill=255)
    inset = 0.12 * min(w, h)
    details = [
        (  # the mount inside the frame
            "rectangle",
            [x0 + inset, y0 + inset, x1 - inset, y1 - inset],
            {"fill": (238, 234, 222), "outline": outline, "width": lw},
        ),
        ("rectangle", [x0, y0, x1, y1], {"outline": outline, "width": lw}),
    ]
    return details, cy


_SHAPE_DRAWERS = {
    "bottle": _bottle,
    "bag": _bag,
    "jar": _jar,
    "battery": _battery,
    "can": _can,
    "appliance": _appliance,
    "frame": _frame,
}
#: The shapes :func:`render_product` draws.
SHAPES = tuple(_SHAPE_DRAWERS)


# --------------------------------------------------------------------------------------------
# Finish and label
# --------------------------------------------------------------------------------------------


def _finished_surface(rgb, finish: str, box: _Box, canvas_size: int) -> np.ndarray:
    """The product's surface, lit across its width as its finish reflects light, as a (canvas_size,
    canvas_size, 3) uint8 array of which only the part under the silhouette is used."""
    u = (np.arange(canvas_size, dtype=np.float32) + 0.5 - box.x0) / max(box.x1 - box.x0, 1.0)
    u = np.clip(u, 0.0, 1.0)  # 0..1 across the product
    base = np.asarray(rgb, dtype=np.float32)
    if finish == "matte":
        shade = 1.0 - 0.10 * u
        light = np.zeros_like(u)
    elif finish == "glossy":
        shade = 1.0 - 0.18 * u
        light = 0.55 * np.exp(-(((u - 0.25) / 0.06) ** 2))
    else:  # metallic: banded reflections with a bright streak and dark edges
        shade = 0.62 + 0.38 * np.cos((u - 0.35) * math.pi * 1.6) ** 2
        shade = shade * (1.0 - 0.25 * np.abs(u - 0.5) * 2)
        light = 0.75 * np.exp(-(((u - 0.3) / 0.05) ** 2)) + 0.3 * np.exp(-(((u - 0.75) / 0.04) ** 2))
    row = base[None, :] * shade[:, None]
    row = row + (255.0 - row) * light[:, None]
    row = np.clip(row, 0, 255).astype(np.uint8)  # (canvas_size, 3)
    return np.broadcast_to(row[None, :, :], (canvas_size, canvas_size, 3))


@lru_cache(maxsize=64)
def font(size: int):
    """Pillow's bundled scalable font at `size` pixels (a fixed-size bitmap font before Pillow 10.1)."""
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: fixed-size bitmap font
        return ImageFont.load_default()


def _draw_label(draw, scene: ProductScene, centre, size: int, lw: int, draw_text: bool) -> list:
    """The printed label: a light sticker around `centre`, kept inside the canvas, with the prefix line (if
    any) above the value line, both centred. Returns each line's text and ink box, `(x0, y0, x1, y1)` pixels."""
    S = float(size)
    cx, cy = centre
    value_font = font(max(10, round(0.11 * S)))
    prefix_font = font(max(8, round(0.06 * S)))
    lines = [(scene.prefix, prefix_font)] if scene.prefix else []
    lines.append((scene.label, value_font))
    boxes = [draw.textbbox((0, 0), text, font=line_font) for text, line_font in lines]
    gap = max(1, round(0.015 * S))
    pad = max(2, round(0.03 * S))
    text_w = max(b[2] - b[0] for b in boxes)
    text_h = sum(b[3] - b[1] for b in boxes) + gap * (len(lines) - 1)
    sw, sh = text_w + 2 * pad, text_h + 2 * pad
    sx0 = min(max(cx - sw / 2, 1), S - 1 - sw)
    sy0 = min(max(cy - sh / 2, 1), S - 1 - sh)
    draw.rounded_rectangle(
        [sx0, sy0, sx0 + sw, sy0 + sh], radius=pad, fill=(252, 251, 246), outline=(70, 70, 70), width=lw
    )
    ty = sy0 + pad
    pieces = []
    for (text, line_font), b in zip(lines, boxes):
        tw = b[2] - b[0]
        if draw_text:
            draw.text((sx0 + (sw - tw) / 2 - b[0], ty - b[1]), text, font=line_font, fill=(20, 20, 24))
        pieces.append((text, (sx0 + (sw - tw) / 2, ty, sx0 + (sw + tw) / 2, ty + b[3] - b[1])))
        ty += (b[3] - b[1]) + gap
    return pieces


# --------------------------------------------------------------------------------------------
# Photographs
# --------------------------------------------------------------------------------------------


def _homography(source, target) -> np.ndarray:
    """The 3×3 projective map `H` with `target ~ H @ source` for four point pairs."""
    rows = []
    for (x, y), (u, v) in zip(source, target, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y, -u])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y, -v])
    _, _, vt = np.linalg.svd(np.asarray(rows, dtype=np.float64))
    matrix = vt[-1].reshape(3, 3)
    return matrix / matrix[2, 2]


def warp_points(homography: np.ndarray, points) -> np.ndarray:
    """`points` `(n, 2)` mapped by a 3×3 projective map (e.g. the one :func:`photograph` returns)."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    mapped = np.c_[points, np.ones(len(points))] @ homography.T
    return mapped[:, :2] / mapped[:, 2:3]


def photograph(
    picture, background, rng: np.random.Generator, cover: float, strength: float = 1.0
) -> tuple[Any, np.ndarray]:
    """Photograph a flat `picture` (an RGB PIL image, e.g. a package face) lying over `background`.

    The picture is scaled to `cover` of the background's width (its height kept inside the image), rotated by up
    to ±15°, its corners jittered by up to 8 % of its width (perspective) and placed near the centre; then the
    photograph gets a low-frequency gain field (uneven light), a specular highlight half of the time, Gaussian
    noise (σ 2–8) and a Gaussian blur of up to 1 pixel per 300. `strength` scales every degradation.

    Returns the photograph (an RGB PIL image the size of `background`) and the 3×3 projective map from picture
    pixels to photograph pixels (see :func:`warp_points`).
    """
    from PIL import Image, ImageFilter

    size = background.size[0]
    if background.size != (size, size):
        raise ValueError(f"the background must be square, got {background.size}")
    face_w, face_h = picture.size
    width = cover * size
    height = width * face_h / face_w
    if height > 0.98 * size:
        width, height = width * 0.98 * size / height, 0.98 * size
    angle = math.radians(rng.uniform(-15, 15) * strength)
    cos, sin = math.cos(angle), math.sin(angle)
    corners = np.array([[-width / 2, -height / 2], [width / 2, -height / 2], [width / 2, height / 2],
                        [-width / 2, height / 2]]) @ np.array([[cos, sin], [-sin, cos]])
    corners += rng.uniform(-0.08, 0.08, size=(4, 2)) * width * strength
    corners += [size / 2 + rng.uniform(-0.1, 0.1) * size, size / 2 + rng.uniform(-0.1, 0.1) * size]
    flat = [(0, 0), (face_w, 0), (face_w, face_h), (0, face_h)]
    to_picture = _homography(corners, flat)
    coefficients = tuple(to_picture.flatten()[:8])
    warped = picture.transform((size, size), Image.Transform.PERSPECTIVE, coefficients, Image.Resampling.BICUBIC)
    mask = Image.new("L", picture.size, 255).transform(
        (size, size), Image.Transform.PERSPECTIVE, coefficients, Image.Resampling.BILINEAR
    )
    pixels = np.asarray(Image.composite(warped, background, mask), np.float32)

    yy, xx = np.mgrid[0:size, 0:size] / size
    gx, gy = rng.uniform(-1, 1, 2)
    gain = 1.0 + strength * rng.uniform(0.15, 0.45) * (gx * (xx - 0.5) + gy * (yy - 0.5)) * 2
    gain *= rng.uniform(0.75, 1.15) ** strength
    pixels = pixels * gain[..., None]
    if rng.random() < 0.5:
        hx, hy, radius = rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8), rng.uniform(0.08, 0.25)
        highlight = np.exp(-(((xx - hx) ** 2 + (yy - hy) ** 2) / radius**2)) * rng.uniform(60, 140) * strength
        pixels = pixels + highlight[..., None]
    pixels = pixels + rng.normal(0, rng.uniform(2, 8) * strength, pixels.shape)
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    blur = rng.uniform(0.0, 1.0) * strength * size / 300
    if blur > 0.2:
        image = image.filter(ImageFilter.GaussianBlur(blur))
    return image, np.linalg.inv(to_picture)


def jpeg_bytes(image, quality: int) -> bytes:
    """`image` encoded as JPEG at `quality` (30–70 is what phone photos of labels look like after upload)."""
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=int(quality))
    return buf.getvalue()
