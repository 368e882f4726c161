"""A synthetic upright 68-point face (iBUG layout) for the face-preparation tests.

Units are eye distances: eye centres at (-0.5, 0) and (0.5, 0), mouth corners at (-0.4, 0.9) and
(0.4, 0.9), chin at (0, 1.35); y grows downwards as in images.
"""

from __future__ import annotations

import numpy as np


def _ellipse(cx: float, cy: float, rx: float, ry: float, degrees: np.ndarray) -> np.ndarray:
    t = np.deg2rad(degrees)
    return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], axis=1)


def face68() -> np.ndarray:
    """``float64 (68, 2)`` upright face in eye-distance units (see the module docstring)."""
    jaw = _ellipse(0.0, 0.1, 1.0, 1.25, 180 - np.arange(17) * 180 / 16)  # image-left ear, chin, right ear
    brow_x = np.linspace(-0.85, -0.15, 5)
    brow_left = np.stack([brow_x, -0.25 - 0.08 * np.cos((brow_x + 0.5) / 0.35 * np.pi / 2)], axis=1)
    brow_right = brow_left[::-1] * [-1, 1]
    nose = np.stack([np.zeros(4), np.linspace(-0.1, 0.45, 4)], axis=1)
    nostrils = np.stack([np.linspace(-0.2, 0.2, 5), np.full(5, 0.5)], axis=1)
    eye_angles = 180 + np.arange(6) * 60.0
    eye_left = _ellipse(-0.5, 0.0, 0.15, 0.06, eye_angles)
    eye_right = _ellipse(0.5, 0.0, 0.15, 0.06, eye_angles)
    mouth_outer = _ellipse(0.0, 0.9, 0.4, 0.12, 180 + np.arange(12) * 30.0)
    mouth_inner = _ellipse(0.0, 0.9, 0.3, 0.05, 180 + np.arange(8) * 45.0)
    points = np.concatenate([jaw, brow_left, brow_right, nose, nostrils, eye_left, eye_right, mouth_outer, mouth_inner])
    assert points.shape == (68, 2)
    return points


def similarity(points: np.ndarray, *, scale: float, degrees: float, centre: tuple[float, float]) -> np.ndarray:
    """Scale, rotate (counter-clockwise on screen for positive ``degrees``) and move ``points``."""
    t = np.deg2rad(degrees)
    rotation = np.array([[np.cos(t), np.sin(t)], [-np.sin(t), np.cos(t)]])
    return points @ (scale * rotation).T + np.asarray(centre)
