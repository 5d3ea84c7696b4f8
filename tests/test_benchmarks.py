"""The benchmark scripts' decision logic (their measurements are benchmarks, not tests)."""

from __future__ import annotations

import importlib.util
import sys

from tests.conftest import REPO


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _row(model, variant, f1, agree, ms, size=100.0):
    return {
        "model": model,
        "variant": variant,
        "file": f"{model}_{variant}.tflite",
        "macro_f1": f1,
        "same_label_share": agree,
        "size_kib": size,
        "inference": {"threads_1": {"median_ms": ms}},
    }


def test_selection_takes_the_best_agreeing_variant_then_the_fastest():
    bench = _load("edge_benchmark")
    rows = [
        _row("a", "keras float32 (reference)", 0.70, 1.0, 20.0),
        _row("a", "float32", 0.70, 1.0, 10.0),
        _row("a", "int8", 0.60, 0.90, 2.0),  # fastest, but changes 10% of the labels
        _row("a", "dynamic", 0.70, 0.99, 3.0),
        _row("b", "keras float32 (reference)", 0.80, 1.0, 50.0),
        _row("b", "int8", 0.79, 0.96, 3.0, size=50),  # faster, but a lower macro-F1
        _row("b", "float16", 0.80, 1.0, 5.0, size=80),
        _row("b", "float32", 0.80, 1.0, 9.0, size=160),
    ]
    chosen = bench.select(rows)
    assert [(r["model"], r["variant"]) for r in chosen] == [("a", "dynamic"), ("b", "float16")]
    assert bench.default_choice(chosen)["model"] == "b"
    assert bench.select([rows[0], rows[2]]) == []


def test_readme_shows_the_latest_benchmark_tables_as_written():
    # The README and the docs it links to (long tables live in docs/).
    readme = "\n".join(p.read_text() for p in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))])
    for name in ("edge_benchmark", "training_results", "phone_photos", "ecg_gate", "generalization", "memory",
                 "signal_direction", "fusion", "codec_direction", "four_networks", "digitization"):
        path = REPO / "benchmarks" / f"{name}.md"
        if not path.is_file():
            continue
        table_rows = [line for line in path.read_text().splitlines() if line.startswith("| ")]
        assert table_rows, name
        for line in table_rows:
            assert line in readme, f"README/docs are out of date with benchmarks/{name}.md: {line[:80]}"


def test_generalization_ensembles_average_probabilities_of_models_on_the_same_split(tmp_path):
    import json

    bench = _load("generalization")
    layouts = list(bench.LAYOUTS)
    y_true = [0, 1, 2, 3]
    # Model a is right on images 0-1 only, model b on 2-3 only, each sure where right and unsure
    # elsewhere: their average is right on all four.
    sure = {0: [0.9, 0.1, 0, 0], 1: [0.1, 0.9, 0, 0], 2: [0, 0, 0.9, 0.1], 3: [0, 0, 0.1, 0.9]}
    unsure = [0.3, 0.3, 0.2, 0.2]
    a = [sure[i] if i < 2 else unsure for i in range(4)]
    b = [sure[i] if i >= 2 else [0.2, 0.2, 0.3, 0.3] for i in range(4)]
    files = {}
    for name, probs in (("a", a), ("b", b)):
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps([{"layout": n, "y_true": y_true, "probabilities": probs} for n in layouts]))
        files[("day-fold0", name)] = path
    rows = {r["direction"]: r for r in bench.collect(files, ["a", "b"], [("a", "b")])}
    assert rows["a"]["accuracy"]["3x4"] == 0.5 and rows["b"]["accuracy"]["3x4"] == 0.5
    assert rows["a + b"]["accuracy"]["6x2-nogrid"] == 1.0
    assert rows["a + b"]["n_test"] == 4


def test_every_benchmark_script_starts():
    """Their imports break silently otherwise (three imported a name edge.classifier had lost)."""
    import subprocess

    scripts = [p for p in sorted((REPO / "benchmarks").glob("*.py")) if "argparse" in p.read_text()]
    assert len(scripts) >= 7
    for script in scripts:
        run = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, f"{script.name}: {run.stderr[-500:]}"
