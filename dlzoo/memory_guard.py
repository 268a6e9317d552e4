"""Refuse to build a model whose weights cannot fit in this machine's memory (before anything is allocated).

The weights of a model are `parameters x bytes per weight` of the dtype
policy; creating them also needs the initializer's output next to the
variable, so a build needs about twice that at its peak. Without this check
torch and TensorFlow fail deep in the allocator, and JAX takes minutes to
fail, or the kernel kills the process. The check compares the estimate with
the memory the operating system says is available now; it can be switched
off for one call (`dlzoo.build(..., check_memory=False)`) or for the process
(`DLZOO_SKIP_MEMORY_CHECK=1`). Only host memory is checked: on an
accelerator the backend's own allocator decides.
"""

import os
from typing import Optional

ENV_SKIP = "DLZOO_SKIP_MEMORY_CHECK"
# Bytes per weight by the variable dtype of a Keras dtype policy name.
_WEIGHT_BYTES = {"float64": 8, "float32": 4, "float16": 2, "bfloat16": 2, "mixed_float16": 4, "mixed_bfloat16": 4}
# Creating a weight holds the initializer's output and the variable at once.
PEAK_FACTOR = 2.0


def available_bytes() -> Optional[int]:
    """Memory available to a new allocation now (Linux `MemAvailable`), or `None` when unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def weight_bytes(parameters: int, dtype_policy: str) -> int:
    """Bytes of `parameters` weights stored under a Keras dtype policy (float32 when unknown)."""
    return int(parameters) * _WEIGHT_BYTES.get(str(dtype_policy), 4)


def check_fits(name: str, parameters: int, dtype_policy: str, enabled: bool = True) -> None:
    """Raise `MemoryError` when building `parameters` weights would not fit in the available memory.

    Args:
        name: str. The model, for the message.
        parameters: int. Its exact parameter count.
        dtype_policy: str. The Keras dtype policy the weights are made under.
        enabled: bool. `False` skips the check (as does `DLZOO_SKIP_MEMORY_CHECK=1`).
    """
    if not enabled or os.environ.get(ENV_SKIP, "").strip() not in ("", "0"):
        return
    available = available_bytes()
    if available is None:
        return
    weights = weight_bytes(parameters, dtype_policy)
    needed = int(weights * PEAK_FACTOR)
    if needed > available:
        raise MemoryError(
            f"Building {name!r} would need about {needed / 2**30:.1f} GiB ({parameters:,} parameters x "
            f"{weights // max(parameters, 1)} bytes under dtype policy {dtype_policy!r}, x{PEAK_FACTOR:g} while the "
            f"weights are initialized), but {available / 2**30:.1f} GiB of memory is available. Build a smaller "
            f"variant, use a 16-bit policy (dtype='bfloat16'), or pass check_memory=False (or set "
            f"{ENV_SKIP}=1) to try anyway."
        )


__all__ = ["available_bytes", "check_fits", "weight_bytes"]
