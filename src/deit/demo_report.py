"""The `deit demo` report: every run's last checkpoint scored on the held-out split, the Table-3-style table
(``table.json`` / ``table.md``) and the training-curve figure. :func:`deit.demo.run_demo` calls these after
the five training runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from deit.config import TrainConfig

TITLES = {
    "teacher": "teacher (convnet)",
    "no_distillation": "student, no distillation",
    "soft_distillation": "student, soft distillation",
    "hard_distillation": "student, hard distillation",
    "control": "control: two class tokens, no teacher",
}


# ---------------------------------------------------------------------------------------------- evaluation
def evaluate_runs(out: Path, cfgs: dict[str, TrainConfig], device: str = "cpu") -> tuple[dict, dict, dict]:
    """(metrics per run, token cosine per distilled run, dataset info): every run's last.pt on the test split."""
    from torch.utils.data import DataLoader

    from deit.analysis.tokens import token_cosine
    from deit.builders import build_train_set
    from deit.checkpoint import load_model_from_checkpoint
    from deit.data import build_dataset, build_transform
    from deit.distributed import resolve_device
    from deit.engine import evaluate

    dev = resolve_device(device)
    metrics: dict[str, dict] = {}
    cosine: dict[str, dict] = {}
    info: dict[str, Any] = {}
    for run, cfg in cfgs.items():
        model, meta = load_model_from_checkpoint(out / run / "last.pt", map_location=dev)
        img_size = int(meta["img_size"])
        tf = build_transform(False, img_size, meta["data_mean"], meta["data_std"])
        test = build_dataset(
            cfg.data, "val", tf, val_split=cfg.val_split, seed=cfg.split_seed, img_size=img_size
        )
        loader = DataLoader(test, batch_size=256, num_workers=0)
        m = evaluate(model, loader, dev)
        metrics[run] = {k: m[k] for k in sorted(m) if k.endswith(("top1", "top5")) or k == "samples"}
        if getattr(model, "distilled", False):
            cosine[run] = token_cosine(model, loader, device=dev).to_dict()
        if not info:
            pool, train = build_train_set(cfg, img_size)
            info = {
                "dataset": "digits (scikit-learn)",
                "train_images": len(train),
                "train_pool": len(pool),
                "train_per_class": cfg.train_per_class,
                "test_images": len(test),
                "img_size": img_size,
                "classes": len(test.classes),
            }
    return metrics, cosine, info


def _row(key: str, method: str, run: str, output: str, metrics: dict, cfg: TrainConfig) -> dict:
    label = cfg.distillation_type == "none" or cfg.distillation_alpha < 1
    return {
        "key": key,
        "method": method,
        "run": run,
        "model": cfg.model,
        "output": output,
        "label": label,
        "teacher": cfg.distillation_type != "none",
        "top1": metrics[run][f"{output}_top1"],
        "top5": metrics[run][f"{output}_top5"],
    }


def build_table(
    cfgs: dict[str, TrainConfig], metrics: dict, cosine: dict, info: dict, settings: dict[str, Any], seed: int
) -> dict:
    """The table as plain data (what ``table.json`` holds): rows in the order of the paper's Table 3.

    ``settings``: the demo's settings as plain data (recorded in the table); ``settings["headline"]`` names
    the distillation whose gain the check reports."""
    c = cfgs
    rows = [
        _row(
            "teacher", f"teacher: {c['teacher'].model} (convnet)", "teacher", "fused", metrics, c["teacher"]
        ),
        _row(
            "no_distillation",
            "DeiT, no distillation",
            "no_distillation",
            "fused",
            metrics,
            c["no_distillation"],
        ),
    ]
    for kind in ("soft", "hard"):
        run = f"{kind}_distillation"
        for output, name in (
            ("cls", "class embedding"),
            ("dist", "distil. embedding"),
            ("fused", "class+distillation"),
        ):
            rows.append(
                _row(f"{kind}_{output}", f"DeiT-distilled, {kind}: {name}", run, output, metrics, c[run])
            )
    rows.append(
        _row("control", "control: two class tokens, no teacher", "control", "fused", metrics, c["control"])
    )
    head = settings["headline"]
    none = _get(rows, "no_distillation")
    hard_cos, control_cos = (cosine[r]["per_layer"] for r in ("hard_distillation", "control"))
    return {
        "format": "deit-demo-v1",
        "seed": seed,
        "data": info,
        "settings": settings,
        "rows": rows,
        "token_cosine": cosine,
        "headline": head,
        "gains": {kind: _get(rows, f"{kind}_fused") - none for kind in ("soft", "hard")},
        # the same architecture (two tokens, two heads) without a teacher: what the teacher itself adds
        "gains_vs_control": {
            kind: _get(rows, f"{kind}_fused") - _get(rows, "control") for kind in ("soft", "hard")
        },
        "checks": {
            "distillation_gain": _get(rows, f"{head}_fused") > none,
            "hard_cosine_rises_below_1": _rises_below_one(hard_cos),
            "control_cosine_above_hard": control_cos[-1] > hard_cos[-1],
        },
    }


def plain(value: Any) -> Any:
    """``value`` with every tuple a list, as JSON reads it back (dicts and lists recursively)."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def _get(rows: Sequence[dict], key: str) -> float:
    return next(r["top1"] for r in rows if r["key"] == key)


def _rises_below_one(per_layer: Sequence[float]) -> bool:
    return per_layer[-1] > per_layer[0] and max(per_layer) < 1.0


def format_table(table: dict) -> str:
    """Markdown: the accuracy table, laid out like the paper's Table 3, then the per-layer token cosine."""
    d = table["data"]
    lines = [
        f"DeiT distillation demo: {d['dataset']}, {d['train_images']} train"
        + (f" ({d['train_per_class']} per class of {d['train_pool']})" if d.get("train_per_class") else "")
        + f" / {d['test_images']} held-out test images, {d['img_size']} px, seed {table['seed']}",
        "",
        "| method | student | label | teacher | test top-1 (%) |",
        "|---|---|:---:|:---:|---:|",
    ]
    for r in table["rows"]:
        model = "" if r["key"] == "teacher" else r["model"]
        lines.append(
            f"| {r['method']} | {model} | {'yes' if r['label'] else '-'} | "
            f"{'yes' if r['teacher'] else '-'} | {r['top1']:.2f} |"
        )
    cos = table["token_cosine"]
    hard, control = cos["hard_distillation"], cos["control"]
    depth = len(hard["per_layer"])
    lines += [
        "",
        f"cos(class token, second token) per layer, mean over {hard['samples']} test images: the hard-distilled "
        "student's distillation token, and the control's second class token (paper: 0.93 vs 0.999):",
        "",
        "| run | " + " | ".join(["input"] + [f"block {i}" for i in range(1, depth)]) + " |",
        "|---|" + "---:|" * depth,
    ]
    for name, c in (("hard distillation", hard), ("control: two class tokens", control)):
        lines.append(f"| {name} | " + " | ".join(f"{v:.3f}" for v in c["per_layer"]) + " |")
    lines += [
        "",
        f"class and distillation heads agree on {100 * hard['head_agreement']:.1f}% of the test images "
        f"(hard); the control's two heads on {100 * control['head_agreement']:.1f}%.",
    ]
    checks, rows, head = table["checks"], table["rows"], table["headline"]
    hl, hc = hard["per_layer"], control["per_layer"]
    gains = ", ".join(f"{k} {v:+.2f}" for k, v in table["gains"].items())
    vs_control = ", ".join(f"{k} {v:+.2f}" for k, v in table["gains_vs_control"].items())
    lines.append(
        f"the paper's claims on this run: {head}-distilled class+distillation ({_get(rows, f'{head}_fused'):.2f}) "
        f"> no distillation ({_get(rows, 'no_distillation'):.2f}): "
        f"{'yes' if checks['distillation_gain'] else 'no'} (gains in points: {gains}; over the control's two "
        f"class tokens, same architecture without a teacher: {vs_control}); the hard student's "
        f"cosine rises with depth and stays < 1 ({hl[0]:.3f} -> {hl[-1]:.3f}): "
        f"{'yes' if checks['hard_cosine_rises_below_1'] else 'no'}; the control's two class tokens end closer "
        f"({hc[-1]:.3f}): {'yes' if checks['control_cosine_above_hard'] else 'no'}"
    )
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------------- plots
def objective(cfg: TrainConfig) -> str:
    """The training loss of a run, in words: the runs of the demo minimise different objectives."""
    label = "label CE" + (" (mixed)" if cfg.mixup > 0 or cfg.cutmix > 0 else "")
    a = cfg.distillation_alpha
    if cfg.distillation_type == "soft":
        return f"{1 - a:g}·{label} + {a:g}·KL(teacher, τ {cfg.distillation_tau:g})"
    if cfg.distillation_type == "hard":
        return f"{1 - a:g}·{label} + {a:g}·CE(teacher argmax)"
    return label + (", mean of both heads" if "distilled" in cfg.model else "")


def plot_demo_curves(out: Path, cfgs: dict[str, TrainConfig], path: Path) -> Path:
    """Training loss and held-out top-1 per epoch of every run in one figure (display only: no selection).

    Each loss curve is its run's own objective (named in the legend): the distilled students add a teacher
    term, so their losses are not comparable with the others'; the accuracies are."""
    from deit.checkpoint import read_jsonl
    from deit.plots import pyplot

    plt = pyplot()
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(12, 4.4))
    for run, cfg in cfgs.items():
        rec = read_jsonl(out / run / "metrics.jsonl")
        ax_loss.plot([r["epoch"] for r in rec], [r["train_loss"] for r in rec], label=objective(cfg))
        ev = [r for r in rec if "val_top1" in r]
        ax_acc.plot([r["epoch"] for r in ev], [r["val_top1"] for r in ev], label=TITLES[run])
    ax_loss.set(xlabel="epoch", ylabel="training loss", title="each run's own objective (not comparable)")
    ax_loss.legend(fontsize=7)
    ax_acc.set(
        xlabel="epoch", ylabel="held-out top-1 (%), fused output", title="held-out accuracy (comparable)"
    )
    for ax in (ax_loss, ax_acc):
        ax.xaxis.get_major_locator().set_params(integer=True)  # epochs are whole numbers
    ax_acc.set_ylim(bottom=max(0.0, ax_acc.get_ylim()[0]))
    ax_acc.legend(fontsize=8)
    fig.suptitle("deit demo: training curves (digits)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# the second token of each distilled run, for the token-cosine legend
SECOND_TOKEN = {
    "soft_distillation": "distillation token",
    "hard_distillation": "distillation token",
    "control": "second class token",
}


def plot_demo_token_cosine(table: dict, path: Path) -> Path:
    """cos(class token, second token) per layer of every distilled run in ``table`` (``table.json``)."""
    from deit.plots import plot_token_cosine

    cosine = table["token_cosine"]
    return plot_token_cosine(
        {f"{TITLES[run]}: {SECOND_TOKEN[run]}": c["per_layer"] for run, c in cosine.items()},
        path,
        title=f"class token vs second token, digits test (seed {table['seed']})",
        ylabel="cos(class token, second token)",
    )


__all__ = [
    "build_table",
    "evaluate_runs",
    "format_table",
    "objective",
    "plain",
    "plot_demo_curves",
    "plot_demo_token_cosine",
]
