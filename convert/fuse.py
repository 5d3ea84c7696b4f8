"""`ecg-fuse MEMBER.tflite MEMBER.tflite --name NAME`: a fused model's card, whose members' raw
probabilities the runtime averages (edge.card.ModelCard.members), measured like `ecg-convert`'s
cards: test metrics, the test split in every other layout, a temperature and review threshold fitted
on the averaged validation output, and the protocol rows of its direction.

Every scan is read once through the runtime (`EcgClassifier.preprocess`: one page and layout, each
member's view of it), so the figures are the shipped pipeline's. The members are copied beside the
card when they are not there already; a card is only written when every member reads the same page
settings (the runtime refuses others too).
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.progress import track

from convert.cli import DATA_CREDIT, console, print_card_figures, protocol_figures
from edge.card import LayoutScore, ModelCard, card_path_for, load_card
from edge.classifier import EcgClassifier, apply_label_weights
from edge.labels import LABEL_KEYS, LABELS
from edge.preprocess import decode_image
from edge.resources import DEFAULT_POINTER

app = typer.Typer(help="Write and measure a fused model's card (members' probabilities averaged).")

def fused_view(views: list[str], favour: str | None = None) -> str:
    """How a fused direction is named in the protocol benchmarks' rows (their ``view`` key); with a
    favoured label (`--favour`), its operating point too."""
    return "+".join(views) + (f", favouring {favour}" if favour else "")


def _raw_probabilities(classifier: EcgClassifier, bgr: np.ndarray) -> tuple[np.ndarray, bool]:
    """The fused raw output for one scan, and whether its layout was read (else uniform, counted)."""
    try:
        pre = classifier.preprocess(bgr)
    except Exception:  # noqa: BLE001 - a page the runtime refuses: no label, counted as a failure
        return np.full(len(LABELS), 1.0 / len(LABELS)), False
    return classifier.predict_raw(pre.image, pre.member_inputs), True


@app.command()
def fuse(
    members: Annotated[list[Path], typer.Argument(help="The member .tflite files (each with its card).")],
    name: Annotated[str, typer.Option(help="The fused model's name (its card is NAME.card.json).")],
    split_file: Annotated[Path, typer.Option("--split", help="The split the members were trained on.")],
    out: Annotated[Path, typer.Option(help="Folder of the card (members are copied there).")] = Path("models"),
    data: Annotated[
        Path | None, typer.Option("--data", "-d", help="Data folder, if it moved since the split was made.")
    ] = None,
    target_accuracy: Annotated[
        float, typer.Option(min=0.5, max=1.0, help="As ecg-convert's: validation accuracy above the threshold.")
    ] = 0.95,
    protocol: Annotated[
        Path | None, typer.Option(help="benchmarks/signal_direction.json: copy the fused direction's rows.")
    ] = None,
    notes: Annotated[str, typer.Option(help="Free text for the card.")] = "",
    default: Annotated[bool, typer.Option("--default", help="Make it OUT's default model (OUT/DEFAULT).")] = False,
    favour: Annotated[
        str | None,
        typer.Option(help="A label (e.g. mi) whose probability is weighted up as far as the validation split's "
                     "macro-F1 gains (an operating point kept in the card: label_weights)."),
    ] = None,
) -> None:
    from train.calibration import calibrate, favour_label
    from train.dataset import DataSplit
    from train.metrics import bootstrap_ci, compute_metrics
    from train.relayout import OTHER_LAYOUTS

    if len(members) < 2:
        raise typer.BadParameter("a fused model needs at least two members")
    if favour is not None and favour not in LABEL_KEYS:
        raise typer.BadParameter(f"--favour {favour}: one of {', '.join(LABEL_KEYS)}")
    if name in {m.name.removesuffix(".tflite") for m in members}:
        raise typer.BadParameter(f"--name {name} is a member's name: its card would be overwritten")
    cards = [load_card(m) for m in members]
    split = DataSplit.load(split_file)
    for member, card in zip(members, cards):
        if card.training.get("distinct_images_per_split") != split.summary():
            raise typer.BadParameter(f"{member.name} was not trained on {split_file} (its split summary differs)")
    out.mkdir(parents=True, exist_ok=True)
    card_path = out / f"{name}.card.json"
    # What this run writes in OUT, and what stood there before: put back as it was if the runtime
    # refuses the fusion.
    sources = [p for m in members for p in (m, card_path_for(m)) if p.resolve() != (out / p.name).resolve()]
    written = [card_path] + [out / p.name for p in sources]
    before = {path: path.read_bytes() for path in written if path.is_file()}
    for path in sources:
        shutil.copy(path, out / path.name)
    views = [c.preprocessing.view for c in cards]
    variants = {c.variant for c in cards}
    card = ModelCard(
        name=name,
        architecture="fusion",
        variant=variants.pop() if len(variants) == 1 else "mixed",
        labels=list(LABEL_KEYS),
        preprocessing=cards[0].preprocessing,
        tflite_file="",
        tflite_sha256="",
        training={
            "data": DATA_CREDIT,
            "members": {m.name: {"architecture": c.architecture, "view": c.preprocessing.view, "variant": c.variant,
                                 "sha256": c.tflite_sha256} for m, c in zip(members, cards)},  # fmt: skip
            "fusion": "mean of the members' raw output probabilities, then this card's temperature",
            "split_description": split.description,
            "distinct_images_per_split": split.summary(),
        },
        members=[m.name for m in members],
        notes=notes,
    )
    card.save(card_path)
    try:
        classifier = EcgClassifier.create_from_model_path(card_path)  # checks the members as the runtime does
    except (OSError, ValueError, RuntimeError):  # missing or altered members, no interpreter that runs them
        for path in written:
            if path in before:
                path.write_bytes(before[path])
            else:
                path.unlink(missing_ok=True)
        raise
    data_root = data or Path(split.data_root)

    weights: dict[str, float] = {}

    def measure(records, description: str, transform=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Raw fused probabilities, weighted as the card will say (``weights``, once chosen); a scan
        whose layout was not read keeps its uniform row unweighted (the runtime gives it no label);
        labels; which scans were read."""
        probabilities, read = [], []
        for record in track(records, description=description, transient=True):
            bgr = decode_image(data_root / record.path)
            p, ok = _raw_probabilities(classifier, bgr if transform is None else transform(bgr))
            probabilities.append(p)
            read.append(ok)
        labels = np.array([LABEL_KEYS.index(r.label) for r in records])
        p, read = np.stack(probabilities), np.array(read)
        p[read] = apply_label_weights(p[read], weights)
        return p, labels, read

    val_p, val_y, read = measure(split.records_for("val"), "validation split")
    if favour is not None:
        weights.update(favour_label(val_p[read], val_y[read], favour))  # on the scans read only
        val_p[read] = apply_label_weights(val_p[read], weights)
        console.print(f"--favour {favour}: weight {weights.get(favour, 1.0):.3f} (chosen on the validation split)")
    test_p, test_y, test_read = measure(split.records_for("test"), "test split")
    failures = int((~test_read).sum())
    metrics = compute_metrics(test_y, test_p.argmax(1))
    layout_scores = []
    for layout in OTHER_LAYOUTS.values():
        p, y, _ = measure(split.records_for("test"), f"test split as {layout.name}", layout.make)
        m = compute_metrics(y, p.argmax(1))
        layout_scores.append(LayoutScore(layout.name, layout.description, m.n_images, m.accuracy, m.macro_f1))
    final = replace(
        card,
        label_weights=dict(weights),
        test_metrics=metrics,
        calibration=calibrate(val_p, val_y, test_p, test_y, target_accuracy),
        measured_with=classifier.interpreter_name,
        layout_scores=layout_scores,
        protocol=protocol_figures(protocol, fused_view(views, favour if weights else None)) if protocol else {},
    )
    final.save(card_path)
    if default:
        (out / DEFAULT_POINTER).write_text(card_path.name + "\n")
    ci = bootstrap_ci(test_y, test_p.argmax(1))
    console.print(
        f"{card_path}: members {', '.join(card.members)}; test accuracy {metrics.accuracy:.3f} "
        f"[{ci.accuracy.low:.3f}, {ci.accuracy.high:.3f}], macro-F1 {metrics.macro_f1:.3f} [{ci.macro_f1.low:.3f}, "
        f"{ci.macro_f1.high:.3f}] on {metrics.n_images} images ({classifier.interpreter_name}; layout not read on "
        f"{failures})"
    )
    print_card_figures(final)


if __name__ == "__main__":
    app()
