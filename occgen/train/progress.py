"""Training progress as plain text lines, for a log file (``occgen train 2> train.log``, a DVC stage, a batch
job): a live progress bar draws nothing useful there, so one line every ``every`` steps and one per epoch.
"""

from __future__ import annotations

import time
from typing import IO, Any


def epoch_line(row: dict[str, Any]) -> str:
    """The line that closes an epoch: loss, training IoU, validation IoU (if scored), speed."""
    if "ce" in row:  # a parsing run (train.target parsing)
        val_miou = f", val mIoU {row['val_miou']:.4f}" if "val_miou" in row else ""
        return (f"epoch {row['epoch']}: loss {row['loss']:.4f}, ce {row['ce']:.4f}, "
                f"train mIoU {row['train_miou']:.4f}{val_miou}")  # fmt: skip
    val_text = f", val face IoU {row['val_face_iou']:.4f}" if "val_face_iou" in row else ""
    steps = f" (step {row['step']})" if "step" in row else ""
    return (
        f"epoch {row['epoch']}{steps}: loss {row['loss']:.4f}, bce {row['bce']:.4f}, "
        f"train face IoU {row['train_face_iou']:.4f}{val_text}, {row['images_per_s']:.1f} images/s"
    )


class ProgressLines:
    """Callbacks for :func:`occgen.train.trainer.train` that write plain, flushed lines to ``stream``:
    ``step S[/BUDGET] (epoch E, batch B/N): loss L, T s`` every ``every`` steps of this run, and the epoch lines."""

    def __init__(
        self, stream: IO[str], *, every: int = 10, epochs: int | None = None, budget: int | None = None
    ) -> None:
        self.stream = stream
        self.every = max(1, every)
        self.epochs = epochs
        self.budget = budget
        self.steps = 0
        self.started = time.perf_counter()

    def write(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()

    def on_batch(self, epoch: int, step: int, steps: int, loss: float) -> None:
        self.steps += 1
        if self.steps % self.every and step != steps:
            return
        of = f"/{self.budget}" if self.budget is not None else ""
        seconds = time.perf_counter() - self.started
        self.write(f"step {self.steps}{of} (epoch {epoch}, batch {step}/{steps}): loss {loss:.4f}, {seconds:.0f} s")

    def on_epoch(self, row: dict[str, Any]) -> None:
        self.write(epoch_line(row))
