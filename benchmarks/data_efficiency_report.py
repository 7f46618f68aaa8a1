"""Tables, results.json and plots of benchmarks/data_efficiency.py (reads the cached scores of its runs)."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

import reproduce_cifar10 as rc

STUDENTS = ("none", "none_mix", "soft", "hard", "control")
DISTILLED = ("soft", "hard")
# ``none`` has the distilled students' augmentation (the auto recipe mixes from the data, never the teacher;
# ``mix_all`` mixes every run): the headline baseline. ``none_mix`` adds Mixup/CutMix where ``none`` has none.
BASELINES = ("none", "none_mix")
LABELS = {
    "teacher": "CNN teacher",
    "none": "no distillation",
    "none_mix": "no distillation, mixed",
    "soft": "soft distillation (fused)",
    "hard": "hard distillation (fused)",
    "control": "control: two class tokens",
}
GAIN_TARGET = 2.0  # points over the equally augmented student without a teacher, > 2 SE (issue 24)


def _load(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def collect(specs: list[dict], out: Path, manifest: dict, budget: dict, eval_data: Path | None) -> dict:
    """Per-run scores, then per-n summaries (mean, std, paired gains over seeds)."""
    from data_efficiency import convergence, n_label

    runs: dict[str, dict] = {}
    for s in specs:
        key = s["key"]
        scored = s.get("same_as", key)  # none_mix where the auto recipe mixes anyway: none's scores
        val = _load(out / "evals" / "val" / f"{scored}.json")
        train = _load(out / "evals" / "train" / f"{scored}.json")
        r = {"n": n_label(s["n"]), "method": s["method"], "seed": s["seed"], "run_dir": str(s["dir"])}
        r |= {"val_top1": val["top1"], "train_top1": train["top1"]}
        r |= {h: val[f"{h}_top1"] for h in ("cls", "dist") if f"{h}_top1" in val}
        r |= convergence(s["dir"])
        tok = _load(out / "analysis" / f"tokens_{key}.json")
        if tok is not None:
            r["token_cosine"] = tok["per_layer"]
        if eval_data is not None:
            r["eval_data_top1"] = _load(out / "evals" / "extra" / f"{scored}.json")["top1"]
        runs[key] = r
    pool = min(manifest["pool_per_class"].values())
    per_n: dict[str, dict] = {}
    for n in budget["ns"]:
        nl = n_label(n)
        mine = [r for r in runs.values() if r["n"] == nl]
        by = {
            m: sorted((r for r in mine if r["method"] == m), key=lambda r: r["seed"])
            for m in ("teacher", *STUDENTS)
        }
        summ: dict = {"images_per_class": n or pool, "teacher_top1": by["teacher"][0]["val_top1"]}
        for m in STUDENTS:
            summ[m] = {
                k: [r[k] for r in by[m]]
                for k in (
                    "val_top1",
                    "train_top1",
                    "epochs",
                    "last_minus_best",
                    "val_rise_last_fifth",
                    "loss_change_last_fifth",
                    "cls",
                    "dist",
                    "eval_data_top1",
                )
                if by[m] and k in by[m][0]
            }
            if by[m] and "token_cosine" in by[m][0]:
                layers = list(zip(*(r["token_cosine"] for r in by[m])))
                summ[m]["token_cosine_mean"] = [statistics.fmean(x) for x in layers]
        summ["teacher"] = {
            k: by["teacher"][0][k]
            for k in ("val_top1", "train_top1", "epochs", "last_minus_best", "val_rise_last_fifth",
                      "loss_change_last_fifth")
        }  # fmt: skip
        for base in BASELINES:
            summ[f"gain_vs_{base}"] = {
                m: rc.compare(summ[base]["val_top1"], summ[m]["val_top1"], paired=True) for m in DISTILLED
            }
        per_n[nl] = summ
    return {"split": manifest, "runs": runs, "per_n": per_n, "checks": checks(per_n, budget)}


def checks(per_n: dict, budget: dict) -> dict:
    """The issue's targets, evaluated on the numbers (reported whatever they are): the best distilled gain
    over ``none`` at any n; at that n the teacher above the students, the control (first seed) not above
    ``none`` beyond noise (mean + 2 SE over its seeds), the hard student's token cosine rising and < 1."""
    best_n, best = max(
        ((nl, m) for nl in per_n for m in DISTILLED), key=lambda k: per_n[k[0]]["gain_vs_none"][k[1]]["diff"]
    )
    s = per_n[best_n]
    g = s["gain_vs_none"][best]
    se_ok = not math.isnan(g["se"]) and g["diff"] > 2 * g["se"]
    none = s["none"]["val_top1"]
    none_se = statistics.stdev(none) / math.sqrt(len(none)) if len(none) > 1 else 0.0
    control = statistics.fmean(s["control"]["val_top1"])
    hard_cos = s["hard"].get("token_cosine_mean", [])
    return {
        "n": best_n,
        "better_distilled": best,
        "baseline": "none",
        "gain_points": g["diff"],
        "gain_se": g["se"],
        "gain_target_met": bool(g["diff"] >= GAIN_TARGET and se_ok),
        "teacher_above_students": bool(
            s["teacher_top1"] > statistics.fmean(s[best]["val_top1"])
            and s["teacher_top1"] > statistics.fmean(none)
        ),
        "control_minus_none": control - statistics.fmean(none),
        "control_no_better": bool(control <= statistics.fmean(none) + 2 * none_se),
        "hard_cosine_rises_below_1": bool(hard_cos and hard_cos[-1] > hard_cos[0] and max(hard_cos) < 1.0),
    }


def _ms(xs: list[float], digits: int = 1) -> str:
    return rc.fmt(xs, digits)


def _gain(c: dict) -> str:
    se = "n/a" if math.isnan(c["se"]) else f"{c['se']:.1f}"
    return f"{c['diff']:+.1f} ± {se}" + (" *" if c["beyond_noise"] else "")


def markdown(r: dict) -> str:
    pn, st = r["per_n"], r["settings"]
    lines = [
        f"### CIFAR-10 data-efficiency curve ({r['budget']} budget)",
        "",
        f"Validation: {r['split']['val_per_class']} images per class, fixed ({r['split']['rule']}). Student "
        f"`{st['student']}` (patch 4, 32 px), teacher `{st['teacher']}`, seeds {st['seeds']}, auto recipe"
        + (
            ", with Table 9's Mixup 0.8 / CutMix 1.0 for the teacher and every student"
            if st.get("mix_all")
            else ""
        )
        + "; final (last-epoch) checkpoints scored with `deit eval`. Top-1 % (mean ± std over seeds); gains are "
        "paired over seeds (distilled − no distillation, ± standard error; * = beyond 2 SE). `none` is the "
        "student without a teacher, augmented as the distilled students are (the auto recipe mixes from the "
        "data, never the teacher: docs/RECIPES.md); `none_mix` has Mixup 0.8 / CutMix 1.0 (the `none` run where "
        "`none` is mixed already); the control (first seed only) is there for the token cosine.",
        "",
        "| images/class | "
        + " | ".join(LABELS[m] for m in ("teacher", *STUDENTS))
        + " | soft − none | hard − none | soft − none_mix | hard − none_mix |",
        "|---:|" + "---:|" * 10,
    ]
    for nl, s in pn.items():
        cells = [f"{s['teacher_top1']:.1f}"] + [_ms(s[m]["val_top1"]) for m in STUDENTS]
        cells += [_gain(s[f"gain_vs_{b}"][m]) for b in BASELINES for m in DISTILLED]
        lines.append(f"| {nl} | " + " | ".join(cells) + " |")
    lines += ["", "**Heads** (top-1 %)", "", "| images/class | soft cls | soft dist | soft fused | hard cls | "
              "hard dist | hard fused |", "|---:|" + "---:|" * 6]  # fmt: skip
    for nl, s in pn.items():
        cells = [_ms(s[m][h]) for m in DISTILLED for h in ("cls", "dist", "val_top1")]
        lines.append(f"| {nl} | " + " | ".join(cells) + " |")
    lines += ["", "**Convergence**: epochs, final train top-1 (clean images of the run's own subset), last − best "
              "validation top-1 during training (0 = still at its best at the end), the validation rise over the "
              "final fifth of the run (last − the score at its start: ~0 = stopped rising) and the change of the "
              "mean training loss from the fifth before to the final fifth (~0 = plateaued)", "",
              "| images/class | run | epochs | train top-1 | val top-1 | last − best | val rise, final fifth | "
              "loss change, final fifth |", "|---:|---|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for nl, s in pn.items():
        t = s["teacher"]
        lines.append(f"| {nl} | teacher | {t['epochs']} | {t['train_top1']:.1f} | {t['val_top1']:.1f} | "
                     f"{t['last_minus_best']:.1f} | {t['val_rise_last_fifth']:+.1f} | "
                     f"{t['loss_change_last_fifth']:+.3f} |")  # fmt: skip
        for m in STUDENTS:
            x = s[m]
            lines.append(f"| {nl} | {m} | {x['epochs'][0]} | {_ms(x['train_top1'])} | {_ms(x['val_top1'])} | "
                         f"{_ms(x['last_minus_best'])} | {_ms(x['val_rise_last_fifth'])} | "
                         f"{_ms(x['loss_change_last_fifth'], 3)} |")  # fmt: skip
    lines += ["", "**Token cosine** cos(class token, distillation token) per layer (0 = input of block 0), mean "
              "over seeds: hard-distilled student vs the control (second token trained on the labels; paper: "
              "0.93 vs 0.999 at the last layer)", ""]  # fmt: skip
    depth = max(len(s["hard"].get("token_cosine_mean", [])) for s in pn.values())
    lines += [
        "| images/class | run | " + " | ".join(map(str, range(depth))) + " |",
        "|---:|---|" + "---:|" * depth,
    ]
    for nl, s in pn.items():
        for m in ("hard", "control"):
            cos = s[m].get("token_cosine_mean", [])
            lines.append(f"| {nl} | {m} | " + " | ".join(f"{c:.3f}" for c in cos) + " |")
    if any("eval_data_top1" in s["none"] for s in pn.values()):
        lines += ["", f"**--eval-data** {r.get('eval_data')} (top-1 %)", "",
                  "| images/class | " + " | ".join(STUDENTS) + " |", "|---:|" + "---:|" * len(STUDENTS)]  # fmt: skip
        for nl, s in pn.items():
            lines.append(f"| {nl} | " + " | ".join(_ms(s[m]["eval_data_top1"]) for m in STUDENTS) + " |")
    c = r["checks"]
    lines += [
        "",
        f"Targets (issue 24), at the n with the largest distilled gain (n = {c['n']}): better distilled "
        f"student = {c['better_distilled']}, gain over `none` (the same augmentation, no teacher) "
        f"{c['gain_points']:+.2f} points (SE {c['gain_se']:.2f}): ≥ {GAIN_TARGET:g} and > 2 SE: "
        f"{'yes' if c['gain_target_met'] else 'no'}; teacher above both: "
        f"{'yes' if c['teacher_above_students'] else 'no'}; control − none {c['control_minus_none']:+.2f}, "
        f"no better than none (≤ its mean + 2 SE): {'yes' if c['control_no_better'] else 'no'}; hard token "
        f"cosine rises with depth and stays < 1: {'yes' if c['hard_cosine_rises_below_1'] else 'no'}.",
        "",
        f"Time: {r['total_wall_s'] / 60:.1f} min wall-clock for this invocation (--jobs {st['jobs']}; finished "
        "steps are skipped on a rerun).",
    ]
    return "\n".join(lines) + "\n"


def plot(r: dict, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pn = list(r["per_n"].values())
    xs = [s["images_per_class"] for s in pn]
    if len(pn) == 1:
        _plot_one_n(r, out, plt)
    else:
        _plot_curve(r, out, plt, pn, xs)
    _plot_tokens(r, out, plt)


def _plot_one_n(r: dict, out: Path, plt: object) -> None:
    """One n: a bar per run (mean over seeds), every seed a dot, the std as an error bar."""
    s = next(iter(r["per_n"].values()))
    mixed_apart = s["none_mix"]["val_top1"] != s["none"]["val_top1"]  # else none_mix is the none run
    methods = ["teacher", "none", *(["none_mix"] if mixed_apart else []), "soft", "hard", "control"]
    colors = dict(teacher="gray", none="C2", none_mix="C4", soft="C1", hard="C0", control="C3")
    fig, ax = plt.subplots(figsize=(6, 4))
    for i, m in enumerate(methods):
        vals = [s["teacher_top1"]] if m == "teacher" else s[m]["val_top1"]
        mean, sd = rc.mean_std(vals)
        ax.bar(i, mean, yerr=0.0 if math.isnan(sd) else sd, color=colors[m], alpha=0.6, capsize=4)
        ax.plot([i] * len(vals), vals, "k.", ms=5)
        ax.text(i, max(vals) + 0.5, f"{mean:.1f}", ha="center", fontsize=8)
    ax.set_xticks(range(len(methods)), [LABELS[m].replace(" (fused)", "\n(fused)").replace(": ", ":\n") for m in methods],
                  fontsize=7)  # fmt: skip
    lo = min(min(s[m]["val_top1"]) for m in methods[1:])
    ax.set_ylim(max(0.0, lo - 10), s["teacher_top1"] + 5)
    ax.set_ylabel("validation top-1 (%)")
    ax.set_title(f"CIFAR-10, {s['images_per_class']} images per class ({r['budget']} budget); dots: seeds")
    fig.tight_layout()
    fig.savefig(out / "curve.png", dpi=120)
    plt.close(fig)


def _plot_curve(r: dict, out: Path, plt: object, pn: list[dict], xs: list[int]) -> None:
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(xs, [s["teacher_top1"] for s in pn], marker="s", color="gray", label=LABELS["teacher"])
    for m, color in zip(STUDENTS, ("C2", "C4", "C1", "C0", "C3")):
        ms = [rc.mean_std(s[m]["val_top1"]) for s in pn]
        mean = [x for x, _ in ms]
        std = [0.0 if math.isnan(sd) else sd for _, sd in ms]
        ax.plot(xs, mean, marker="o", color=color, label=LABELS[m])
        ax.fill_between(
            xs, [u - v for u, v in zip(mean, std)], [u + v for u, v in zip(mean, std)], color=color, alpha=0.2
        )
    ax.set_xscale("log")
    ax.set_xticks(xs, [str(x) for x in xs])
    ax.minorticks_off()
    ax.set_xlabel("training images per class (log scale)")
    ax.set_ylabel("validation top-1 (%)")
    ax.set_title(f"data efficiency ({r['budget']} budget)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "curve.png", dpi=120)
    plt.close(fig)


def _plot_tokens(r: dict, out: Path, plt: object) -> None:
    fig, ax = plt.subplots(figsize=(6, 4))
    for i, (nl, s) in enumerate(r["per_n"].items()):
        for m, ls in (("hard", "-"), ("control", "--")):
            cos = s[m].get("token_cosine_mean")
            if cos:
                ax.plot(range(len(cos)), cos, ls=ls, marker="o", ms=3, color=f"C{i}", label=f"n={nl} {m}")
    ax.set_xlabel("layer (0 = input of block 0)")
    ax.set_ylabel("cos(class token, 2nd token)")
    ax.set_title("hard distillation (solid) vs two class tokens (dashed)")
    ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    fig.savefig(out / "token_cosine.png", dpi=120)
    plt.close(fig)


def plot_convergence(r: dict, out: Path) -> None:
    """``convergence.png``: validation top-1 and training loss per epoch, mean over seeds, every n and run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, loss) = plt.subplots(1, 2, figsize=(10, 4))
    methods = ("teacher", "none", "soft", "hard", "control")
    styles = dict(zip(methods, ("gray", "C2", "C1", "C0", "C3")))
    for i, nl in enumerate(r["per_n"]):
        for m in methods:
            runs = [x for x in r["runs"].values() if x["n"] == nl and x["method"] == m]
            if not runs:
                continue
            for key, ax in (("val_curve", top), ("loss_curve", loss)):
                curves = [dict(map(tuple, x[key])) for x in runs]
                epochs = sorted(set.intersection(*(set(c) for c in curves)))
                ys = [statistics.fmean(c[e] for c in curves) for e in epochs]
                ax.plot(epochs, ys, color=styles[m], ls=("-", "--", ":", "-.")[i % 4], lw=1,
                        label=f"n={nl} {LABELS.get(m, m)} ({len(runs)} seed{'s' * (len(runs) > 1)})")  # fmt: skip
    top.set_xlabel("epoch")
    top.set_ylabel("validation top-1 (%)")
    loss.set_xlabel("epoch")
    loss.set_ylabel("training loss (each run's own objective)")
    top.set_title("validation top-1, mean over seeds")
    loss.set_title("training loss, mean over seeds")
    top.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(out / "convergence.png", dpi=120)
    plt.close(fig)


def write(r: dict, out: Path) -> None:
    md = markdown(r)
    (out / "results.md").write_text(md)
    (out / "results.json").write_text(json.dumps(r, indent=1))
    print(md)
    plot(r, out)
    plot_convergence(r, out)
