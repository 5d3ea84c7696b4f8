"""`ecg-edge benchmark`: how fast this machine runs the classifier, stage by stage, before a
clinic relies on it. Measures the runtime's own timings (``ClassificationResult.timings``), so the
stages are exactly those ``classify`` runs."""

from __future__ import annotations

import os
import platform
import sys
import time
from dataclasses import asdict, dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np

from edge.classifier import EcgClassifier
from edge.preprocess import ImageDecodeError

STAGES = ("decode", "sheet", "gate", "page", "signals", "inference", "total")
STAGE_TITLES = {
    "decode": "decode",
    "sheet": "finding the sheet in a photo",
    "gate": "ECG check",
    "page": "page and lead finding, model input",
    "signals": "digitizing and measuring",
    "inference": "inference",
    "total": "total",
}
PACKAGES = ("numpy", "opencv-python-headless", "ai-edge-litert", "tflite-runtime", "ecg-edge")


@dataclass(frozen=True)
class StageLatency:
    stage: str
    median_ms: float
    p90_ms: float


@dataclass(frozen=True)
class MachineInfo:
    machine: str  # platform.machine(): x86_64, aarch64, armv7l
    cpu: str
    cores: int
    python: str
    system: str
    packages: dict[str, str]


@dataclass(frozen=True)
class BenchmarkReport:
    model: str
    variant: str
    interpreter: str
    threads: int
    workers: int
    files: int  # distinct scans timed
    runs: int  # warm passes over them
    latency: list[StageLatency]
    folder_files: int
    folder_scans_per_s: float
    peak_rss_mib: float | None
    loaded_rss_mib: float | None  # after the model is loaded, before any scan
    failed: list[str] = field(default_factory=list)  # files that could not be read
    host: MachineInfo | None = None
    # Of the resident memory at the end, library files mapped read-only (OpenCV's, numpy's, LiteRT's
    # code): shared between processes, and counted more or less generously by different kernels (the
    # same code peaked at 133 MiB on one VM and 168 MiB on another, ~80 MiB of it such pages).
    file_rss_mib: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def file_rss_mib() -> float | None:
    """Resident memory of this process that maps files (Linux's RssFile; None elsewhere)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("RssFile:"):
                    return int(line.split()[1]) / 2**10
    except OSError:
        pass
    return None


def peak_rss_mib() -> float | None:
    """Peak resident memory of this process so far (None where the OS does not say)."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return peak / (2**20 if sys.platform == "darwin" else 2**10)


def machine_info(packages: tuple[str, ...] = PACKAGES) -> MachineInfo:
    """This machine, and the installed versions of ``packages``."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            lines = fh.read().splitlines()
        fields = {}
        for line in lines:
            key, sep, value = line.partition(":")
            if sep:
                fields.setdefault(key.strip().lower(), value.strip())
        # x86: "model name"; a Raspberry Pi: "Model" (the board), else the ARM "CPU part" number.
        for key in ("model name", "model", "hardware", "cpu part"):
            if fields.get(key) and not fields[key].isdigit():
                cpu = fields[key] if key != "cpu part" else f"ARM CPU part {fields[key]}"
                break
    except OSError:
        pass
    versions = {}
    for name in packages:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            continue
    return MachineInfo(
        machine=platform.machine(),
        cpu=cpu,
        cores=os.cpu_count() or 1,
        python=platform.python_version(),
        system=platform.platform(),
        packages=versions,
    )


def _stage_ms(timings) -> dict[str, float]:
    return {
        "decode": timings.decode_ms,
        "sheet": timings.sheet_ms,
        "gate": timings.gate_ms,
        "page": timings.page_ms,
        "signals": timings.signals_ms,
        "inference": timings.inference_ms,
        "total": timings.total_ms,
    }


def run_benchmark(
    classifier: EcgClassifier,
    files: list[Path],
    runs: int = 5,
    workers: int = 1,
    folder_size: int = 32,
    loaded_rss_mib: float | None = None,
    progress=None,
) -> BenchmarkReport:
    """Warm per-scan latency (median and p90 over ``runs`` passes of ``files``, after one unmeasured
    pass) and folder throughput (``files`` repeated to ``folder_size`` through ``classify_files``).
    ``progress(done, total)`` is called after each classified scan."""
    readable, failed = [], []
    for path in files:  # the warm-up pass, which also sorts out unreadable files
        try:
            classifier.classify(path)
            readable.append(path)
        except ImageDecodeError:
            failed.append(str(path))
    if not readable:
        raise ValueError("none of the files could be read as an image")
    folder = (readable * (folder_size // len(readable) + 1))[: max(folder_size, len(readable))]
    total_steps = runs * len(readable) + len(folder)
    done = 0
    samples: dict[str, list[float]] = {stage: [] for stage in STAGES}
    for _ in range(runs):
        for path in readable:
            for stage, ms in _stage_ms(classifier.classify(path).timings).items():
                samples[stage].append(ms)
            done += 1
            if progress:
                progress(done, total_steps)
    t0 = time.perf_counter()
    for _ in classifier.classify_files(folder, workers=workers):
        done += 1
        if progress:
            progress(done, total_steps)
    elapsed = time.perf_counter() - t0
    latency = [
        StageLatency(stage, float(np.median(samples[stage])), float(np.percentile(samples[stage], 90)))
        for stage in STAGES
    ]
    return BenchmarkReport(
        model=classifier.name,
        variant=classifier.card.variant,
        interpreter=classifier.interpreter_name,
        threads=classifier.options.num_threads,
        workers=workers,
        files=len(readable),
        runs=runs,
        latency=latency,
        folder_files=len(folder),
        folder_scans_per_s=len(folder) / max(elapsed, 1e-9),
        peak_rss_mib=peak_rss_mib(),
        loaded_rss_mib=loaded_rss_mib,
        file_rss_mib=file_rss_mib(),
        failed=failed,
        host=machine_info(),
    )
