"""A short description of the machine a benchmark ran on."""

from __future__ import annotations


def describe(packages: tuple[str, ...] = ("numpy", "tensorflow", "keras", "ai-edge-litert")) -> dict:
    # The machine as `ecg-edge benchmark` describes it (ARM boards too), plus the memory size.
    from edge.benchmark import machine_info

    info = machine_info(packages)
    memory_gib = None
    try:
        with open("/proc/meminfo") as fh:
            kib = int(next(line.split()[1] for line in fh if line.startswith("MemTotal")))
            memory_gib = round(kib / 2**20, 1)
    except (OSError, StopIteration):
        pass
    return {
        "cpu": info.cpu,
        "cores": info.cores,
        "memory_gib": memory_gib,
        "python": info.python,
        "os": info.system,
        "packages": info.packages,
    }


def summary(machine: dict) -> str:
    """One line for a results table's footer."""
    packages = ", ".join(f"{k} {v}" for k, v in machine["packages"].items())
    return (
        f"Machine: {machine['cpu']}, {machine['cores']} cores, {machine['memory_gib']} GiB; "
        f"Python {machine['python']}; {packages}."
    )
