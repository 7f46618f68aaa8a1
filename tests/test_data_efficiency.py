"""benchmarks/data_efficiency.py end to end at --budget smoke on generated shapes (never ../shared)."""

from __future__ import annotations

import importlib.util
import json
import statistics
import sys
from pathlib import Path

import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from shapes_data import CLASSES, make_shapes  # noqa: E402


def _bench():
    spec = importlib.util.spec_from_file_location(
        "data_efficiency", ROOT / "benchmarks" / "data_efficiency.py"
    )
    mod = importlib.util.module_from_spec(spec)
    sys.modules["data_efficiency"] = mod
    spec.loader.exec_module(mod)
    return mod


def test_absent_data_stops_cleanly(tmp_path: Path, capsys) -> None:
    rc = _bench().main(["--budget", "smoke", "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "o")])
    assert rc == 2
    assert "absent" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_cpu_budget_mixes_every_run_alike(tmp_path: Path) -> None:
    """Issue 24: one n trained long, Table 9's mixing for the teacher and every student, so none_mix is none."""
    bench = _bench()
    b = bench.BUDGETS["cpu"]
    manifest = {"classes": [f"c{i}" for i in range(10)], "pool_per_class": {f"c{i}": 4500 for i in range(10)}}
    specs = bench.build_specs(b, tmp_path, manifest, dict(device="cpu"))
    trained = [s for s in specs if "same_as" not in s]
    assert {s["method"] for s in trained} == {"teacher", "none", "soft", "hard", "control"}
    assert len(trained) == len(b["ns"]) * (1 + 3 * len(b["seeds"]) + 1)
    assert all(s["kw"]["mixup"] == 0.8 and s["kw"]["cutmix"] == 1.0 for s in trained)
    assert all(
        s["same_as"] == s["key"].replace("none_mix", "none") for s in specs if s["method"] == "none_mix"
    )
    for s in trained:  # every run validated at least twice in its final fifth
        epochs, every = s["kw"]["epochs"], s["kw"]["eval_interval"]
        assert epochs // 5 >= 2 * every - 1 and epochs % every == 0
    hard = next(s for s in trained if s["method"] == "hard")
    assert hard["kw"]["teacher_model"] == str(tmp_path / "runs" / "n100" / "teacher" / "last.pt")


def test_convergence_reads_the_final_fifth(tmp_path: Path) -> None:
    rows = [{"epoch": e, "train_loss": 2.0 - 0.01 * min(e, 8)} for e in range(1, 11)]
    for r in rows:
        if r["epoch"] % 2 == 0:
            r["val_top1"] = 10.0 * min(r["epoch"], 8)
    (tmp_path / "metrics.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    c = _bench().convergence(tmp_path)
    assert c["epochs"] == 10 and c["best_val"] == 80.0 and c["last_minus_best"] == 0.0
    assert c["val_rise_last_fifth"] == 0.0  # epochs 9-10: the score at epoch 8 (80) held to the end
    assert c["loss_change_last_fifth"] == pytest.approx((2 * 1.92) / 2 - (1.93 + 1.92) / 2)


def test_one_n_is_drawn_as_bars_with_every_seed(tmp_path: Path) -> None:
    _bench()
    import data_efficiency_report as report

    run = {"val_curve": [[10, 30.0], [20, 40.0]], "loss_curve": [[e, 2.0 - e / 20] for e in range(1, 21)]}
    runs = {
        f"n100_{m}_s{k}": dict(run, n="100", method=m, seed=k)
        for m in ("teacher", "none", "soft")
        for k in (0, 1)
    }
    s = {"images_per_class": 100, "teacher_top1": 57.0, "none_mix": {"val_top1": [47.0, 47.4]}}
    s |= {
        m: {"val_top1": v}
        for m, v in (("none", [47.0, 47.4]), ("soft", [48.0, 48.9]), ("hard", [49.0, 48.2]))
    }
    s |= {"control": {"val_top1": [47.3], "token_cosine_mean": [0.1, 0.9, 0.99]}}
    s["hard"]["token_cosine_mean"] = [0.05, 0.8, 0.93]
    r = {"budget": "cpu", "per_n": {"100": s}, "runs": runs}
    report.plot(r, tmp_path)
    report.plot_convergence(r, tmp_path)
    for png in ("curve.png", "token_cosine.png", "convergence.png"):
        with Image.open(tmp_path / png) as im:
            assert im.size[0] > 300


@pytest.mark.slow(seconds=40)
def test_smoke_budget_end_to_end(tmp_path: Path) -> None:
    bench = _bench()
    data = make_shapes(tmp_path / "data", per_class=16, seed=0)
    extra = make_shapes(tmp_path / "extra", per_class=4, seed=1)
    out = tmp_path / "out"
    argv = ["--budget", "smoke", "--data", str(data), "--out", str(out), "--in-process"]
    assert bench.main(argv) == 0

    # split: fixed validation (last 4 by name), nested training subsets disjoint from it
    split = out / "split"
    for c in CLASSES:
        names = sorted(p.name for p in (data / c).iterdir())
        assert sorted(p.name for p in (split / "val" / c).iterdir()) == names[-4:]
        small = {p.name for p in (split / "n6" / "train" / c).iterdir()}
        big = {p.name for p in (split / "n12" / "train" / c).iterdir()}
        assert len(small) == 6 and len(big) == 12 and small < big and not big & set(names[-4:])

    r = json.loads((out / "results.json").read_text())
    assert set(r["per_n"]) == {"6", "12"} and len(r["runs"]) == 2 * (1 + 4 * 2 + 1)
    for nl, epochs in (("6", 4), ("12", 2)):  # 72 images per run / (n x 3 classes)
        s = r["per_n"][nl]
        assert 0 <= s["teacher_top1"] <= 100
        for m in ("none", "none_mix", "soft", "hard", "control"):
            seeds = 1 if m == "control" else 2  # the control is there for the token cosine: first seed only
            assert len(s[m]["val_top1"]) == seeds and all(0 <= x <= 100 for x in s[m]["val_top1"])
            assert s[m]["epochs"] == [epochs] * seeds and all(g <= 0 for g in s[m]["last_minus_best"])
        for m in ("soft", "hard"):  # paired gain = difference of the seed means, against both baselines
            for base in ("none", "none_mix"):
                diff = statistics.fmean(s[m]["val_top1"]) - statistics.fmean(s[base]["val_top1"])
                assert s[f"gain_vs_{base}"][m]["diff"] == pytest.approx(diff)
            assert len(s[m]["cls"]) == len(s[m]["dist"]) == 2
        for m in ("none", "soft", "hard", "control"):  # convergence evidence of every run
            assert (
                len(s[m]["val_rise_last_fifth"]) == len(s[m]["loss_change_last_fifth"]) == len(s[m]["epochs"])
            )
        for m in ("hard", "control"):  # input of block 0 + 6 blocks of deit_micro
            cos = s[m]["token_cosine_mean"]
            assert len(cos) == 7 and all(-1 <= c < 1 for c in cos)
        assert "token_cosine_mean" not in s["none"]
    c = r["checks"]  # the best distilled gain over the equally augmented none, at any n
    gains = {
        (nl, m): r["per_n"][nl]["gain_vs_none"][m]["diff"] for nl in ("6", "12") for m in ("soft", "hard")
    }
    assert (c["n"], c["better_distilled"]) == max(gains, key=gains.get) and c["baseline"] == "none"
    gain = r["per_n"][c["n"]]["gain_vs_none"][c["better_distilled"]]
    assert c["gain_points"] == gain["diff"] and c["gain_target_met"] == (
        gain["diff"] >= 2 and gain["diff"] > 2 * gain["se"]
    )
    at = r["per_n"][c["n"]]
    control_gap = statistics.fmean(at["control"]["val_top1"]) - statistics.fmean(at["none"]["val_top1"])
    assert c["control_minus_none"] == pytest.approx(control_gap)

    # every run's final checkpoint kept; commands.sh holds the real CLI commands
    assert all((Path(run["run_dir"]) / "last.pt").is_file() for run in r["runs"].values())
    cmds = (out / "commands.sh").read_text().splitlines()
    trains = [c for c in cmds if " -m deit train " in c]
    assert len(trains) == 16  # none_mix is none at <= 25 images/class: the auto recipe mixes there anyway
    assert not any("control_s1" in c or "none_mix" in c for c in trains)
    control = [c for c in trains if "control_s0" in c and "n6" in c][0]
    assert "deit_micro_distilled_patch4_32" in control and "--distillation-type none" in control
    none = [c for c in trains if "none_s0" in c and "n6" in c][0]
    assert "--mixup" not in none + control and "--teacher-model" not in none  # the auto recipe's mixing
    assert s["none_mix"]["val_top1"] == s["none"]["val_top1"]
    hard = [c for c in trains if "hard_s1" in c and "n12" in c][0]
    assert f"--teacher-model {out}/runs/n12/teacher/last.pt" in hard and "--data-cache memory" in hard
    assert sum(" -m deit eval " in c for c in cmds) == 32
    md = (out / "results.md").read_text()
    assert "| 12 | hard |" in md and "hard − none" in md
    assert "val rise, final fifth" in md and "Targets (issue 24)" in md
    for png in ("curve.png", "convergence.png", "token_cosine.png"):
        with Image.open(out / png) as im:
            assert im.size[0] > 300

    # rerun: nothing is trained again; --eval-data re-scores every checkpoint
    assert bench.main([*argv, "--eval-data", str(extra)]) == 0
    cmds2 = (out / "commands.sh").read_text().splitlines()[len(cmds) :]
    assert not any(" -m deit train " in c for c in cmds2)
    assert sum(f"--data {extra}" in c for c in cmds2) == 16  # every trained checkpoint
    r2 = json.loads((out / "results.json").read_text())
    assert all(0 <= run["eval_data_top1"] <= 100 for run in r2["runs"].values())
    assert r2["runs"]["n6_hard_s0"]["val_top1"] == r["runs"]["n6_hard_s0"]["val_top1"]
