"""CPU training speed: what `PricerTrainingArguments` turns on by default when training runs on a CPU.

- **bf16 autocast** where the CPU multiplies bf16 natively (AVX512-BF16 or AMX): matmuls run in bf16, the weights
  and the optimizer stay fp32 and hf_pricer's losses are computed in fp32 (`hf_pricer.modeling_utils.price_loss`).
- **glibc malloc tuning** (:func:`tune_malloc`): by default glibc serves every block above its mmap threshold
  (at most 32 MiB) with fresh pages from the kernel and returns them on free, so every training step's weight
  gradients and autocast weight copies are new pages that the kernel must fault in and zero. At the residual
  regressor's design size that costs about half of a step (`benchmarks/results/residual_throughput.md`).
  `mallopt(M_MMAP_MAX=0, M_TRIM_THRESHOLD=2 GiB, M_TOP_PAD=1 GiB)` makes malloc serve those blocks from its
  heap and keep freed memory for reuse instead.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import platform

logger = logging.getLogger(__name__)

# glibc's mallopt parameter numbers (malloc.h) and the values set: no mmap'd blocks, never trim the heap top,
# grow the heap 1 GiB at a time (address space; pages become resident only when touched).
MALLOC_SETTINGS = {
    "M_MMAP_MAX": (-4, 0),
    "M_TRIM_THRESHOLD": (-1, 2**31 - 1),
    "M_TOP_PAD": (-2, 1 << 30),
}

_applied: dict | None = None


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 matmuls natively (AVX512-BF16 or AMX tiles), so that bf16 autocast is
    faster than fp32 rather than emulated."""
    import torch

    checks = (getattr(torch.cpu, "_is_avx512_bf16_supported", None), getattr(torch.cpu, "_is_amx_tile_supported", None))
    if any(check is not None for check in checks):
        return any(check() for check in checks if check is not None)
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            flags = handle.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def malloc_tunable() -> bool:
    """Whether this process's C library is glibc, whose `mallopt` :func:`tune_malloc` calls."""
    return platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"


def tune_malloc() -> dict | None:
    """Apply :data:`MALLOC_SETTINGS` with glibc's `mallopt`, once per process; returns the settings applied (a
    value glibc rejected reads `"rejected"`), or None where the C library is not glibc.

    Freed memory then stays with the process for reuse: its resident memory does not shrink after a peak until
    it exits. This cannot be undone in the process.
    """
    global _applied
    if _applied is not None:
        return _applied
    if not malloc_tunable():
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        results = {name: value if libc.mallopt(code, value) == 1 else "rejected"
                   for name, (code, value) in MALLOC_SETTINGS.items()}
    except (OSError, AttributeError):
        return None
    _applied = results
    logger.info("glibc malloc tuned for CPU training (%s); the process keeps freed memory for reuse "
                "(--tune_malloc false turns this off)", results)
    return results


def malloc_tuned() -> bool:
    """Whether :func:`tune_malloc` has been applied in this process."""
    return _applied is not None
