"""The computer vision behind room scan: plain functions on numpy images and file paths.

Images are OpenCV-style BGR ``uint8`` arrays; masks are single-channel ``uint8`` arrays holding
0 or 255. Nothing here knows about Rainbow, so every step can be tested and reused on its own.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypedDict

import cv2
import numpy as np
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError


class PhotoInfo(TypedDict):
    """What a photo's EXIF said about it."""

    orientation: int
    has_gps: bool
    camera: str | None


class UnreadableImageError(ValueError):
    """A file is not an image this code can decode; the message names the file and the reason."""


def load_upright(path: Path | str) -> tuple[np.ndarray, PhotoInfo]:
    """Reads a photo as a BGR array turned the way its EXIF Orientation says a viewer shows it."""
    try:
        with Image.open(path) as photo:
            exif = photo.getexif()
            upright = ImageOps.exif_transpose(photo).convert("RGB")
    except (UnidentifiedImageError, OSError) as error:
        raise UnreadableImageError(f"{path}: not a readable image ({error})") from error
    info = PhotoInfo(
        orientation=int(exif.get(ExifTags.Base.Orientation, 1)),
        has_gps=bool(exif.get_ifd(ExifTags.IFD.GPSInfo)),
        camera=camera_name(exif),
    )
    return cv2.cvtColor(np.asarray(upright), cv2.COLOR_RGB2BGR), info


def camera_name(exif: Image.Exif) -> str | None:
    """'Make Model' from EXIF, without repeating a make that the model already starts with."""
    make = str(exif.get(ExifTags.Base.Make, "")).strip("\x00 ")
    model = str(exif.get(ExifTags.Base.Model, "")).strip("\x00 ")
    if model.lower().startswith(make.lower()):
        make = ""
    return " ".join(part for part in (make, model) if part) or None


def read_image(path: Path | str, grayscale: bool = False) -> np.ndarray:
    """Reads an image file written by an earlier step (no EXIF handling: those are upright)."""
    flags = cv2.IMREAD_GRAYSCALE if grayscale else cv2.IMREAD_COLOR
    image = cv2.imread(str(path), flags)
    if image is None:
        raise UnreadableImageError(f"{path}: missing, empty or not an image OpenCV can decode")
    return image


def resize_max(img: np.ndarray, max_side: int) -> np.ndarray:
    """Shrinks ``img`` so its longer side is at most ``max_side``; never enlarges."""
    height, width = img.shape[:2]
    scale = max_side / max(height, width)
    if scale >= 1.0:
        return img
    size = (max(round(width * scale), 1), max(round(height * scale), 1))
    return cv2.resize(img, size, interpolation=cv2.INTER_AREA)


# Lighting and shading change how light a surface looks far more than its hue, so lightness counts
# for less when comparing colours.
LIGHTNESS_WEIGHT = 0.35
# How far from the floor's colour, in units of its own spread (Mahalanobis distance), a pixel may be
# and still count as floor: near the 99.9th percentile of a 3-D Gaussian; textures have long tails.
FLOOR_RADIUS = 4.0
# The bottom rows of a room photo are mostly floor; these seed the floor's colour.
SEED_ROWS = 1 / 12
# Floor cut off from the bottom rows by a rug or a sofa still counts when at least this big.
MIN_PART = 0.005


def odd(value: float) -> int:
    """The nearest odd integer of at least 3, as OpenCV kernel sizes must be."""
    return max(int(value) // 2 * 2 + 1, 3)


def segment_floor(bgr: np.ndarray) -> np.ndarray:
    """Mask of the visible floor: the surface whose colour matches the bottom rows of the photo.

    A colour model seeded from the bottom rows finds the near floor. Each refit on the floor found
    so far learns how it looks under the lighting farther away, so reaches farther; the last one
    also takes in floor that furniture cuts off from the rest. Texture is blurred away first and
    specks are cleaned up after each fit.
    """
    features = floor_features(bgr)
    seed_rows = max(round(features.shape[0] * SEED_ROWS), 2)
    seed = dominant_cluster(features[-seed_rows:].reshape(-1, 3))
    near = touching_bottom(floor_like(features, seed))
    wider = touching_bottom(floor_like(features, features[near > 0]))
    return floor_parts(floor_like(features, features[wider > 0]))


def shrink(mask: np.ndarray, pixels: int) -> np.ndarray:
    """The mask eroded by ``pixels`` on every side (a square structuring element)."""
    if pixels == 0:
        return mask
    return cv2.erode(mask, np.ones((2 * pixels + 1, 2 * pixels + 1), np.uint8))


def floor_features(bgr: np.ndarray) -> np.ndarray:
    """Per-pixel Lab colour, with planks, grout and noise blurred away and lightness muted."""
    smooth = cv2.medianBlur(bgr, odd(max(bgr.shape[:2]) / 40))
    lab = cv2.cvtColor(smooth, cv2.COLOR_BGR2Lab).astype(np.float32)
    return lab * np.array([LIGHTNESS_WEIGHT, 1.0, 1.0], np.float32)


def dominant_cluster(pixels: np.ndarray) -> np.ndarray:
    """The pixels of the biggest of three colour clusters: the floor, not the odd sofa leg."""
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 0.5)
    best_compactness = np.inf
    best_labels: np.ndarray = np.zeros(len(pixels), np.int32)
    # Three starts, splitting the pixels into thirds along each colour axis in turn, do what
    # random restarts do, but the same photo always gives the same mask.
    for axis in range(pixels.shape[1]):
        values = pixels[:, axis]
        thirds = np.percentile(values, [100 / 3, 200 / 3])
        start = np.digitize(values, thirds).astype(np.int32).reshape(-1, 1)
        compactness, labels, _ = cv2.kmeans(
            pixels, 3, start, criteria, 1, cv2.KMEANS_USE_INITIAL_LABELS
        )
        if compactness < best_compactness:
            best_compactness, best_labels = compactness, np.asarray(labels).ravel()
    return pixels[best_labels == np.bincount(best_labels).argmax()]


def floor_like(features: np.ndarray, floor: np.ndarray) -> np.ndarray:
    """Mask of pixels within FLOOR_RADIUS of the colour distribution of the ``floor`` samples."""
    if len(floor) < 2:
        return np.zeros(features.shape[:2], np.uint8)
    mean = floor.mean(axis=0)
    # The ridge keeps a flat, noise-free floor from giving a singular covariance.
    covariance = np.cov(floor, rowvar=False) + np.eye(3) * 4.0
    offsets = features.reshape(-1, 3) - mean
    squared = np.einsum("ij,jk,ik->i", offsets, np.linalg.inv(covariance), offsets)
    mask = np.where(squared < FLOOR_RADIUS**2, 255, 0).astype(np.uint8)
    return clean(mask.reshape(features.shape[:2]))


def clean(mask: np.ndarray) -> np.ndarray:
    """Removes specks and fills pinholes smaller than about 1 % of the image side."""
    size = odd(max(mask.shape) / 100)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, kernel)
    return cv2.morphologyEx(mask, cv2.MORPH_CLOSE, kernel)


def touching_bottom(mask: np.ndarray) -> np.ndarray:
    """Keeps only the connected regions of ``mask`` that reach the bottom row."""
    _, labels = cv2.connectedComponents(mask, connectivity=4)
    keep = np.unique(labels[-1][mask[-1] > 0])
    return np.where(np.isin(labels, keep), 255, 0).astype(np.uint8)


def floor_parts(mask: np.ndarray) -> np.ndarray:
    """The regions reaching the bottom row, plus big regions no higher than those reach."""
    count, labels, stats, centroids = cv2.connectedComponentsWithStats(mask, connectivity=4)
    bottom = set(np.unique(labels[-1][mask[-1] > 0]).tolist())
    if not bottom:
        return np.zeros_like(mask)
    horizon = min(stats[label, cv2.CC_STAT_TOP] for label in bottom)
    keep = [
        label
        for label in range(1, count)
        if label in bottom
        or (
            stats[label, cv2.CC_STAT_AREA] >= MIN_PART * mask.size
            and centroids[label][1] >= horizon
        )
    ]
    return np.where(np.isin(labels, keep), 255, 0).astype(np.uint8)


def detect_edges(gray_or_bgr: np.ndarray, low: int = 50, high: int = 150) -> np.ndarray:
    """Canny edge map (0/255) of a grey or BGR image, blurred first so noise makes no edges."""
    is_colour = gray_or_bgr.ndim == 3
    gray = cv2.cvtColor(gray_or_bgr, cv2.COLOR_BGR2GRAY) if is_colour else gray_or_bgr
    return cv2.Canny(cv2.GaussianBlur(gray, (5, 5), 0), low, high)


def mask_image(bgr: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``bgr`` with every pixel outside ``mask`` set to black."""
    require_same_size(bgr, mask)
    return cv2.bitwise_and(bgr, bgr, mask=np.where(mask > 0, 255, 0).astype(np.uint8))


def overlay(bgr: np.ndarray, mask: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """A picture for people: the floor tinted translucent green, edges drawn in red on top."""
    require_same_size(bgr, mask)
    require_same_size(bgr, edges)
    green = np.zeros_like(bgr)
    green[:] = (0, 255, 0)
    tinted = cv2.addWeighted(bgr, 0.6, green, 0.4, 0.0)
    picture = np.where((mask > 0)[..., None], tinted, bgr)
    picture[edges > 0] = (0, 0, 255)
    return picture


def require_same_size(image: np.ndarray, mask: np.ndarray) -> None:
    """Refuses a mask from another image: stretching it would silently misplace everything."""
    if image.shape[:2] != mask.shape[:2]:
        raise ValueError(
            f"mask is {mask.shape[:2]} but the image is {image.shape[:2]} (rows, cols)"
        )


def iou(mask_a: np.ndarray, mask_b: np.ndarray) -> float:
    """Intersection over union of two masks; ``mask_b`` is resized to ``mask_a`` if needed."""
    if mask_b.shape[:2] != mask_a.shape[:2]:
        size = (mask_a.shape[1], mask_a.shape[0])
        mask_b = cv2.resize(mask_b, size, interpolation=cv2.INTER_NEAREST)
    a, b = mask_a > 0, mask_b > 0
    union = np.count_nonzero(a | b)
    return np.count_nonzero(a & b) / union if union else 1.0
