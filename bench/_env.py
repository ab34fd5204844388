"""The software and machine a benchmark ran on, printed first by every script in ``bench/``.

Timings only mean something next to the library versions and the BLAS that produced them.
"""

from __future__ import annotations

import os
import platform
from importlib import metadata

from threadpoolctl import threadpool_info

#: Distributions whose versions are reported when installed (none is imported for this).
PACKAGES = ("ntpprops", "numpy", "scipy", "numba", "cvxpy", "clarabel", "scikit-learn", "torch")


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment() -> str:
    """One line: CPUs, Python, installed package versions and the BLAS libraries loaded."""
    versions = []
    for package in PACKAGES:
        try:
            versions.append(f"{package} {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            continue
    blas = sorted(
        {
            f"{lib['internal_api']} {lib['version']} ({lib['num_threads']} threads)"
            for lib in threadpool_info()
            if lib["user_api"] == "blas"
        }
    )
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (
        f"# {cpus} CPUs ({_cpu_model()}); Python {platform.python_version()}; "
        + ", ".join(versions)
        + (f"; BLAS: {', '.join(blas)}" if blas else "")
    )
