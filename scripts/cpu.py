"""The CPU a benchmark ran on, as the benchmark scripts print it next to every figure."""
import os
from pathlib import Path


def cpu_line():
    """The CPU's model and the flags that decide the kernels."""
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = next((l.split(":", 1)[1].strip() for l in info.splitlines() if l.startswith("model name")), "unknown")
    vendor = next((l.split(":", 1)[1].strip() for l in info.splitlines() if l.startswith("vendor_id")), "unknown")
    flags = next((l.split(":", 1)[1].split() for l in info.splitlines() if l.startswith("flags")), [])
    wanted = ["avx2", "fma", "avx512f", "avx512_bf16", "avx512_fp16", "amx_bf16", "amx_tile"]
    return f"{model} ({vendor}); {os.cpu_count()} CPUs; flags: {' '.join(f for f in wanted if f in flags)}"
