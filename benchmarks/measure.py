"""Timing and memory helpers shared by the benchmark scripts (run them from the repository root:
``python benchmarks/<name>.py``, which puts this folder on the import path)."""

from __future__ import annotations

import time

import torch

__all__ = ["memory_mib", "reset_peak", "rss_kib", "sync", "timed"]


def sync(device) -> None:
    """Wait for the device's queued work (CUDA); nothing on the CPU."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def timed(fn, device="cpu") -> float:
    """Seconds of one call of ``fn()``, the device synchronised before and after."""
    sync(device)
    t = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - t


def rss_kib(peak: bool = False) -> int:
    """Current (or peak: VmHWM) resident set size of this process, KiB (Linux)."""
    field = "VmHWM:" if peak else "VmRSS:"
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field):
                return int(line.split()[1])
    raise RuntimeError("no /proc/self/status: the memory figures need Linux")


def reset_peak(device="cpu") -> None:
    """Set the peak to the current usage: VmHWM (CPU) or CUDA's peak allocated memory."""
    if torch.device(device).type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    else:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")


def memory_mib(device, peak: bool = True) -> float:
    """Peak (or current) memory in MiB: resident set size (CPU) or CUDA's allocated memory."""
    if torch.device(device).type == "cuda":
        return (torch.cuda.max_memory_allocated(device) if peak else torch.cuda.memory_allocated(device)) / 2**20
    return rss_kib(peak) / 1024.0
