"""Deterministic synthetic room photos with ground-truth floor masks, for the room-scan example.

Each room is rendered through a pinhole camera looking down the length of a box-shaped room
(one-point perspective): a textured floor (planks or tiles) under uneven lighting, walls with
skirting boards, a ceiling, a window, and furniture that stands on the floor and hides part of it.
The ground truth is the floor that stays visible. Photos are stored the way phones store them:
raw pixels rotated, plus the EXIF Orientation that turns them upright again, so a consumer that
ignores EXIF gets masks that do not line up. The folder gets a corpus manifest (corpus.toml)
naming the seed, every file's hash and the licence: CC0, since every pixel is made here.

    python -m examples.room_scan.corpus OUT_DIR --count 8 --seed 0 [--version 1]
"""

from __future__ import annotations

import argparse
import colorsys
import json
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import ExifTags, Image

from rainbow.errors import UserError
from rainbow.evaluate import corpus as rainbow_corpus

SIZES: tuple[tuple[int, int], ...] = ((640, 480), (800, 600), (960, 720), (1024, 768))
ORIENTATIONS: tuple[int, ...] = (1, 3, 6, 8)
CAMERAS: tuple[tuple[str, str], ...] = (("Apple", "iPhone 13"), ("Google", "Pixel 7"))
# Raw pixels are stored rotated by the inverse of what a viewer applies for each EXIF value.
STORE_ROTATED: dict[int, Image.Transpose | None] = {
    1: None,
    3: Image.Transpose.ROTATE_180,
    6: Image.Transpose.ROTATE_90,
    8: Image.Transpose.ROTATE_270,
}
TEXTURE_PX_PER_M = 200
# A colour closer than this (CIE76 delta E) to the floor would make the floor ambiguous even to
# a person; real rooms keep at least this much contrast between floor, walls and furniture.
MIN_CONTRAST = 22.0

Bgr = tuple[float, float, float]
Point = tuple[float, float, float]


@dataclass(frozen=True)
class Camera:
    """A level pinhole camera at (0, eye_height, 0) looking along +z; y is up, x is right."""

    width: int
    height: int
    focal: float
    cx: float
    cy: float
    eye_height: float

    def project(self, point: Point) -> tuple[float, float]:
        x, y, z = point
        return self.cx + self.focal * x / z, self.cy + self.focal * (self.eye_height - y) / z

    def polygon(self, points: Sequence[Point]) -> np.ndarray:
        """Image polygon of a world polygon, in the fixed-point form cv2.fillPoly wants."""
        projected = [self.project(p) for p in points]
        return np.round(np.array(projected) * 16).astype(np.int32)

    def floor_homography(self) -> np.ndarray:
        """Maps homogeneous floor coordinates (x, z, 1) to homogeneous image coordinates."""
        f, h = self.focal, self.eye_height
        return np.array([[f, self.cx, 0.0], [0.0, self.cy, f * h], [0.0, 1.0, 0.0]])

    def nearest_visible_depth(self) -> float:
        """Depth of the floor seen by the bottom image row."""
        return self.focal * self.eye_height / (self.height - self.cy)


@dataclass(frozen=True)
class RoomBox:
    """The room's interior: x in [left, right], floor to ceiling, back wall at z = depth."""

    left: float
    right: float
    depth: float
    ceiling: float


@dataclass(frozen=True)
class Furniture:
    """An axis-aligned box standing on the floor (a rug is a very flat one)."""

    x0: float
    x1: float
    z0: float
    z1: float
    height: float
    colour: Bgr
    border: Bgr | None = None  # rugs have a border in a second colour

    def overlaps(self, other: Furniture) -> bool:
        """Whether the two footprints intersect, which solid furniture cannot do."""
        apart_x = self.x1 <= other.x0 or other.x1 <= self.x0
        return not (apart_x or self.z1 <= other.z0 or other.z1 <= self.z0)


@dataclass(frozen=True)
class Room:
    """An upright rendered photo (BGR) and its visible-floor mask (0/255)."""

    photo: np.ndarray
    floor: np.ndarray


def horizontal_quad(x0: float, x1: float, z0: float, z1: float, y: float) -> list[Point]:
    """A rectangle parallel to the floor at height ``y``."""
    return [(x0, y, z0), (x1, y, z0), (x1, y, z1), (x0, y, z1)]


def vertical_quad(
    start: tuple[float, float], end: tuple[float, float], bottom: float, top: float
) -> list[Point]:
    """An upright rectangle standing on the floor line from ``start`` to ``end`` (x, z pairs)."""
    (x0, z0), (x1, z1) = start, end
    return [(x0, bottom, z0), (x1, bottom, z1), (x1, top, z1), (x0, top, z0)]


class Canvas:
    """Paints world polygons into the photo and keeps the region masks in step with it."""

    SHIFT = 4  # polygons carry 4 fractional bits so anti-aliased edges land where the mask does

    def __init__(self, camera: Camera) -> None:
        self.camera = camera
        self.photo = np.zeros((camera.height, camera.width, 3), np.float32)
        self.floor = np.zeros((camera.height, camera.width), np.uint8)
        self.occluded = np.zeros_like(self.floor)

    def fill(self, points: Sequence[Point], colour: Bgr, occludes_floor: bool = False) -> None:
        polygon = [self.camera.polygon(points)]
        cv2.fillPoly(self.photo, polygon, colour, cv2.LINE_AA, self.SHIFT)
        if occludes_floor:
            cv2.fillPoly(self.occluded, polygon, 255, cv2.LINE_8, self.SHIFT)

    def fill_floor(self, points: Sequence[Point]) -> None:
        cv2.fillPoly(self.floor, [self.camera.polygon(points)], 255, cv2.LINE_8, self.SHIFT)

    def visible_floor(self) -> np.ndarray:
        return cv2.bitwise_and(self.floor, cv2.bitwise_not(self.occluded))


def delta_e(a: Bgr, b: Bgr) -> float:
    """CIE76 colour difference of two 0..255 BGR colours."""
    pair = np.array([[a, b]], np.float32) / 255.0
    lab = cv2.cvtColor(pair, cv2.COLOR_BGR2Lab)[0]
    return float(np.linalg.norm(lab[0] - lab[1]))


def scaled(colour: Bgr, factor: float, lift: float = 0.0) -> Bgr:
    """``colour`` made lighter or darker, as a surface turned towards or away from the light."""
    blue, green, red = (min(channel * factor + lift, 255.0) for channel in colour)
    return blue, green, red


def hsv_colour(hue: float, saturation: float, value: float) -> Bgr:
    red, green, blue = colorsys.hsv_to_rgb(hue % 1.0, saturation, value)
    return blue * 255.0, green * 255.0, red * 255.0


def contrasting(sample: Callable[[], Bgr], avoid: Bgr) -> Bgr:
    """A colour from ``sample`` that a person would not confuse with ``avoid``."""
    while True:
        colour = sample()
        if delta_e(colour, avoid) >= MIN_CONTRAST:
            return colour


def wall_colour(rng: np.random.Generator) -> Bgr:
    return hsv_colour(rng.random(), rng.uniform(0.05, 0.45), rng.uniform(0.55, 0.95))


def furniture_colour(rng: np.random.Generator) -> Bgr:
    return hsv_colour(rng.random(), rng.uniform(0.1, 0.8), rng.uniform(0.15, 0.9))


def skirting(rng: np.random.Generator) -> Bgr:
    """Painted white or stained dark, so one of the two always stands out from the floor."""
    value = rng.uniform(0.85, 1.0) if rng.random() < 0.5 else rng.uniform(0.12, 0.3)
    return hsv_colour(0.08, rng.uniform(0.0, 0.3), value)


def floor_colour(rng: np.random.Generator, planks: bool) -> Bgr:
    if planks:
        return hsv_colour(rng.uniform(0.05, 0.1), rng.uniform(0.35, 0.7), rng.uniform(0.35, 0.8))
    if rng.random() < 0.5:
        return hsv_colour(rng.uniform(0.02, 0.06), rng.uniform(0.45, 0.7), rng.uniform(0.5, 0.75))
    return hsv_colour(rng.uniform(0.05, 0.15), rng.uniform(0.0, 0.2), rng.uniform(0.5, 0.9))


def smooth_noise(
    rng: np.random.Generator, shape: tuple[int, int], cells: tuple[int, int]
) -> np.ndarray:
    """Zero-mean noise of unit scale that varies over about ``cells`` blobs per axis."""
    coarse = rng.normal(0.0, 1.0, (max(cells[0], 2), max(cells[1], 2))).astype(np.float32)
    return cv2.resize(coarse, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC)


def plank_texture(rng: np.random.Generator, shape: tuple[int, int], colour: Bgr) -> np.ndarray:
    """Boards running away from the camera with staggered joints, tone variation and grain."""
    rows, cols = shape
    plank_px = rng.uniform(0.1, 0.22) * TEXTURE_PX_PER_M
    board_px = rng.uniform(0.8, 1.6) * TEXTURE_PX_PER_M
    plank = (np.arange(cols) // plank_px).astype(np.int64)
    offsets = rng.uniform(0.0, board_px, plank.max() + 1)
    along = np.arange(rows)[:, None] + offsets[plank][None, :]
    board = (along // board_px).astype(np.int64)
    tone = rng.normal(1.0, 0.12, (plank.max() + 1, board.max() + 1)).astype(np.float32)
    # Grain: noise stretched along the boards, fine across them.
    grain = 1.0 + 0.1 * smooth_noise(rng, shape, (rows // 80, cols // 3))
    seam_across = (np.arange(cols) % plank_px) < 2.0
    seam_along = (along % board_px) < 2.0
    seams = np.where(seam_across[None, :] | seam_along, 0.6, 1.0).astype(np.float32)
    shade = tone[plank[None, :], board] * grain * seams
    return shade[..., None] * np.array(colour, np.float32)


def tile_texture(rng: np.random.Generator, shape: tuple[int, int], colour: Bgr) -> np.ndarray:
    """Square tiles with per-tile tone, a mottled glaze and grout lines."""
    rows, cols = shape
    tile_px = rng.uniform(0.3, 0.6) * TEXTURE_PX_PER_M
    grout_px = rng.uniform(2.0, 4.0)
    row_tile = (np.arange(rows) // tile_px).astype(np.int64)
    col_tile = (np.arange(cols) // tile_px).astype(np.int64)
    tone = rng.normal(1.0, 0.05, (row_tile.max() + 1, col_tile.max() + 1)).astype(np.float32)
    mottle = 1.0 + 0.05 * smooth_noise(rng, shape, (rows // 25, cols // 25))
    shade = tone[row_tile[:, None], col_tile[None, :]] * mottle
    texture = shade[..., None] * np.array(colour, np.float32)
    grout = ((np.arange(rows) % tile_px) < grout_px)[:, None] | (
        (np.arange(cols) % tile_px) < grout_px
    )[None, :]
    grout_colour = np.array(colour, np.float32) * rng.uniform(0.6, 0.8)
    texture[grout] = grout_colour
    return texture


def paint_floor(
    rng: np.random.Generator, canvas: Canvas, room: RoomBox, colour: Bgr, planks: bool
) -> None:
    """Warps a top-down floor texture through the camera onto the floor polygon."""
    camera = canvas.camera
    start = max(camera.nearest_visible_depth() - 0.2, 0.3)
    shape = (
        math.ceil((room.depth - start) * TEXTURE_PX_PER_M),
        math.ceil((room.right - room.left) * TEXTURE_PX_PER_M),
    )
    texture = plank_texture if planks else tile_texture
    top_down = texture(rng, shape, colour)
    metres = 1.0 / TEXTURE_PX_PER_M
    texture_to_floor = np.array([[metres, 0.0, room.left], [0.0, metres, start], [0.0, 0.0, 1.0]])
    warped = cv2.warpPerspective(
        top_down,
        camera.floor_homography() @ texture_to_floor,
        (camera.width, camera.height),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )
    canvas.fill_floor(horizontal_quad(room.left, room.right, start, room.depth, 0.0))
    inside = canvas.floor > 0
    canvas.photo[inside] = warped[inside]


def paint_shell(rng: np.random.Generator, canvas: Canvas, room: RoomBox, floor: Bgr) -> None:
    """Walls, ceiling, skirting boards and a window: all that is neither floor nor furniture."""
    near = 0.05  # behind the image plane's edges, so the walls reach out of the frame
    left, right, depth = room.left, room.right, room.depth
    sides = [((left, near), (left, depth)), ((right, near), (right, depth))]
    back = ((left, depth), (right, depth))
    side_colour = contrasting(lambda: wall_colour(rng), floor)
    for start, end in sides:
        canvas.fill(vertical_quad(start, end, 0.0, room.ceiling), side_colour)
    canvas.fill(
        vertical_quad(*back, 0.0, room.ceiling), contrasting(lambda: wall_colour(rng), floor)
    )
    ceiling = horizontal_quad(left, right, near, depth, room.ceiling)
    canvas.fill(ceiling, scaled(side_colour, 1.15, lift=20.0))
    skirting_colour = contrasting(lambda: skirting(rng), floor)
    board = rng.uniform(0.06, 0.12)
    for start, end in [*sides, back]:
        canvas.fill(vertical_quad(start, end, 0.0, board), skirting_colour)
    window_x = rng.uniform(left + 0.3, right - 1.5)
    window = vertical_quad((window_x, depth), (window_x + 1.2, depth), 1.0, 2.2)
    canvas.fill(window, hsv_colour(rng.uniform(0.5, 0.6), rng.uniform(0.1, 0.3), 0.97))


def place_furniture(
    rng: np.random.Generator, room: RoomBox, near: float, floor: Bgr
) -> list[Furniture]:
    """A rug, then a few boxes (sofas, cabinets, tables) farthest first: the painting order."""
    boxes: list[Furniture] = []
    for _ in range(rng.integers(2, 6)):
        box = place_box(rng, room, near, floor)
        if not any(box.overlaps(other) for other in boxes):
            boxes.append(box)
    boxes.sort(key=lambda box: box.z0, reverse=True)
    return [place_rug(rng, room, near, floor), *boxes]


def place_box(rng: np.random.Generator, room: RoomBox, near: float, floor: Bgr) -> Furniture:
    width, length = rng.uniform(0.5, 1.8), rng.uniform(0.4, 1.0)
    if rng.random() < 0.5:
        x0 = room.left if rng.random() < 0.5 else room.right - width
    else:
        x0 = rng.uniform(room.left, room.right - width)
    z0 = rng.uniform(near + 0.2, room.depth - length)
    colour = contrasting(lambda: furniture_colour(rng), floor)
    return Furniture(x0, x0 + width, z0, z0 + length, rng.uniform(0.4, 1.1), colour)


def place_rug(rng: np.random.Generator, room: RoomBox, near: float, floor: Bgr) -> Furniture:
    width, length = rng.uniform(1.0, 2.0), rng.uniform(0.8, 1.6)
    x0 = rng.uniform(room.left, room.right - width)
    z0 = rng.uniform(near + 0.4, room.depth - length)
    colour = contrasting(lambda: furniture_colour(rng), floor)
    border = contrasting(lambda: furniture_colour(rng), floor)
    return Furniture(x0, x0 + width, z0, z0 + length, 0.01, colour, border)


def paint_furniture(canvas: Canvas, piece: Furniture) -> None:
    """The faces of a box the camera can see, lit from above (tops bright, sides darker)."""
    x0, x1, z0, z1, height = piece.x0, piece.x1, piece.z0, piece.z1, piece.height
    if x0 > 0:
        left_side = vertical_quad((x0, z0), (x0, z1), 0.0, height)
        canvas.fill(left_side, scaled(piece.colour, 0.75), occludes_floor=True)
    if x1 < 0:
        right_side = vertical_quad((x1, z0), (x1, z1), 0.0, height)
        canvas.fill(right_side, scaled(piece.colour, 0.75), occludes_floor=True)
    front = vertical_quad((x0, z0), (x1, z0), 0.0, height)
    canvas.fill(front, scaled(piece.colour, 0.9), occludes_floor=True)
    top = horizontal_quad(x0, x1, z0, z1, height)
    if piece.border is None:
        canvas.fill(top, scaled(piece.colour, 1.15), occludes_floor=True)
        return
    inset = 0.12
    canvas.fill(top, piece.border, occludes_floor=True)
    inner = horizontal_quad(x0 + inset, x1 - inset, z0 + inset, z1 - inset, height)
    canvas.fill(inner, piece.colour, occludes_floor=True)


def contact_shadows(canvas: Canvas, pieces: Sequence[Furniture]) -> None:
    """Soft darkening of the floor around each piece's footprint, as ambient light gets blocked."""
    footprint = np.zeros(canvas.floor.shape, np.uint8)
    margin = 0.08
    for piece in pieces:
        quad = horizontal_quad(
            piece.x0 - margin, piece.x1 + margin, piece.z0 - margin, piece.z1 + margin, 0.0
        )
        cv2.fillPoly(footprint, [canvas.camera.polygon(quad)], 255, cv2.LINE_8, Canvas.SHIFT)
    sigma = canvas.camera.width / 80
    shadow = cv2.GaussianBlur(footprint.astype(np.float32) / 255.0, (0, 0), sigma)
    canvas.photo *= (1.0 - 0.4 * shadow)[..., None]


def lighting(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """A gain field: light falling off across the room plus one brighter pool under a lamp."""
    rows, cols = shape
    y, x = np.mgrid[0:rows, 0:cols].astype(np.float32)
    x, y = x / cols - 0.5, y / rows - 0.5
    gain = 1.0 + rng.uniform(-0.4, 0.4) * x + rng.uniform(-0.3, 0.3) * y
    lamp_x, lamp_y = rng.uniform(-0.4, 0.4), rng.uniform(-0.1, 0.4)
    spread = rng.uniform(0.15, 0.35)
    gain += rng.uniform(0.0, 0.4) * np.exp(-((x - lamp_x) ** 2 + (y - lamp_y) ** 2) / spread**2)
    return np.clip(gain, 0.55, 1.4)


def render_room(rng: np.random.Generator) -> Room:
    """One upright room photo and its ground truth, fully determined by ``rng``."""
    width, height = SIZES[rng.integers(len(SIZES))]
    camera = Camera(
        width=width,
        height=height,
        focal=width * rng.uniform(0.8, 1.1),
        cx=width * rng.uniform(0.4, 0.6),
        cy=height * rng.uniform(0.12, 0.3),
        eye_height=rng.uniform(1.3, 1.7),
    )
    room = RoomBox(
        left=-rng.uniform(1.2, 2.8),
        right=rng.uniform(1.2, 2.8),
        depth=camera.nearest_visible_depth() + rng.uniform(2.5, 6.5),
        ceiling=rng.uniform(2.5, 3.0),
    )
    planks = rng.random() < 0.6
    floor = floor_colour(rng, planks)
    canvas = Canvas(camera)
    paint_shell(rng, canvas, room, floor)
    paint_floor(rng, canvas, room, floor, planks)
    pieces = place_furniture(rng, room, camera.nearest_visible_depth(), floor)
    contact_shadows(canvas, pieces)
    for piece in pieces:
        paint_furniture(canvas, piece)
    canvas.photo *= lighting(rng, (height, width))[..., None]
    sensor_noise = rng.uniform(2.0, 6.0)
    canvas.photo += sensor_noise * rng.standard_normal(canvas.photo.shape, np.float32)
    photo = np.clip(canvas.photo, 0, 255).astype(np.uint8)
    return Room(photo=photo, floor=canvas.visible_floor())


def exif_for(index: int, orientation: int) -> Image.Exif:
    """EXIF like a phone writes: orientation always, GPS and camera on some units only."""
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    if index % 3 != 2:
        make, model = CAMERAS[index % len(CAMERAS)]
        exif[ExifTags.Base.Make] = make
        exif[ExifTags.Base.Model] = model
    if index % 2 == 0:
        gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
        gps[ExifTags.GPS.GPSLatitudeRef] = "N"
        gps[ExifTags.GPS.GPSLatitude] = (48.0, 51.0, float(index))
        gps[ExifTags.GPS.GPSLongitudeRef] = "E"
        gps[ExifTags.GPS.GPSLongitude] = (2.0, 21.0, float(index))
    return exif


def write_unit(folder: Path, room: Room, index: int, seed: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    orientation = ORIENTATIONS[(index + seed) % len(ORIENTATIONS)]
    upright = Image.fromarray(cv2.cvtColor(room.photo, cv2.COLOR_BGR2RGB))
    rotation = STORE_ROTATED[orientation]
    stored = upright.transpose(rotation) if rotation is not None else upright
    stored.save(folder / "photo.jpg", "JPEG", quality=90, exif=exif_for(index, orientation))
    cv2.imwrite(str(folder / "floor.png"), room.floor)
    unit = {"photo": "photo.jpg", "floor_truth": "floor.png"}
    (folder / "unit.json").write_text(json.dumps(unit, indent=2) + "\n")


def generate(out_dir: Path, count: int, seed: int = 0) -> list[Path]:
    """Writes ``count`` work units ``unit-000/``... under ``out_dir``; returns their folders."""
    folders = []
    for index in range(count):
        room = render_room(np.random.default_rng([seed, index]))
        folder = Path(out_dir) / f"unit-{index:03d}"
        write_unit(folder, room, index, seed)
        folders.append(folder)
    return folders


def write_manifest(out_dir: Path, count: int, seed: int, version: str = "1") -> Path:
    """Records the units in ``out_dir/corpus.toml``, over the manifest of an earlier run."""
    rainbow_corpus.init(
        Path(out_dir),
        name="room-scan",
        version=version,
        licence="CC0-1.0",
        use="production",
        description="Synthetic room photos (phone EXIF orientations) with their visible floor.",
        source=f"rendered by python -m examples.room_scan.corpus --count {count} --seed {seed}",
        made_by="examples.room_scan.corpus",
        force=True,
    )
    return Path(out_dir) / rainbow_corpus.MANIFEST


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path, help="folder to write unit-NNN/ sub-folders into")
    parser.add_argument("--count", type=int, default=8, help="number of work units")
    parser.add_argument("--seed", type=int, default=0, help="same seed, same bytes")
    parser.add_argument("--version", default="1", help="the corpus version its manifest records")
    args = parser.parse_args(argv)
    for folder in generate(args.out_dir, args.count, args.seed):
        print(folder / "unit.json")
    try:
        print(write_manifest(args.out_dir, args.count, args.seed, args.version))
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        if exc.hint:
            print(f"    hint: {exc.hint}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
