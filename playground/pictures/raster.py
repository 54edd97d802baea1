"""Server-rendered pictures of the live 2D views: a density, points, lines and arrows on one PNG.

No WebGL anywhere: a browser keeps about 16 WebGL contexts per page and drops the oldest
beyond that, and every plotly `Scattergl` held one, so charts vanished. A `Plane` draws on
a numpy RGB array (the density as coloured cells, points as small discs, lines with
Pillow), adds a frame with tick labels, and encodes a PNG of a few kB once per new
visuals; `st.image` then sends those bytes. The plot area is exactly the grid's box:
fixed axes, no autoscaling by outliers, and points outside it are pinned to its edge.

The PNGs are written here (`png`), from the pixel arrays as they are: Pillow's `Image.save` spent
as long on its own machinery as on compressing a small picture.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field
from functools import cache, lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

SIZE = 320  # pixels of the plot area's side
PAD_LEFT, PAD_BOTTOM, PAD = 34, 18, 6  # room for the tick labels, and a thin white border elsewhere
RAMP = 200  # palette entries 0..RAMP-1 hold the colour scale, the rest the inks (palette PNGs encode ~4x faster)
WHITE, FRAME, TEXT, NAN = "#ffffff", "#787878", "#3c3c3c", "#ebebeb"  # NAN: cells without a value (D* off the mass)
VIRIDIS = ("#440154", "#482878", "#3e4989", "#31688e", "#26828e", "#1f9e89", "#35b779", "#6ece58", "#b5de2b",
           "#fde725")
DIVERGING = ("#2166ac", "#67a9cf", "#d1e5f0", "#f7f7f7", "#fddbc7", "#ef8a62", "#b2182b")  # blue, white, red
# A critic's scale, pale so the points on it stay visible: purple where it calls x fake, green where real (GAN Lab).
CRITIC = ("#b58fc2", "#d7c1de", "#f4eef5", "#e9f4e6", "#bfe3b8", "#8fcf86")


def rgb(colour: str) -> tuple[int, int, int]:
    return tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))


@cache
def ramp(stops: tuple[str, ...]) -> tuple[int, ...]:
    """RAMP colours interpolating the hex stops evenly, flattened as Pillow's palette wants them."""
    knots = np.array([rgb(c) for c in stops], dtype=np.float64)
    t = np.linspace(0, len(stops) - 1, RAMP)
    table = np.stack([np.interp(t, np.arange(len(stops)), knots[:, c]) for c in range(3)], 1)
    return tuple(np.rint(table).astype(int).ravel())


def levels(values: np.ndarray, lo: float | None = None, hi: float | None = None) -> np.ndarray:
    """Values as colour-scale indices 0..RAMP-1 between lo and hi (default: their finite range); NaN -> -1."""
    finite = np.isfinite(values)
    if not finite.any():
        return np.full(values.shape, -1, np.int16)
    lo = float(values[finite].min()) if lo is None else lo
    hi = float(values[finite].max()) if hi is None else hi
    scaled = np.nan_to_num((values - lo) / (hi - lo if hi > lo else 1.0), nan=0.0)
    return np.where(finite, np.clip(scaled * (RAMP - 1), 0, RAMP - 1).astype(np.int16), -1)


@cache
def font() -> ImageFont.ImageFont:
    return ImageFont.load_default(size=10)


@cache
def disc(radius: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel offsets of a filled disc."""
    dy, dx = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    inside = dx**2 + dy**2 <= radius**2 + radius
    return dy[inside], dx[inside]


def ticks(lo: float, hi: float, n: int = 5) -> np.ndarray:
    """About n round tick values inside [lo, hi] (steps of 1, 2 or 5 times a power of ten)."""
    raw = (hi - lo) / n
    power = 10 ** np.floor(np.log10(raw))
    step = power * min(m for m in (1, 2, 5, 10) if m * power >= raw)
    return np.arange(np.ceil(lo / step) * step, hi + 1e-9 * step, step)


@dataclass
class Plane:
    """The box [x0, x1] x [y0, y1] drawn on a size x size plot area (y up), white until painted.

    Pixels are palette indices: the colour scale's, then one per ink as it is first used.
    """

    x: tuple[float, float]
    y: tuple[float, float]
    size: int = SIZE
    stops: tuple[str, ...] = VIRIDIS
    pixels: np.ndarray = field(init=False)
    inks: dict[str, int] = field(init=False, default_factory=dict)

    def __post_init__(self):
        self.pixels = np.full((self.size, self.size), self.ink(WHITE), np.uint8)

    @classmethod
    def of(cls, gx: np.ndarray, gy: np.ndarray, size: int = SIZE) -> Plane:
        """The plane of a grid's axis ticks."""
        return cls((float(gx[0]), float(gx[-1])), (float(gy[0]), float(gy[-1])), size)

    def ink(self, colour: str) -> int:
        """The palette index of a hex colour."""
        return self.inks.setdefault(colour, RAMP + len(self.inks))

    def to_pixels(self, xy: np.ndarray) -> np.ndarray:
        """(n, 2) data coordinates -> (n, 2) float pixel (column, row), row 0 at the top; NaN stays NaN."""
        col = (xy[:, 0] - self.x[0]) / (self.x[1] - self.x[0]) * (self.size - 1)
        row = (self.y[1] - xy[:, 1]) / (self.y[1] - self.y[0]) * (self.size - 1)
        return np.stack([col, row], 1)

    def density(self, values: np.ndarray, stops: tuple[str, ...] = VIRIDIS, lo=None, hi=None) -> Plane:
        """(G*G,) values on the grid (rows of constant y, y increasing) as coloured cells over the whole box."""
        g = int(round(np.sqrt(values.size)))
        index = levels(values.reshape(g, g)[::-1], lo, hi)
        cells = np.where(index < 0, self.ink(NAN), index).astype(np.uint8)
        self.stops = stops
        upscale = nearest(g, self.size)
        self.pixels = cells.take(upscale, 0).take(upscale, 1)
        return self

    def points(self, xy: np.ndarray, colour: str, radius: int = 1) -> Plane:
        """Small discs; points outside the box are pinned to its edge, so none disappears."""
        p = self.to_pixels(np.asarray(xy, np.float64))
        p = np.rint(np.clip(p[np.isfinite(p).all(1)], 0, self.size - 1)).astype(np.int64)
        dy, dx = disc(radius)
        rows = np.clip(p[:, 1, None] + dy, 0, self.size - 1)
        cols = np.clip(p[:, 0, None] + dx, 0, self.size - 1)
        self.pixels[rows, cols] = self.ink(colour)
        return self

    def lines(self, polylines, colour: str, width: int = 1) -> Plane:
        """Each (m, 2) polyline as connected segments (clipped at the border)."""
        image, ink = Image.fromarray(self.pixels), self.ink(colour)
        draw = ImageDraw.Draw(image)
        for p in self.polyline_pixels(polylines):
            if len(p) > 1:
                draw.line(p.ravel().tolist(), fill=ink, width=width)
        self.pixels = np.asarray(image).copy()
        return self

    def polyline_pixels(self, polylines) -> list[np.ndarray]:
        """Each polyline in pixels without its NaN vertices, clamped near the plot area: converted in one go
        when they are all of one length (an ellipse per point, a grid's rows), one by one otherwise."""
        try:
            stacked = np.asarray(polylines, np.float64)
        except ValueError:  # ragged
            stacked = None
        if stacked is None or stacked.ndim != 3 or stacked.shape[-1] != 2:
            return [self.polyline_pixels(np.asarray(line, np.float64)[None])[0] for line in polylines]
        p = np.clip(self.to_pixels(stacked.reshape(-1, 2)).reshape(stacked.shape), -self.size, 2 * self.size)
        finite = np.isfinite(p).all(-1)
        return list(p) if finite.all() else [line[keep] for line, keep in zip(p, finite)]

    def arrows(self, tail: np.ndarray, tip: np.ndarray, colour: str = "#000000") -> Plane:
        """Segments tail -> tip with a small head at the tip."""
        a, b = self.to_pixels(tail), self.to_pixels(tip)
        d = b - a
        length = np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-9)
        u, n = d / length, np.stack([-d[:, 1], d[:, 0]], 1) / length
        head = np.minimum(length, 6.0)
        left, right = b - u * head + n * head * 0.5, b - u * head - n * head * 0.5
        image, ink = Image.fromarray(self.pixels), self.ink(colour)
        draw = ImageDraw.Draw(image)
        for p, q, l_, r in zip(a.tolist(), b.tolist(), left.tolist(), right.tolist()):
            draw.line(p + q, fill=ink, width=1)
            draw.polygon(q + l_ + r, fill=ink)
        self.pixels = np.asarray(image).copy()
        return self

    def framed(self) -> Raster:
        """The plot area in its frame (cached per box: the tick labels cost more than the rest), palette indices."""
        out = frame(self.x, self.y, self.size, self.ink(WHITE), self.ink(FRAME), self.ink(TEXT)).copy()
        out[PAD : PAD + self.size, PAD_LEFT : PAD_LEFT + self.size] = self.pixels
        inks = sorted(self.inks.items(), key=lambda item: item[1])
        return Raster(out, bytes(ramp(self.stops)) + bytes(c for colour, _ in inks for c in rgb(colour)))

    def png(self) -> bytes:
        return png(self.framed())


@dataclass(frozen=True)
class Raster:
    """A picture as 8-bit palette indices and its palette (RGB triples)."""

    pixels: np.ndarray
    palette: bytes

    def rgb(self) -> np.ndarray:
        return np.frombuffer(self.palette, np.uint8).reshape(-1, 3)[self.pixels]


def nearest(cells: int, size: int) -> np.ndarray:
    """For each of `size` pixels the cell whose span holds its centre (nearest-neighbour upscaling)."""
    return ((np.arange(size) + 0.5) * cells / size).astype(np.intp)


@lru_cache(maxsize=64)
def frame(x: tuple[float, float], y: tuple[float, float], size: int, white: int, line: int, text: int) -> np.ndarray:
    """A blank palette picture with the plot area's frame and tick labels on the left and bottom (read-only)."""
    out = Image.new("P", (PAD_LEFT + size + PAD, PAD + size + PAD_BOTTOM), white)
    draw = ImageDraw.Draw(out)
    draw.rectangle([PAD_LEFT - 1, PAD - 1, PAD_LEFT + size, PAD + size], outline=line)
    for v in ticks(*x):
        c = PAD_LEFT + (v - x[0]) / (x[1] - x[0]) * (size - 1)
        draw.line([(c, PAD + size), (c, PAD + size + 3)], fill=line)
        draw.text((c, PAD + size + 4), f"{v:g}", fill=text, font=font(), anchor="mt")
    for v in ticks(*y):
        r = PAD + (y[1] - v) / (y[1] - y[0]) * (size - 1)
        draw.line([(PAD_LEFT - 4, r), (PAD_LEFT - 1, r)], fill=line)
        draw.text((PAD_LEFT - 6, r), f"{v:g}", fill=text, font=font(), anchor="rm")
    pixels = np.asarray(out).copy()
    pixels.flags.writeable = False
    return pixels


def side_by_side(pictures: list[Raster]) -> Raster | np.ndarray:
    """Pictures of one height in one row: a palette picture when they share one palette (planes drawn alike),
    else RGB pixels."""
    if all(p.palette == pictures[0].palette for p in pictures):
        return Raster(np.hstack([p.pixels for p in pictures]), pictures[0].palette)
    return np.hstack([p.rgb() for p in pictures])


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
COLOUR_TYPES = {"grey": 0, "rgb": 2, "palette": 3}  # the PNG header's colour type of 8-bit pixels


def png(picture: Raster | np.ndarray) -> bytes:
    """PNG bytes of a palette picture, or of (H, W) grey or (H, W, 3) RGB uint8 pixels.

    Every row but the first is filtered "Up" (each byte minus the one above, PNG spec 9.2), so a row like
    the one above it (an upscaled cell, blank space) is zeros, and zlib's run-length strategy at level 1
    compresses that in about half the time plain rows take at level 1, to fewer bytes.
    """
    pixels, palette = (picture.pixels, picture.palette) if isinstance(picture, Raster) else (picture, None)
    height, width = pixels.shape[:2]
    kind = "palette" if palette is not None else "rgb" if pixels.ndim == 3 else "grey"
    flat = pixels.reshape(height, -1)
    rows = np.empty((height, 1 + flat.shape[1]), np.uint8)  # each row: its filter type, then its bytes
    rows[0, 0], rows[0, 1:], rows[1:, 0] = 0, flat[0], 2
    np.subtract(flat[1:], flat[:-1], out=rows[1:, 1:])  # modulo 256, as the filter wants
    deflate = zlib.compressobj(1, zlib.DEFLATED, 15, 8, zlib.Z_RLE)
    chunks = [(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, COLOUR_TYPES[kind], 0, 0, 0)),
              *([(b"PLTE", palette)] if palette is not None else []),
              (b"IDAT", deflate.compress(rows.data) + deflate.flush()), (b"IEND", b"")]
    return PNG_SIGNATURE + b"".join(struct.pack(">I", len(body)) + tag + body
                                    + struct.pack(">I", zlib.crc32(tag + body)) for tag, body in chunks)


def grey(picture: np.ndarray, scale: int) -> bytes:
    """A greyscale picture in [0, 1] (ink 1) as dark ink on white, each pixel a scale x scale block (crisp digits)."""
    ink = (255 * (1 - np.clip(picture, 0, 1))).astype(np.uint8)
    return png(np.repeat(np.repeat(ink, scale, 0), scale, 1))
