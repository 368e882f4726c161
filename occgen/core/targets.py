"""One sample as named targets of a kind, and the geometric / photometric ops written once per kind.

Where it sits: the bottom layer (numpy and OpenCV only). Recipes (:mod:`occgen.recipes.faceocc_transforms`),
training augmentation (:mod:`occgen.train.data`) and the online dataset build a :class:`Targets` of their
arrays and move them all with one op, so a new label is a new target, not a new argument threaded through
every op (the albumentations ``apply`` / ``apply_to_mask`` / ``apply_to_keypoints`` idea).

Kinds and how the geometric ops treat them:

=============  ====================================  ==========================================================
kind           data                                  geometric ops
=============  ====================================  ==========================================================
``image``      uint8 (H, W, 3)                       bilinear (resize: area when shrinking, else cubic)
``mask``       uint8 (H, W), any values              nearest (binary masks, 0/255 occluder masks)
``soft_mask``  float32 or uint8 (H, W) alpha         bilinear
``class_map``  uint8 (H, W) class ids                nearest; a mirroring op swaps the ``swap`` id pairs
``instances``  uint8 (H, W) instance ids (0 = none)  nearest
``keypoints``  float32 (K, 2) x, y in pixels         points moved; a mirroring op reorders by ``flip_perm``
``boxes``      float (M, 4) x0, y0, x1, y1           the box's hull moved, clipped to the canvas
=============  ====================================  ==========================================================

Coordinates: pixel ``(row, col)`` has its centre at ``x = col, y = row`` (OpenCV's convention), so a
horizontal flip maps ``x -> W - 1 - x``. Boxes are pixel *edges*, half-open like array slices: a box covers
the pixels with ``x0 <= col < x1`` and ``y0 <= row < y1`` (a flip maps ``x0, x1 -> W - x1, W - x0``).

Keypoints that an op moves off the canvas are kept as they are (never clipped or dropped: the caller decides
what is visible); boxes are clipped to the canvas, and keep their index even when empty.

An op *mirrors* when it reverses handedness (a flip, or an affine matrix with a negative determinant, such
as FaceOcc's whole-sample affine with its flip inside): then a mirrored face's left parts are its right
parts, so class maps swap their left/right pairs and keypoints take their flip permutation. Ops never
mutate their inputs; a target an op does not touch (e.g. a mask under a photometric op) is passed on as is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import ClassVar, Protocol

import cv2
import numpy as np

from occgen.core.errors import ArrayContractError
from occgen.core.imageio import resize_image, resize_labels

KINDS = ("image", "mask", "soft_mask", "class_map", "instances", "keypoints", "boxes")
RASTER_KINDS = frozenset({"image", "mask", "soft_mask", "class_map", "instances"})
#: Raster kinds interpolated bilinearly; the others are label maps, moved with nearest neighbour.
SMOOTH_KINDS = frozenset({"image", "soft_mask"})


def _describe(array: object) -> str:
    if not isinstance(array, np.ndarray):
        return type(array).__name__
    return f"{array.shape} {array.dtype}"


@dataclass(frozen=True, eq=False)
class Target:
    """One array of a sample and its kind (table in the module docstring), validated on construction.

    ``swap`` (class maps only): pairs of class ids that trade places when an op mirrors, e.g.
    :data:`occgen.core.labels.PARSING_FLIP_SWAP`. ``flip_perm`` (keypoints only): after a mirroring op,
    point ``i`` is the old point ``flip_perm[i]`` (a permutation that is its own inverse).
    """

    kind: str
    data: np.ndarray
    swap: tuple[tuple[int, int], ...] | None = None
    flip_perm: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ArrayContractError(f"unknown target kind {self.kind!r}; valid: {', '.join(KINDS)}")
        _check_data(self.kind, self.data)
        if self.swap is not None:
            if self.kind != "class_map":
                raise ArrayContractError(f"a swap table is for class_map targets, not {self.kind}")
            ids = [int(i) for pair in self.swap for i in pair]
            if (
                any(len(pair) != 2 for pair in self.swap)
                or len(set(ids)) != len(ids)
                or not all(0 <= i <= 255 for i in ids)
            ):
                raise ArrayContractError(f"swap table {self.swap}: expected distinct (id, id) pairs of uint8 ids")
        if self.flip_perm is not None:
            if self.kind != "keypoints":
                raise ArrayContractError(f"a flip permutation is for keypoints targets, not {self.kind}")
            perm = np.asarray(self.flip_perm)
            count = self.data.shape[0]
            if sorted(perm.tolist()) != list(range(count)) or not np.array_equal(perm[perm], np.arange(count)):
                raise ArrayContractError(
                    f"flip_perm {self.flip_perm}: expected a permutation of 0..{count - 1} that is its own inverse"
                )

    @classmethod
    def image(cls, data: np.ndarray) -> Target:
        return cls("image", data)

    @classmethod
    def mask(cls, data: np.ndarray) -> Target:
        return cls("mask", data)

    @classmethod
    def soft_mask(cls, data: np.ndarray) -> Target:
        return cls("soft_mask", data)

    @classmethod
    def class_map(cls, data: np.ndarray, swap: tuple[tuple[int, int], ...] | None = None) -> Target:
        return cls("class_map", data, swap=swap)

    @classmethod
    def instances(cls, data: np.ndarray) -> Target:
        return cls("instances", data)

    @classmethod
    def keypoints(cls, data: np.ndarray, flip_perm: tuple[int, ...] | None = None) -> Target:
        return cls("keypoints", data, flip_perm=flip_perm)

    @classmethod
    def boxes(cls, data: np.ndarray) -> Target:
        return cls("boxes", data)

    def with_data(self, data: np.ndarray) -> Target:
        """The same kind, swap table and permutation, holding ``data``."""
        return Target(self.kind, data, self.swap, self.flip_perm)


def _check_data(kind: str, data: np.ndarray) -> None:
    expected = {
        "image": "(H, W, 3) uint8", "mask": "(H, W) uint8", "class_map": "(H, W) uint8", "instances": "(H, W) uint8",
        "soft_mask": "(H, W) float32 or uint8", "keypoints": "(K, 2) float32", "boxes": "(M, 4) float",
    }[kind]  # fmt: skip
    ok = isinstance(data, np.ndarray)
    if ok and kind == "image":
        ok = data.ndim == 3 and data.shape[2] == 3 and data.dtype == np.uint8
    elif ok and kind in ("mask", "class_map", "instances"):
        ok = data.ndim == 2 and data.dtype == np.uint8
    elif ok and kind == "soft_mask":
        ok = data.ndim == 2 and data.dtype in (np.float32, np.uint8)
    elif ok and kind == "keypoints":
        ok = data.ndim == 2 and data.shape[1] == 2 and data.dtype == np.float32
    elif ok:
        ok = data.ndim == 2 and data.shape[1] == 4 and np.issubdtype(data.dtype, np.floating)
    if not ok:
        raise ArrayContractError(f"{kind} target: expected {expected}, got {_describe(data)}")


class Targets(Mapping[str, Target]):
    """Named targets on one canvas of ``(height, width)`` pixels; every raster target has that size.

    ``canvas`` is taken from the raster targets when not given (it must be given for keypoints or boxes
    alone). Immutable: ops return new :class:`Targets`.
    """

    def __init__(self, items: Mapping[str, Target], *, canvas: tuple[int, int] | None = None) -> None:
        items = dict(items)
        rasters = {name: target.data.shape[:2] for name, target in items.items() if target.kind in RASTER_KINDS}
        if canvas is None:
            if not rasters:
                raise ArrayContractError("targets without an image or mask need canvas=(height, width)")
            canvas = next(iter(rasters.values()))
        height, width = int(canvas[0]), int(canvas[1])
        for name, shape in rasters.items():
            if tuple(shape) != (height, width):
                raise ArrayContractError(
                    f"target {name!r} is {shape[1]}x{shape[0]} but the canvas is {width}x{height}: every image "
                    "and mask of a sample must have the same size"
                )
        self._items = MappingProxyType(items)
        self.canvas = (height, width)

    def __getitem__(self, name: str) -> Target:
        return self._items[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        inner = ", ".join(f"{name}: {t.kind} {_describe(t.data)}" for name, t in self._items.items())
        return f"Targets(canvas={self.canvas}, {{{inner}}})"

    def array(self, name: str) -> np.ndarray:
        """The data of target ``name``."""
        return self._items[name].data


# --- geometric ops -------------------------------------------------------------------------------------------


class GeometricOp(Protocol):
    """What a geometric op says about itself; :func:`apply_geometric` does the per-kind work."""

    @property
    def mirrors(self) -> bool: ...

    def out_canvas(self, canvas: tuple[int, int]) -> tuple[int, int]: ...

    def raster(self, array: np.ndarray, kind: str, canvas: tuple[int, int]) -> np.ndarray: ...

    def points(self, xy: np.ndarray, canvas: tuple[int, int]) -> np.ndarray: ...


@dataclass(frozen=True)
class HorizontalFlip:
    """Mirror left-right about the canvas' vertical centre line."""

    mirrors: ClassVar[bool] = True

    def out_canvas(self, canvas: tuple[int, int]) -> tuple[int, int]:
        return canvas

    def raster(self, array: np.ndarray, kind: str, canvas: tuple[int, int]) -> np.ndarray:
        return np.ascontiguousarray(array[:, ::-1])

    def points(self, xy: np.ndarray, canvas: tuple[int, int]) -> np.ndarray:
        return np.stack([canvas[1] - 1 - xy[:, 0], xy[:, 1]], axis=1)


@dataclass(frozen=True, kw_only=True)
class AffineWarp:
    """A 2x3 affine ``matrix`` in pixel coordinates; ``inverse``: it maps output to input pixels (OpenCV's
    ``WARP_INVERSE_MAP``), else input to output. Pixels from outside the input get ``border[kind]`` (0 for
    kinds not named). ``size``: the output canvas ``(height, width)``; None keeps the input's."""

    matrix: tuple[tuple[float, float, float], tuple[float, float, float]]
    inverse: bool = False
    size: tuple[int, int] | None = None
    border: Mapping[str, float] = field(default_factory=dict)

    @classmethod
    def of(cls, matrix: np.ndarray, *, inverse: bool = False, size: tuple[int, int] | None = None,
           border: Mapping[str, float] | None = None) -> AffineWarp:  # fmt: skip
        """From a (2, 3) array (values kept exactly: float64 round-trips through the tuple)."""
        m = np.asarray(matrix, dtype=np.float64)
        if m.shape != (2, 3) or not np.isfinite(m).all():
            raise ArrayContractError(f"affine matrix: expected a finite (2, 3) array, got {_describe(matrix)}")
        if abs(float(np.linalg.det(m[:, :2]))) < 1e-12:
            raise ArrayContractError("affine matrix: its 2x2 part is singular, so it cannot be inverted")
        rows = ((float(m[0, 0]), float(m[0, 1]), float(m[0, 2])), (float(m[1, 0]), float(m[1, 1]), float(m[1, 2])))
        return cls(matrix=rows, inverse=inverse, size=size, border=dict(border or {}))

    @property
    def mirrors(self) -> bool:
        """True when the matrix reverses handedness (negative determinant: it contains a reflection)."""
        return float(np.linalg.det(np.asarray(self.matrix)[:, :2])) < 0

    def forward(self) -> np.ndarray:
        """The (2, 3) float64 matrix mapping input to output pixels."""
        m = np.asarray(self.matrix, dtype=np.float64)
        return cv2.invertAffineTransform(m) if self.inverse else m

    def out_canvas(self, canvas: tuple[int, int]) -> tuple[int, int]:
        return canvas if self.size is None else self.size

    def raster(self, array: np.ndarray, kind: str, canvas: tuple[int, int]) -> np.ndarray:
        height, width = self.out_canvas(canvas)
        flags = cv2.INTER_LINEAR if kind in SMOOTH_KINDS else cv2.INTER_NEAREST
        fill = float(self.border.get(kind, 0.0))
        return cv2.warpAffine(np.ascontiguousarray(array), np.asarray(self.matrix, dtype=np.float64), (width, height),
                              flags=flags | (cv2.WARP_INVERSE_MAP if self.inverse else 0),
                              borderMode=cv2.BORDER_CONSTANT, borderValue=(fill, fill, fill, fill))  # fmt: skip

    def points(self, xy: np.ndarray, canvas: tuple[int, int]) -> np.ndarray:
        m = self.forward()
        return xy @ m[:, :2].T + m[:, 2]


@dataclass(frozen=True)
class Resize:
    """Resize to ``height`` x ``width``: images area-filtered when shrinking, else cubic
    (:func:`occgen.core.imageio.resize_image`); soft masks bilinear; label maps nearest."""

    height: int
    width: int
    mirrors: ClassVar[bool] = False

    def __post_init__(self) -> None:
        if self.height < 1 or self.width < 1:
            raise ArrayContractError(f"resize: expected a positive size, got {self.width}x{self.height}")

    def out_canvas(self, canvas: tuple[int, int]) -> tuple[int, int]:
        return (self.height, self.width)

    def raster(self, array: np.ndarray, kind: str, canvas: tuple[int, int]) -> np.ndarray:
        size = (self.width, self.height)
        if kind == "image":
            return resize_image(array, size)
        if kind == "soft_mask":
            same = array.shape[:2] == (self.height, self.width)
            return array if same else cv2.resize(array, size, interpolation=cv2.INTER_LINEAR)
        return resize_labels(array, size)

    def points(self, xy: np.ndarray, canvas: tuple[int, int]) -> np.ndarray:
        scale = np.array([self.width / canvas[1], self.height / canvas[0]])
        return (xy + 0.5) * scale - 0.5


@dataclass(frozen=True)
class Crop:
    """Keep rows ``[top, bottom)`` and columns ``[left, right)`` (inside the canvas)."""

    top: int
    left: int
    bottom: int
    right: int
    mirrors: ClassVar[bool] = False

    def out_canvas(self, canvas: tuple[int, int]) -> tuple[int, int]:
        if not (0 <= self.top < self.bottom <= canvas[0] and 0 <= self.left < self.right <= canvas[1]):
            raise ArrayContractError(
                f"crop rows [{self.top}, {self.bottom}) x columns [{self.left}, {self.right}) is not a non-empty box "
                f"inside the {canvas[1]}x{canvas[0]} canvas"
            )
        return (self.bottom - self.top, self.right - self.left)

    def raster(self, array: np.ndarray, kind: str, canvas: tuple[int, int]) -> np.ndarray:
        return array[self.top : self.bottom, self.left : self.right].copy()

    def points(self, xy: np.ndarray, canvas: tuple[int, int]) -> np.ndarray:
        return xy - np.array([self.left, self.top])


def swap_table(pairs: tuple[tuple[int, int], ...]) -> np.ndarray:
    """A uint8 lookup table (256,) that exchanges the ids of each pair and keeps every other id."""
    table = np.arange(256, dtype=np.uint8)
    for a, b in pairs:
        table[a], table[b] = b, a
    return table


def _move_boxes(boxes: np.ndarray, op: GeometricOp, canvas: tuple[int, int]) -> np.ndarray:
    """The axis-aligned hull of each moved box (edges -> corner pixel centres -> op -> edges), clipped."""
    b = boxes.astype(np.float64)
    x0, y0, x1, y1 = b[:, 0], b[:, 1], b[:, 2], b[:, 3]
    corners = np.stack([np.stack([x0, y0], 1), np.stack([x1, y0], 1), np.stack([x0, y1], 1),
                        np.stack([x1, y1], 1)], axis=1) - 0.5  # fmt: skip
    moved = op.points(corners.reshape(-1, 2), canvas).reshape(-1, 4, 2) + 0.5
    height, width = op.out_canvas(canvas)
    out = np.concatenate([moved.min(axis=1), moved.max(axis=1)], axis=1)
    out[:, 0::2] = np.clip(out[:, 0::2], 0, width)
    out[:, 1::2] = np.clip(out[:, 1::2], 0, height)
    return out.astype(boxes.dtype)


def apply_to_target(target: Target, op: GeometricOp, canvas: tuple[int, int]) -> Target:
    """``op`` applied to one target on ``canvas`` ``(height, width)``, the way its kind needs."""
    if target.kind in RASTER_KINDS:
        out = op.raster(target.data, target.kind, canvas)
        if target.kind == "class_map" and op.mirrors and target.swap:
            out = swap_table(target.swap)[out]
        return target.with_data(out)
    if target.kind == "keypoints":
        points = op.points(target.data.astype(np.float64), canvas).astype(np.float32)
        if op.mirrors and target.flip_perm is not None:
            points = points[list(target.flip_perm)]
        return target.with_data(np.ascontiguousarray(points))
    return target.with_data(_move_boxes(target.data, op, canvas))


def apply_geometric(targets: Targets, op: GeometricOp) -> Targets:
    """Every target moved by ``op`` (a new :class:`Targets` on the op's output canvas)."""
    canvas = targets.canvas
    out_canvas = op.out_canvas(canvas)
    return Targets({name: apply_to_target(t, op, canvas) for name, t in targets.items()}, canvas=out_canvas)


def map_images(targets: Targets, transform: Callable[[np.ndarray], np.ndarray]) -> Targets:
    """A photometric op: ``transform`` (uint8 (H, W, 3) -> same) applied to every ``image`` target only."""
    out = {}
    for name, target in targets.items():
        if target.kind == "image":
            result = transform(target.data)
            if result.shape != target.data.shape or result.dtype != np.uint8:
                raise ArrayContractError(
                    f"photometric op on {name!r}: expected {target.data.shape} uint8 back, got {_describe(result)}"
                )
            target = target.with_data(result)
        out[name] = target
    return Targets(out, canvas=targets.canvas)
