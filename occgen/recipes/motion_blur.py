"""Motion blur of clip frames (issue 27): a cut-out or a whole-canvas layer averaged along its displacement
between two frames, on premultiplied colours so that edges do not darken. Split from
:mod:`occgen.recipes.motion` (the clip's keyframes, paths and per-frame params), which re-exports these."""

from __future__ import annotations

import math
from dataclasses import replace

import cv2
import numpy as np

from occgen.compose import CompositeParams, occluder_matrix
from occgen.core.geometry import mask_bbox
from occgen.core.imageio import resize_image
from occgen.sources.occluder import Occluder

_UNPREMULTIPLY_EPS = 1e-6  # below this blurred alpha a pixel keeps the cut-out's own colour


def line_blur(image: np.ndarray, motion_xy: tuple[float, float], pad_xy: tuple[int, int] = (0, 0)) -> np.ndarray:
    """``image`` float32 (H, W, C<=4) averaged along a line of ``motion_xy`` (its length in pixels, centred on
    each pixel): rotated so the motion runs along x, box-blurred along x, rotated back (a box filter costs the
    same at any length; a 2-D line kernel's cost grows with its area). Unchanged below one pixel.

    The result is (H + 2 pad_y, W + 2 pad_x, C), the image's centre at its centre (pixels beyond the image are 0):
    ``pad_xy`` is the room the blur spreads into; whatever spreads past it is cut. The rotated canvas is the
    image's bounding box once rotated, widened by the blur's reach (not the square of the padded image's diagonal:
    the same pixels in up to 3x less area), its sides of the parity of the image sides they lie nearest, so that
    a motion along x or y moves pixels by whole pixels (no resampling)."""
    pad_x, pad_y = pad_xy
    length = math.hypot(*motion_xy)
    taps = max(round(length), 1)
    taps += 1 - taps % 2  # odd: centred on the pixel
    if length < 1.0:
        return _pad(image, pad_x, pad_y)
    if not _zero_border(image):  # a ring of zeros lets both warps skip OpenCV's border path (_warp_inside)
        image, pad_x, pad_y = _pad(image, 1, 1), pad_x - 1, pad_y - 1
    height, width = image.shape[:2]
    c, s = motion_xy[0] / length, motion_xy[1] / length
    # Canvas pixels beyond this box fall outside the image once rotated back
    rotated_w = math.ceil(abs(c) * width + abs(s) * height) + 4
    rotated_h = math.ceil(abs(s) * width + abs(c) * height) + 4
    along, across = (width, height) if abs(c) >= abs(s) else (height, width)  # the sides nearest canvas x and y
    side_w, side_h = rotated_w + (rotated_w - along) % 2, rotated_h + (rotated_h - across) % 2
    cx, cy, kx, ky = (width - 1) / 2, (height - 1) / 2, (side_w - 1) / 2, (side_h - 1) / 2
    to_canvas = np.array([[c, s, kx - (c * cx + s * cy)], [-s, c, ky - (-s * cx + c * cy)]], np.float64)
    # The canvas is widened by the blur's reach after the warp (zeros copied, not warped)
    reach = (taps - 1) // 2
    rotated = _pad(_warp_inside(image, to_canvas, (side_w, side_h), inverse=False), reach, 0)
    blurred = cv2.blur(rotated, (taps, 1), borderType=cv2.BORDER_CONSTANT)
    to_canvas[0, 2] += reach
    padded_to_canvas = to_canvas.copy()  # output pixel (x, y) is image pixel (x - pad_x, y - pad_y)
    padded_to_canvas[:, 2] -= to_canvas[:, :2] @ np.array([pad_x, pad_y], np.float64)
    back = _warp_inside(blurred, padded_to_canvas, (width + 2 * pad_x, height + 2 * pad_y), inverse=True)
    return back.reshape(height + 2 * pad_y, width + 2 * pad_x, *image.shape[2:])  # OpenCV drops one channel's axis


def _pad(image: np.ndarray, pad_x: int, pad_y: int) -> np.ndarray:
    """``image`` with ``pad_x`` / ``pad_y`` zero columns / rows on each side (negative: that many cut)."""
    if pad_x < 0 or pad_y < 0:
        height, width = image.shape[:2]
        image = image[max(-pad_y, 0) : height - max(-pad_y, 0), max(-pad_x, 0) : width - max(-pad_x, 0)]
        pad_x, pad_y = max(pad_x, 0), max(pad_y, 0)
    if pad_x == pad_y == 0:
        return image
    padded = cv2.copyMakeBorder(image, pad_y, pad_y, pad_x, pad_x, cv2.BORDER_CONSTANT, value=0)
    return padded.reshape(padded.shape[:2] + image.shape[2:])


def _zero_border(image: np.ndarray) -> bool:
    """True when the outermost rows and columns of ``image`` are all 0."""
    return not (image[0].any() or image[-1].any() or image[:, 0].any() or image[:, -1].any())


def _warp_inside(image: np.ndarray, matrix: np.ndarray, size: tuple[int, int], *, inverse: bool) -> np.ndarray:
    """``cv2.warpAffine`` (bilinear, 0 outside ``image``) of an ``image`` whose outermost pixels are 0. Output pixels
    whose taps reach past the image would read zeros only: left at 0 (OpenCV's transparent border) they are the
    same, without OpenCV's border path (a third of the warp's time on a rotated canvas)."""
    flags = cv2.INTER_LINEAR | (cv2.WARP_INVERSE_MAP if inverse else 0)
    if not _zero_border(image):
        return cv2.warpAffine(image, matrix, size, flags=flags, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    out = np.zeros((size[1], size[0], *image.shape[2:]), image.dtype)
    cv2.warpAffine(image, matrix, size, dst=out, flags=flags, borderMode=cv2.BORDER_TRANSPARENT)
    return out


def blur_occluder(
    occluder: Occluder, params: CompositeParams, blur_xy: tuple[float, float], *, off_canvas: bool = False
) -> tuple[Occluder, CompositeParams]:
    """The cut-out blurred along the image-space displacement ``blur_xy`` and the params to place it with.

    Below a pixel of motion, or ``off_canvas`` (the frame does not show the occluder, blurred or not), both come
    back unchanged (the still's). Otherwise a cut-out placed smaller than its
    size is first shrunk to its placed size (area filter; the ratio folded into ``fit_scale``, the same
    placement) so the blur is as long as the motion in image pixels, not in the cut-out's (a blur
    several times longer cost most of a frame); the displacement is mapped back through the compositor's
    occluder matrix (rotation, shear), and the cut-out padded so the blur can spread past its edge (centre
    kept)."""
    if math.hypot(*blur_xy) < 1.0 or off_canvas:  # under a pixel, or not seen
        return occluder, params
    placed = params.fit_scale * params.scale
    if placed < 0.9:
        height, width = occluder.alpha.shape
        size = (max(round(width * placed), 1), max(round(height * placed), 1))
        alpha = np.clip(resize_image(occluder.alpha, size), 0.0, 1.0).astype(np.float32)
        occluder = Occluder(occluder.occluder_id, occluder.kind, resize_image(occluder.rgb, size), alpha)
        params = replace(params, fit_scale=params.fit_scale * width / size[0])
    linear = occluder_matrix(occluder.alpha.shape, params)[:, :2]
    local = np.linalg.solve(linear, np.asarray(blur_xy, np.float64))
    motion = (float(local[0]), float(local[1]))
    if math.hypot(*motion) < 1.0:
        return occluder, params
    # Room for the blur, per axis (a motion along x widens the cut-out only), the centre kept.
    pad_x, pad_y = math.ceil(abs(motion[0]) / 2) + 2, math.ceil(abs(motion[1]) / 2) + 2
    # Premultiplied colours and alpha, blurred together. Per-channel arithmetic: OpenCV's one-channel float ops
    # are several times faster than numpy's broadcasting or its own three-channel ops here.
    alpha = occluder.alpha
    colours = [cv2.multiply(channel.astype(np.float32), alpha) for channel in cv2.split(occluder.rgb)]
    stacked = line_blur(cv2.merge([*colours, alpha]), motion, (pad_x, pad_y))
    *premultiplied, blurred_alpha = cv2.split(stacked)
    # Colour = premultiplied / alpha; where the blurred alpha is 0, the cut-out's own colour, edges replicated
    # (the compositor's soft edge reads a pixel past the alpha): (premultiplied + e rgb) / (alpha + e) gives both.
    own = cv2.copyMakeBorder(occluder.rgb, pad_y, pad_y, pad_x, pad_x, cv2.BORDER_REPLICATE)
    weight = blurred_alpha + np.float32(_UNPREMULTIPLY_EPS)
    rgb_out = cv2.merge([
        cv2.convertScaleAbs(cv2.divide(cv2.scaleAdd(channel.astype(np.float32), _UNPREMULTIPLY_EPS, blurred), weight))
        for channel, blurred in zip(cv2.split(own), premultiplied, strict=True)
    ])  # fmt: skip
    alpha_out = np.clip(blurred_alpha, 0.0, 1.0)
    return Occluder(occluder.occluder_id, occluder.kind, rgb_out, alpha_out), params


def move_layer(rgb: np.ndarray, alpha: np.ndarray, shift_xy: tuple[float, float], blur_xy: tuple[float, float]
               ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """A layer on the whole canvas (``rgb`` uint8 (H, W, 3), ``alpha`` float32 (H, W) in [0, 1]: FaceOcc's
    occluder in its aligned frame) moved by ``shift_xy`` px (bilinear) and blurred along ``blur_xy``
    (:func:`line_blur`), both on premultiplied colours so edges do not darken; pixels moved in from outside are
    transparent. Returned unchanged (the same arrays) when there is no shift and under a pixel of blur.

    Only the alpha's box is worked on (grown by the blur's reach): moved by the shift's whole pixels when it is put
    back, by its fraction with a warp, then blurred (the full canvas cost most of a frame)."""
    blurred = math.hypot(*blur_xy) >= 1.0
    if shift_xy == (0.0, 0.0) and not blurred:
        return rgb, alpha
    height, width = alpha.shape
    moved_rgb, moved_alpha = np.zeros_like(rgb), np.zeros((height, width), np.float32)
    found = mask_bbox(alpha)
    if found is None:
        return moved_rgb, moved_alpha
    top, left, bottom, right = found
    whole_x, whole_y = math.floor(shift_xy[0]), math.floor(shift_xy[1])
    fraction = (shift_xy[0] - whole_x, shift_xy[1] - whole_y)
    margin = math.ceil(math.hypot(*blur_xy) / 2) + 3  # the blur's half length, the fraction and bilinear reads
    out_top, out_left = top + whole_y - margin, left + whole_x - margin  # where the worked box lands
    rows = (max(out_top, 0), min(bottom + whole_y + margin, height))
    cols = (max(out_left, 0), min(right + whole_x + margin, width))
    if rows[0] >= rows[1] or cols[0] >= cols[1]:  # moved off the canvas
        return moved_rgb, moved_alpha
    box_h, box_w = bottom - top + 2 * margin, right - left + 2 * margin
    work: np.ndarray = np.zeros((box_h, box_w, 4), np.float32)
    inner = (slice(margin, box_h - margin), slice(margin, box_w - margin))
    source_alpha = alpha[top:bottom, left:right]
    work[inner[0], inner[1], :3] = rgb[top:bottom, left:right].astype(np.float32) * source_alpha[:, :, None]
    work[inner[0], inner[1], 3] = source_alpha
    if fraction != (0.0, 0.0):
        shift = np.array([[1.0, 0.0, fraction[0]], [0.0, 1.0, fraction[1]]], np.float64)
        work = cv2.warpAffine(work, shift, (box_w, box_h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                              borderValue=0)  # fmt: skip
    if blurred:
        work = line_blur(work, blur_xy)
    window = work[rows[0] - out_top : rows[1] - out_top, cols[0] - out_left : cols[1] - out_left]
    window_alpha = np.clip(window[:, :, 3], 0.0, 1.0).astype(np.float32)
    colour = window[:, :, :3] / np.maximum(window[:, :, 3], 1e-6)[:, :, None]
    colour = np.where(window_alpha[:, :, None] > 1e-6, colour, 0.0)
    moved_rgb[rows[0] : rows[1], cols[0] : cols[1]] = np.clip(colour + 0.5, 0, 255).astype(np.uint8)
    moved_alpha[rows[0] : rows[1], cols[0] : cols[1]] = window_alpha
    return moved_rgb, moved_alpha
