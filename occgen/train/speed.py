"""How the training process uses the CPU (issue 24): whether bf16 autocast has hardware behind it.

Measured with ``benchmarks/bench_train.py`` (docs/training.md, "Speed"): on a CPU without bf16 units
(AVX2 only, or AVX-512 without its BF16 extension) oneDNN emulates bf16, and ``--bf16`` training is slower than
plain fp32; ``--channels-last`` alone is the fast path there.
"""

from __future__ import annotations

import torch


def cpu_has_bf16() -> bool:
    """True when this CPU computes bf16 in hardware (AVX-512 BF16 or AMX tiles), as torch reports it."""
    cpu = torch.cpu
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")  # torch's own probes (private, so guarded)
    return any(bool(getattr(cpu, name, lambda: False)()) for name in checks)


def cpu_bf16_note() -> str | None:
    """A one-line note when bf16 autocast on this CPU is emulated (slower than fp32); None when it has bf16 units."""
    if cpu_has_bf16():
        return None
    capability = torch.backends.cpu.get_cpu_capability()
    return (f"this CPU ({capability}) has no bf16 units: bf16 autocast is emulated and slower than fp32 here; "
            "train with --channels-last and without --bf16")  # fmt: skip
