"""Metrics files and PNG plots of a run (matplotlib's Agg backend: no display needed)."""

from __future__ import annotations

import csv
import os
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def write_csv(records: Sequence[dict], path: str | Path) -> None:
    """All records as one CSV (columns: union of keys, first-seen order), written atomically."""
    path = Path(path)
    columns: list[str] = []
    for r in records:
        columns.extend(k for k in r if k not in columns)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(records)
    tmp.replace(path)


def pyplot():  # noqa: ANN201 (matplotlib.pyplot, imported on first use: heavy)
    """matplotlib.pyplot with the non-interactive Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str | Path) -> Path:
    """Write the figure atomically (a reader never sees a half-written PNG) and free it."""
    plt = pyplot()
    fig.tight_layout()
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)
    return path


def curves_figure(records: Sequence[dict], title: str = "") -> Any:
    """The figure of :func:`plot_curves` (matplotlib ``Figure``), for tests and notebooks."""
    plt = pyplot()
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.8))
    distilled = any("val_cls_top1" in r for r in records)  # two heads; otherwise the model's one output
    output = "fused (cls+dist)/2" if distilled else "model"
    epochs = [r["epoch"] for r in records]
    ax_loss.plot(epochs, [r.get("train_loss") for r in records], label="train loss")
    if any("val_loss" in r for r in records):
        ev = [r for r in records if "val_loss" in r]
        ax_loss.plot([r["epoch"] for r in ev], [r["val_loss"] for r in ev], label=f"val loss ({output})")
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("loss")
    ax_loss.legend()
    for key, label in (
        ("val_fused_top1", output),
        ("val_cls_top1", "class head"),
        ("val_dist_top1", "distillation head"),
        ("val_ema_top1", "EMA"),
    ):
        ev = [r for r in records if key in r]
        if ev:
            ax_acc.plot(
                [r["epoch"] for r in ev],
                [r[key] for r in ev],
                label=label,
                marker="." if len(ev) < 30 else None,
            )
    teacher = [r["val_teacher_top1"] for r in records if "val_teacher_top1" in r]
    if teacher:  # the frozen teacher's accuracy: the reference the student is distilled towards
        ax_acc.axhline(teacher[-1], color="black", ls="--", lw=1, label=f"teacher ({teacher[-1]:.1f} %)")
    for ax in (ax_loss, ax_acc):
        ax.xaxis.get_major_locator().set_params(integer=True)  # epochs are whole numbers
    ax_acc.set_xlabel("epoch")
    ax_acc.set_ylabel("val top-1 (%)")
    ax_acc.legend()
    if title:
        fig.suptitle(title)
    return fig


def plot_curves(records: Sequence[dict], path: str | Path, title: str = "") -> Path | None:
    """Training loss and validation top-1 per epoch: the fused output and both heads of a distilled DeiT
    (the single output of any other model), the EMA, and the teacher's accuracy as a reference line."""
    if not records:
        return None
    return _save(curves_figure(records, title), path)


def plot_token_cosine(
    per_layer: dict[str, Sequence[float]],
    path: str | Path,
    title: str = "",
    ylabel: str = "cos(class token, distillation token)",
) -> Path:
    """Cosine similarity between the class token and the second token (the distillation token, unless
    ``ylabel`` and the legend say otherwise) at the input and after each block."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for label, values in per_layer.items():
        ax.plot(range(len(values)), values, marker="o", label=label)
    ax.set_xlabel("layer (0 = input of the first block)")
    ax.xaxis.get_major_locator().set_params(integer=True)  # layers are whole numbers
    ax.set_ylabel(ylabel)
    ax.set_ylim(min(0.0, min(min(v) for v in per_layer.values()) - 0.05), 1.02)
    ax.axhline(1.0, color="grey", lw=0.5, ls="--")
    if len(per_layer) > 1:
        ax.legend()
    # a long title (the demo names both tokens) is wrapped rather than cut off at the figure's edge
    ax.set_title(textwrap.fill(title or "class vs distillation token", 55), fontsize=10)
    return _save(fig, path)
