"""Resident memory of this process, read from /proc (Linux)."""

from __future__ import annotations


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def rss_mb() -> float:
    """Current resident set size in MB."""
    return _status_mb("VmRSS")


def rss_peak_mb() -> float:
    """Peak resident set size in MB since start or the last :func:`reset_rss_peak`."""
    return _status_mb("VmHWM")


def reset_rss_peak() -> bool:
    """Reset the peak to the current RSS (Linux >= 4.0); False where unsupported."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False
