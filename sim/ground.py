"""The simulated city's ground: which surface lies where (paving, asphalt, grass...), what it looks like to the RGB
camera and how warm it is to the thermal camera - one raster, two renderings.

Pure (numpy + Pillow, no I/O but an orthophoto read by path). The map is a north-up raster of `cell_m` metres per
cell over the scenario's extent, in the map's local frame (metres east/north of the map origin): row 0 is the
northern edge, column 0 the western one. Surfaces are painted in order (later areas over earlier ones) over the
background surface. The RGB texture is procedural (each surface a seeded, tileable pattern) unless the scenario
names an orthophoto, which then replaces it where it covers the map (the surfaces still set the temperatures).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter


@dataclass(frozen=True)
class Surface:
    rgb: tuple[int, int, int]     # mean colour seen from above
    temp_c: float                 # surface temperature on a sunny day at 25 °C air (the thermal camera's ground)
    pattern: str                  # "tiles", "grain", "patches"


SURFACES: dict[str, Surface] = {
    "paving": Surface((176, 170, 158), 33.0, "tiles"),
    "asphalt": Surface((86, 87, 90), 38.0, "grain"),
    "concrete": Surface((146, 145, 140), 32.0, "grain"),
    "grass": Surface((86, 128, 62), 26.0, "patches"),
    "dirt": Surface((152, 124, 94), 30.0, "patches"),
    "roof": Surface((150, 92, 78), 36.0, "grain"),
    "water": Surface((62, 92, 110), 24.0, "grain"),
    "trees": Surface((48, 86, 44), 25.0, "patches"),
}
PATCH_CELLS = 480                 # the tileable pattern's side, in cells (a multiple of the paving tile's 6)
TILE_M = 0.6                      # paving tile size
OUTSIDE_RGB = (120, 122, 118)     # beyond the map


@dataclass(frozen=True)
class Area:
    """A polygon of one surface (vertices in metres east/north of the map origin)."""
    surface: str
    polygon_en: tuple[tuple[float, float], ...]
    rgb: tuple[int, int, int] | None = None     # another colour than the surface's own (a roof, say)


@dataclass(frozen=True)
class Orthophoto:
    """A local aerial image: its file, where its north-west corner lies (metres east/north of the map origin) and
    how many metres one of its pixels covers."""
    path: Path
    north_west_en: tuple[float, float]
    m_per_px: float


@dataclass(frozen=True, eq=False)
class GroundMap:
    west_m: float                 # east coordinate of the raster's western edge
    north_m: float                # north coordinate of its northern edge
    cell_m: float
    surfaces: tuple[str, ...]     # class index -> surface name
    classes: np.ndarray           # (rows, cols) uint8 indices into `surfaces`
    texture: Image.Image          # RGB, same raster

    @property
    def shape(self) -> tuple[int, int]:
        return self.classes.shape

    def surface_at(self, east_m: float, north_m: float) -> str | None:
        row = int(np.floor((self.north_m - north_m) / self.cell_m))
        col = int(np.floor((east_m - self.west_m) / self.cell_m))
        if 0 <= row < self.classes.shape[0] and 0 <= col < self.classes.shape[1]:
            return self.surfaces[int(self.classes[row, col])]
        return None

    def temperatures_c(self, cell_m: float = 0.5) -> tuple[np.ndarray, float]:
        """The surfaces' temperatures on a coarser raster (same north-west corner): (°C array, its cell size)."""
        step = max(1, int(round(cell_m / self.cell_m)))
        table = np.array([SURFACES[name].temp_c for name in self.surfaces], dtype=np.float32)
        return table[self.classes[::step, ::step]], step * self.cell_m


def _smooth_noise(rng: np.random.Generator, size: int, scale_cells: int) -> np.ndarray:
    """Tileable low-frequency noise in [-1, 1]: random values on a coarse grid, wrapped and resized."""
    n = max(2, size // scale_cells)
    coarse = rng.uniform(-1.0, 1.0, (n, n)).astype(np.float32)
    wrapped = np.pad(coarse, ((0, 1), (0, 1)), mode="wrap")
    big = Image.fromarray(wrapped, "F").resize((size + size // n, size + size // n), Image.BICUBIC)
    return np.asarray(big, dtype=np.float32)[:size, :size].clip(-1.0, 1.0)


def _pattern(surface: Surface, rgb: tuple[int, int, int], cell_m: float, seed: int) -> np.ndarray:
    """A PATCH_CELLS square, tileable RGB pattern (uint8) of one surface."""
    rng = np.random.default_rng(seed)
    size = PATCH_CELLS
    base = np.array(rgb, dtype=np.float32)
    fine = rng.normal(0.0, 1.0, (size, size)).astype(np.float32)
    out = np.broadcast_to(base, (size, size, 3)).copy()
    if surface.pattern == "tiles":
        tile = max(2, int(round(TILE_M / cell_m)))
        yy, xx = np.mgrid[0:size, 0:size]
        ty, tx = yy // tile, xx // tile
        shade = rng.uniform(-9.0, 9.0, (size // tile + 2, size // tile + 2)).astype(np.float32)[ty, tx]
        joint = ((yy % tile) == 0) | ((xx % tile) == 0)
        out += (shade + 4.0 * fine - 30.0 * joint)[..., None]
    elif surface.pattern == "patches":
        low = _smooth_noise(rng, size, 40)
        mid = _smooth_noise(rng, size, 8)
        out *= (1.0 + 0.14 * low + 0.08 * mid)[..., None]
        out += (7.0 * fine)[..., None] * np.array([0.8, 1.0, 0.7], dtype=np.float32)
    else:   # grain
        low = _smooth_noise(rng, size, 60)
        out += (6.0 * low + 6.0 * fine)[..., None]
    return out.clip(0, 255).astype(np.uint8)


def build_ground(extent_en: tuple[float, float, float, float], areas: tuple[Area, ...], background: str = "concrete",
                 cell_m: float = 0.1, seed: int = 0, orthophoto: Orthophoto | None = None) -> GroundMap:
    """The ground of the map extent (west, south, east, north metres): background, then each area in order."""
    west, south, east, north = extent_en
    cols = int(np.ceil((east - west) / cell_m))
    rows = int(np.ceil((north - south) / cell_m))
    names = [background] + sorted({a.surface for a in areas} - {background})
    index = {name: i for i, name in enumerate(names)}
    classes = np.zeros((rows, cols), np.uint8)
    rgb = np.empty((rows, cols, 3), np.uint8)

    def pattern_over(pattern: np.ndarray, r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
        return pattern[np.ix_(np.arange(r0, r1) % PATCH_CELLS, np.arange(c0, c1) % PATCH_CELLS)]

    background_pattern = _pattern(SURFACES[background], SURFACES[background].rgb, cell_m, seed * 1000)
    for r0 in range(0, rows, PATCH_CELLS):
        r1 = min(rows, r0 + PATCH_CELLS)
        for c0 in range(0, cols, PATCH_CELLS):
            c1 = min(cols, c0 + PATCH_CELLS)
            rgb[r0:r1, c0:c1] = background_pattern[: r1 - r0, : c1 - c0]
    for k, area in enumerate(areas, start=1):
        xs = [(e - west) / cell_m for e, _ in area.polygon_en]
        ys = [(north - n) / cell_m for _, n in area.polygon_en]
        c0, c1 = max(0, int(np.floor(min(xs)))), min(cols, int(np.ceil(max(xs))) + 1)
        r0, r1 = max(0, int(np.floor(min(ys)))), min(rows, int(np.ceil(max(ys))) + 1)
        if c1 <= c0 or r1 <= r0:
            continue
        mask_image = Image.new("L", (c1 - c0, r1 - r0), 0)
        ImageDraw.Draw(mask_image).polygon([(x - c0, y - r0) for x, y in zip(xs, ys)], fill=1)
        mask = np.asarray(mask_image, dtype=bool)
        surface = SURFACES[area.surface]
        pattern = _pattern(surface, area.rgb or surface.rgb, cell_m, seed * 1000 + k)
        region = rgb[r0:r1, c0:c1]
        region[mask] = pattern_over(pattern, r0, r1, c0, c1)[mask]
        classes[r0:r1, c0:c1][mask] = index[area.surface]
    texture = Image.fromarray(rgb, "RGB")
    # soften the cell edges a little: the camera sees the ground through a lens, not as hard cells
    texture = texture.filter(ImageFilter.GaussianBlur(0.6))
    if orthophoto is not None:
        texture = _with_orthophoto(texture, orthophoto, west, north, cell_m)
    return GroundMap(west, north, cell_m, tuple(names), classes, texture)


def _with_orthophoto(texture: Image.Image, photo: Orthophoto, west: float, north: float, cell_m: float) -> Image.Image:
    with Image.open(photo.path) as im:
        image = im.convert("RGB")
    scale = photo.m_per_px / cell_m
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    image = image.resize(size, Image.BILINEAR)
    x = round((photo.north_west_en[0] - west) / cell_m)
    y = round((north - photo.north_west_en[1]) / cell_m)
    out = texture.copy()
    out.paste(image, (x, y))
    return out
