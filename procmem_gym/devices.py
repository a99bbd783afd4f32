"""Where models run and at which precision: the device for ``--device auto`` and whether bfloat16 is fast here.

Imports torch only when asked; ``import procmem_gym`` stays light.
"""

from __future__ import annotations

import functools
import platform
from pathlib import Path

__all__ = ["resolve_device", "bf16_fast"]


def resolve_device(device: str | None) -> str:
    """Return the torch device for a ``--device`` value: ``auto`` (or None) is CUDA when present, else CPU."""
    import torch

    if device in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


@functools.lru_cache(maxsize=4)
def bf16_fast(device: str = "cpu") -> bool:
    """Return whether bfloat16 matrix products run natively on ``device`` (so they beat float32).

    CUDA: the GPU reports bf16 support. CPU: oneDNN supports bf16 *and* the CPU has the
    AVX512-BF16 or AMX-BF16 instructions (elsewhere bf16 is emulated and slower than float32).
    """
    import torch

    if device.startswith("cuda"):
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    try:
        if not torch.ops.mkldnn._is_mkldnn_bf16_supported():
            return False
    except (AttributeError, RuntimeError):
        return False
    if platform.system() == "Linux":
        try:
            flags = Path("/proc/cpuinfo").read_text(errors="replace")
        except OSError:
            return False
        return "avx512_bf16" in flags or "amx_bf16" in flags
    return platform.machine().lower() in ("arm64", "aarch64")  # Apple and Arm server CPUs have native bf16
