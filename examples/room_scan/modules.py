"""Room-scan modules: thin Rainbow wrappers around :mod:`examples.room_scan.vision`.

Each module reads its input assets, calls one vision function, writes its outputs as new assets
and reports how long the work took. Inputs that can never work (an unreadable image, a mask from
another frame, bad parameters) raise ``rb.PermanentError`` so no retries are wasted on them.
"""

import time
from collections.abc import Sequence
from pathlib import Path
from typing import TypedDict

import cv2
import numpy as np

import rainbow as rb
from examples.room_scan import vision


class Normalized(TypedDict):
    image: rb.Asset
    width: int
    height: int
    orientation: int


class Segmented(TypedDict):
    mask: rb.Asset


class Edges(TypedDict):
    edges: rb.Asset


class Masked(TypedDict):
    image: rb.Asset


class Scored(TypedDict):
    iou: float


class Fused(TypedDict):
    overlay: rb.Asset


def read(asset: rb.Asset, grayscale: bool = False) -> np.ndarray:
    """The asset's pixels; a file that is not an image fails the step for good."""
    try:
        return vision.read_image(asset.path, grayscale)
    except vision.UnreadableImageError as error:
        raise rb.PermanentError(str(error)) from error


def write(
    ctx: rb.Context, filename: str, image: np.ndarray, params: Sequence[int] = ()
) -> rb.Asset:
    """A new asset holding ``image``, encoded as ``filename``'s extension says."""
    asset = ctx.new_asset(filename)
    if not cv2.imwrite(str(asset.path), image, list(params)):
        # A full or vanished disk may recover, so this stays retryable.
        raise OSError(f"could not write {asset.path}")
    return asset


def elapsed_ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0


@rb.module(name="normalize", retries=2, timeout=60)
def normalize(ctx: rb.Context, photo: rb.Asset, max_side: int = 512) -> Normalized:
    """Turns a photo upright as its EXIF says and shrinks it, so later steps share one frame."""
    if max_side < 16:
        raise rb.PermanentError(f"max_side must be at least 16 pixels, got {max_side}")
    started = time.perf_counter()
    try:
        img, info = vision.load_upright(photo.path)
    except vision.UnreadableImageError as error:
        raise rb.PermanentError(str(error)) from error
    with ctx.timeout("resize", 5):
        img = vision.resize_max(img, max_side)
    # OpenCV writes PNG without EXIF, so the photo's GPS position goes no further than this step.
    out = write(ctx, "image.png", img)
    height, width = img.shape[:2]
    ctx.metric("normalize_ms", elapsed_ms(started), better="low", kind="timing")
    ctx.log.info(
        "normalized",
        width=width,
        height=height,
        orientation=info["orientation"],
        had_gps=info["has_gps"],
        camera=info["camera"],
    )
    return {"image": out, "width": width, "height": height, "orientation": info["orientation"]}


@rb.module(name="segment_floor", retries=2, timeout=60)
def segment_floor(ctx: rb.Context, image: rb.Asset, shrink: int = 0) -> Segmented:
    """Finds the visible floor and writes it as a 0/255 PNG mask; ``shrink`` erodes the mask by
    that many pixels (a knob for trying how much the floor's edge matters)."""
    if not 0 <= shrink <= 200:
        raise rb.PermanentError(f"shrink must be 0 to 200 pixels, got {shrink}")
    bgr = read(image)
    started = time.perf_counter()
    with ctx.timeout("segment", 30):
        mask = vision.shrink(vision.segment_floor(bgr), shrink)
    floor_fraction = np.count_nonzero(mask) / mask.size
    ctx.metric("segment_ms", elapsed_ms(started), better="low", kind="timing")
    # The segmenter fails by missing floor far more often than by inventing it, so a drop in the
    # share of the frame called floor is the regression to watch.
    ctx.metric("floor_fraction", floor_fraction, better="high")
    ctx.log.info("segmented", floor_fraction=round(floor_fraction, 4))
    return {"mask": write(ctx, "mask.png", mask)}


@rb.module(name="edges", retries=2, timeout=60)
def edges(ctx: rb.Context, image: rb.Asset, low: int = 50, high: int = 150) -> Edges:
    """Canny edges of an image, as a binary PGM that command modules in any language can read."""
    if not 0 <= low <= high:
        raise rb.PermanentError(f"need 0 <= low <= high for Canny thresholds, got {low}, {high}")
    started = time.perf_counter()
    edge_map = vision.detect_edges(read(image), low, high)
    # Binary (P5) explicitly: the edge_density C module reads nothing else.
    out = write(ctx, "edges.pgm", edge_map, (cv2.IMWRITE_PXM_BINARY, 1))
    ctx.metric("edges_ms", elapsed_ms(started), better="low", kind="timing")
    return {"edges": out}


@rb.module(name="mask_image", retries=2, timeout=60)
def mask_image(ctx: rb.Context, image: rb.Asset, mask: rb.Asset) -> Masked:
    """The image with everything outside the mask blacked out."""
    bgr, floor = read(image), read(mask, grayscale=True)
    try:
        masked = vision.mask_image(bgr, floor)
    except ValueError as error:
        raise rb.PermanentError(f"{mask.path} does not fit {image.path}: {error}") from error
    return {"image": write(ctx, "masked.png", masked)}


@rb.module(name="score_floor", retries=2, timeout=60)
def score_floor(ctx: rb.Context, mask: rb.Asset, truth: rb.Asset) -> Scored:
    """How well the mask matches the ground-truth floor (IoU; the truth is resized to fit)."""
    score = vision.iou(read(mask, grayscale=True), read(truth, grayscale=True))
    ctx.metric("floor_iou", score, better="high")
    ctx.log.info("scored", iou=round(score, 4))
    return {"iou": score}


@rb.module(name="fuse", retries=2, timeout=60)
def fuse(ctx: rb.Context, image: rb.Asset, mask: rb.Asset, edges: rb.Asset) -> Fused:
    """A picture for people to check a run at a glance: floor in green, edges in red."""
    bgr = read(image)
    floor, edge_map = read(mask, grayscale=True), read(edges, grayscale=True)
    started = time.perf_counter()
    try:
        picture = vision.overlay(bgr, floor, edge_map)
    except ValueError as error:
        raise rb.PermanentError(f"inputs of fuse are different sizes: {error}") from error
    out = write(ctx, "overlay.jpg", picture, (cv2.IMWRITE_JPEG_QUALITY, 90))
    ctx.metric("fuse_ms", elapsed_ms(started), better="low", kind="timing")
    return {"overlay": out}


edge_density = rb.command_module(Path(__file__).parent / "edge_density" / "rainbow-module.toml")
