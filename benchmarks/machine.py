"""A short description of the machine a benchmark ran on."""

from __future__ import annotations

import os
import platform
from importlib.metadata import PackageNotFoundError, version


def describe(packages: tuple[str, ...] = ("numpy", "tensorflow", "keras", "ai-edge-litert")) -> dict:
    from edge.benchmark import machine_info  # the CPU as `ecg-edge benchmark` names it (ARM boards too)

    cpu = machine_info().cpu
    memory_gib = None
    try:
        with open("/proc/meminfo") as fh:
            kib = int(next(line.split()[1] for line in fh if line.startswith("MemTotal")))
            memory_gib = round(kib / 2**20, 1)
    except (OSError, StopIteration):
        pass
    versions = {}
    for name in packages:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            continue
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": memory_gib,
        "python": platform.python_version(),
        "os": platform.platform(),
        "packages": versions,
    }


def summary(machine: dict) -> str:
    """One line for a results table's footer."""
    packages = ", ".join(f"{k} {v}" for k, v in machine["packages"].items())
    return (
        f"Machine: {machine['cpu']}, {machine['cores']} cores, {machine['memory_gib']} GiB; "
        f"Python {machine['python']}; {packages}."
    )
