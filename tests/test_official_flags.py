"""Command lines of the official DeiT repository (README_deit.md, main.py) go through `deit train`/`deit eval`."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
import torch
from PIL import Image

from deit.checkpoint import save_checkpoint
from deit.cli.main import build_parser, main
from deit.config import config_from_args
from deit.errors import ConfigError
from deit.official_flags import OFFICIAL_FLAGS, SAME_AS_OURS, mapping_table, translate
from deit.teacher import build_classifier

# every option of the official main.py (facebookresearch/deit, main branch), by name
MAIN_PY = """
--batch-size --epochs --bce-loss --unscale-lr --model --input-size --drop --drop-path --model-ema
--no-model-ema --model-ema-decay --model-ema-force-cpu --opt --opt-eps --opt-betas --clip-grad --momentum
--weight-decay --sched --lr --lr-noise --lr-noise-pct --lr-noise-std --warmup-lr --min-lr --decay-epochs
--warmup-epochs --cooldown-epochs --patience-epochs --decay-rate --dr --color-jitter --aa --smoothing
--train-interpolation --repeated-aug --no-repeated-aug --train-mode --no-train-mode --ThreeAugment --src
--reprob --remode --recount --resplit --mixup --cutmix --cutmix-minmax --mixup-prob --mixup-switch-prob
--mixup-mode --teacher-model --teacher-path --distillation-type --distillation-alpha --distillation-tau
--cosub --finetune --attn-only --data-path --data-set --inat-category --output_dir --device --seed --resume
--start_epoch --eval --eval-crop-ratio --dist-eval --num_workers --pin-mem --no-pin-mem --distributed
--world_size --dist_url
""".split()

# README_deit.md's command lines, verbatim after the launcher (torch.distributed.launch / submitit)
README_TRAIN = [
    "--model deit_small_patch16_224 --batch-size 256 --data-path /path/to/imagenet --output_dir /path/to/save",
    "--model deit_tiny_patch16_224 --batch-size 256 --data-path /path/to/imagenet --output_dir /path/to/save",
    "--model deit_base_patch16_224 --data-path /path/to/imagenet",
    "--model deit_base_distilled_patch16_224 --distillation-type hard --teacher-model regnety_160 "
    "--teacher-path https://dl.fbaipublicfiles.com/deit/regnety_160-a5fe301d.pth --use_volta32",
    "--model deit_base_patch16_384 --batch-size 32 --finetune "
    "https://dl.fbaipublicfiles.com/deit/deit_base_patch16_224-b5f2ef4d.pth --input-size 384 --use_volta32 "
    "--nodes 2 --lr 5e-6 --weight-decay 1e-8 --epochs 30 --min-lr 5e-6",
]
README_EVAL = [
    "--eval --resume https://dl.fbaipublicfiles.com/deit/deit_base_patch16_224-b5f2ef4d.pth "
    "--data-path /path/to/imagenet",
    "--eval --resume https://dl.fbaipublicfiles.com/deit/deit_small_patch16_224-cd65a155.pth "
    "--model deit_small_patch16_224 --data-path /path/to/imagenet",
    "--eval --resume https://dl.fbaipublicfiles.com/deit/deit_tiny_patch16_224-a1311bcf.pth "
    "--model deit_tiny_patch16_224 --data-path /path/to/imagenet",
    "--eval --model deit_base_distilled_patch16_224 "
    "--resume https://dl.fbaipublicfiles.com/deit/deit_base_distilled_patch16_224-df68dfff.pth",
    "--eval --model deit_base_patch16_384 --input-size 384 "
    "--resume https://dl.fbaipublicfiles.com/deit/deit_base_patch16_384-8de9b5d1.pth",
]
SUBMITIT_ONLY = {"--use_volta32": 0, "--nodes": 1}  # run_with_submitit.py's own flags, not main.py's


@pytest.fixture(scope="module")
def imagenet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny ImageNet-layout folder (train/ and val/, two classes)."""
    root = tmp_path_factory.mktemp("imagenet")
    for split, n in (("train", 6), ("val", 2)):
        for c, colour in enumerate([(230, 20, 20), (20, 20, 230)]):
            folder = root / split / f"n0{c}"
            folder.mkdir(parents=True)
            for i in range(n):
                Image.new("RGB", (40, 40), tuple(max(0, v - 15 * i) for v in colour)).save(
                    folder / f"{i}.jpg"
                )
    return root


def localise(line: str, data: Path, files: dict[str, Path], out: Path) -> list[str]:
    """The command line with local files for URLs and /path/to/..., submitit's own flags removed."""
    argv = shlex.split(line.replace("/path/to/imagenet", str(data)).replace("/path/to/save", str(out)))
    url = [a.rsplit("/", 1)[-1] for a in argv]
    argv = [str(files.get(u, out / u)) if a.startswith("https://") else a for a, u in zip(argv, url)]
    kept, skip = [], 0
    for a in argv:
        if skip:
            skip -= 1
        elif a in SUBMITIT_ONLY:
            skip = SUBMITIT_ONLY[a]
        else:
            kept.append(a)
    if "--data-path" not in kept:  # main.py's default --data-path is the authors' cluster path
        kept += ["--data-path", str(data)]
    return kept


def test_every_main_py_flag_is_in_the_table_or_ours() -> None:
    table = {s for f in OFFICIAL_FLAGS for s in f.flags}
    missing = [f for f in MAIN_PY if f not in table and f not in SAME_AS_OURS]
    assert not missing, missing
    train_options = set(build_parser()._subparsers._group_actions[0].choices["train"]._option_string_actions)
    assert set(SAME_AS_OURS) <= train_options  # spelled like ours: really ours


def _sample(flag: str) -> list[str]:
    entry = next((f for f in OFFICIAL_FLAGS if flag in f.flags), None)
    nargs = SAME_AS_OURS.get(flag) if entry is None else (0 if entry.type is None else entry.nargs or 1)
    values = {"--cutmix-minmax": ["0.2", "0.8"], "--opt-betas": ["0.9", "0.95"], "--lr-noise": ["0.4", "0.9"]}
    if nargs == 0:
        return [flag]
    if flag in values:
        return [flag, *values[flag]]
    typ = entry.type if entry is not None else None
    text = {"--data-set": "INAT", "--dist_url": "tcp://host:1234", "--start_epoch": "5"}.get(flag)
    if text is None:
        text = "3" if typ is int else "0.5" if typ is float else None
    if text is None:  # one of ours: a value its parser accepts
        text = {
            "--model": "deit_nano_patch4_16",
            "--opt": "sgd",
            "--sched": "step",
            "--aa": "none",
            "--train-interpolation": "bilinear",
            "--remode": "const",
            "--mixup-mode": "pair",
            "--teacher-model": "tiny_cnn",
            "--teacher-path": "t.pth",
            "--distillation-type": "none",
            "--finetune": "w.pth",
            "--data-path": "digits",
            "--device": "cpu",
            "--resume": "r.pt",
        }.get(flag, "1")
    return [flag, text]


@pytest.mark.parametrize("flag", MAIN_PY)
def test_each_main_py_flag_is_mapped_or_refused_in_one_line(flag: str) -> None:
    parser = build_parser()
    args = parser.parse_args(["train", "--data", "digits", *_sample(flag)])  # never argparse's "unrecognized"
    try:
        config_from_args(args, check=False)
    except ConfigError as exc:
        message = str(exc)
        assert message.startswith(flag) and "\n" not in message and len(message) < 300, message
    args = parser.parse_args(["eval", "--checkpoint", "c.pt", "--data", "digits", *_sample(flag)])
    try:
        translate(vars(args), "eval", {"workers"})
    except ConfigError as exc:
        assert str(exc).startswith(flag) and "\n" not in str(exc), str(exc)


def test_mapping_targets() -> None:
    """What the official flags become (asserted on the table, whether or not a target field exists yet)."""
    rows = {(r["flag"], r["command"]): r for r in mapping_table()}
    expect = {
        "--output_dir": "output",
        "--num_workers": "workers",
        "--dr": "decay_rate",
        "--eval-crop-ratio": "crop_pct",
        "--opt-betas": "opt_betas",
        "--lr-noise": "lr_noise",
        "--cooldown-epochs": "cooldown_epochs",
        "--unscale-lr": "lr_scale",
    }
    for flag, target in expect.items():
        assert rows[(flag, "train")]["target"] == target
    for flag in ("--bce-loss", "--ThreeAugment", "--src", "--attn-only", "--cosub", "--eval"):
        assert rows[(flag, "train")]["kind"] == "refuse"
    assert rows[("--eval", "eval")]["kind"] == "noop"
    cfg = config_from_args(
        build_parser().parse_args(
            ["train", "--data-path", "digits", "--output_dir", "o", "--num_workers", "1", "--dr", "0.5"]
        )
    )
    assert (cfg.data, cfg.output, cfg.workers, cfg.decay_rate) == ("digits", "o", 1, 0.5)


def test_readme_command_lines_parse_into_the_intended_configs(imagenet: Path, tmp_path: Path) -> None:
    files = {
        "regnety_160-a5fe301d.pth": tmp_path / "regnety_160.pth",
        "deit_base_patch16_224-b5f2ef4d.pth": tmp_path / "deit_base.pth",
    }
    parser = build_parser()
    cfgs = [
        config_from_args(parser.parse_args(["train", *localise(line, imagenet, files, tmp_path / "save")]))
        for line in README_TRAIN
    ]
    assert [c.model for c in cfgs] == [
        "deit_small_patch16_224",
        "deit_tiny_patch16_224",
        "deit_base_patch16_224",
        "deit_base_distilled_patch16_224",
        "deit_base_patch16_384",
    ]
    assert (
        cfgs[0].batch_size == 256
        and cfgs[0].output == str(tmp_path / "save")
        and cfgs[0].data == str(imagenet)
    )
    kd = cfgs[3]
    assert (kd.distillation_type, kd.teacher_model, kd.teacher_weights) == (
        "hard",
        "regnety_160",
        str(files["regnety_160-a5fe301d.pth"]),
    )
    ft = cfgs[4]
    assert (ft.finetune, ft.img_size, ft.lr_base, ft.weight_decay, ft.epochs, ft.min_lr, ft.batch_size) == (
        str(files["deit_base_patch16_224-b5f2ef4d.pth"]),
        384,
        5e-6,  # main.py's --lr: x global batch / 512 (32 x 16 GPUs: 5e-6 itself)
        1e-8,
        30,
        5e-6,
        32,
    )
    for line in README_EVAL:
        args = parser.parse_args(["eval", *localise(line, imagenet, files, tmp_path)])
        assert args.checkpoint.startswith(str(tmp_path)) and args.data == str(imagenet)
    assert parser.parse_args(["eval", *localise(README_EVAL[4], imagenet, files, tmp_path)]).img_size == 384


def test_readme_training_and_evaluation_lines_run(imagenet: Path, tmp_path: Path, capsys) -> None:
    """The DeiT-tiny training line and the first evaluation line, on the tiny folder, one small epoch."""
    out = tmp_path / "save"
    argv = localise(README_TRAIN[1], imagenet, {}, out)
    small = [
        "--epochs",
        "1",
        "--warmup-epochs",
        "0",
        "--input-size",
        "32",
        "--batch-size",
        "4",
        "--num_workers",
        "0",
    ]
    assert main(["train", *argv, *small]) == 0
    assert (out / "best.pt").is_file()
    line = README_EVAL[0]
    capsys.readouterr()
    files = {"deit_base_patch16_224-b5f2ef4d.pth": out / "best.pt"}  # our checkpoint knows its architecture
    assert main(["eval", *localise(line, imagenet, files, tmp_path), "--num_workers", "0", "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["samples"] == 4
    assert "--eval: accepted" in captured.err


def test_official_weights_file_evaluates_with_model_flag(imagenet: Path, tmp_path: Path, capsys) -> None:
    """main.py's {"model": state_dict} weights + --model NAME, as in the README's evaluation lines."""
    torch.manual_seed(0)
    model, _ = build_classifier("deit_nano_patch4_16", num_classes=2, img_size=16)
    path = tmp_path / "official.pth"
    save_checkpoint({"model": model.state_dict()}, path)
    line = f"--eval --resume {path} --model deit_nano_patch4_16 --data-path {imagenet} --num_workers 0 --json"
    assert main(["eval", *shlex.split(line)]) == 0
    assert json.loads(capsys.readouterr().out)["samples"] == 4


def test_unscale_lr_without_the_scaling_field_is_a_no_op() -> None:
    """--unscale-lr sets lr_scale=False where the lr is scaled; where --lr is the lr used, nothing to do."""
    parsed = {"official_unscale_lr": True}
    assert translate(parsed, "train", {"lr_scale", "lr"})[0] == {"lr_scale": False}
    values, notes = translate(parsed, "train", {"lr"})
    assert values == {} and notes == [
        "--unscale-lr: accepted, nothing to do (--lr is used as given, without batch-size scaling)"
    ]
    with pytest.raises(ConfigError, match=r"^--eval-crop-ratio 0.9 .*crop_pct"):
        translate({"official_eval_crop_ratio": 0.9}, "train", {"lr"})
    assert translate({"official_eval_crop_ratio": 0.9}, "train", {"crop_pct"})[0] == {"crop_pct": 0.9}


def _train_config(line: str):
    return config_from_args(build_parser().parse_args(["train", *shlex.split(line)]))


def test_an_official_line_takes_lr_as_main_py_does() -> None:
    """main.py trains `--lr 5e-4 -b 64` at 5e-4 x 64 / 512 = 6.25e-5: so does the same line here."""
    cfg = _train_config("--data-path digits --lr 5e-4 -b 64")
    assert cfg.lr is None and cfg.lr_base == 5e-4 and cfg.lr_base_size == 512
    assert cfg.actual_lr(1) == pytest.approx(6.25e-5) and cfg.actual_lr(8) == pytest.approx(5e-4)
    assert _train_config("--data-path digits --lr 5e-4 -b 64 --unscale-lr").lr == 5e-4  # main.py: unscaled
    assert _train_config("--data digits --lr 5e-4 -b 64").lr == 5e-4  # our spellings: the rate used
    with pytest.raises(ConfigError, match="--lr-base 0.001 sets too: drop one"):
        _train_config("--data-path digits --lr 5e-4 --lr-base 1e-3")


def test_an_official_line_says_how_its_lr_is_taken(capsys) -> None:
    parsed = vars(build_parser().parse_args(["train", *shlex.split("--data-path digits --lr 5e-4")]))
    notes = translate(parsed, "train", {"data", "lr"})[1]
    assert notes == [
        "--lr 0.0005 on a main.py line (--data-path): scaled as main.py scales it, 0.0005 x global batch / 512 "
        "(the rate used is in the recipe block); add --unscale-lr to train at 0.0005"
    ]
    parsed["official_unscale_lr"] = True
    assert translate(parsed, "train", {"data", "lr"})[1] == [
        "--unscale-lr: --lr 0.0005 is the rate used, as in main.py"
    ]
