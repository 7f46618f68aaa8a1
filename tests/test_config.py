"""Tests for deit.config: flags, recipes, precedence, validation, round trip, and property-based fuzzing."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import math
import os
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deit.config import (
    TrainConfig,
    add_train_arguments,
    config_from_args,
    dump_config,
    list_recipes,
    load_config,
    load_config_file,
    resolve_recipe,
    save_config,
    validate,
)
from deit.errors import ConfigError

FIELDS = {f.name: f for f in dataclasses.fields(TrainConfig)}
FLAGS = {n: f.metadata["flags"] or ["--" + n.replace("_", "-")] for n, f in FIELDS.items()}
ALL_FLAGS = sorted({fl for fls in FLAGS.values() for fl in fls})
PARSER = add_train_arguments(argparse.ArgumentParser(prog="deit train"))


def parse(*argv: str, check: bool = True) -> TrainConfig:
    return config_from_args(PARSER.parse_args(list(argv)), check=check)


def write(tmp: Path, text: str, name: str = "r.yaml") -> Path:
    path = tmp / name
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_leave_the_recipe_fields_to_the_recipe_and_paper_is_table_9() -> None:
    from deit.auto_recipe import RECIPE_FIELDS, DataStats, resolve_recipe

    c = TrainConfig()
    assert c.recipe == "auto" and all(getattr(c, name) is None for name in RECIPE_FIELDS)
    assert (c.weight_decay, c.opt, c.sched) == (0.05, "adamw", "cosine")
    stats = DataStats(num_images=20_000, num_classes=10, min_per_class=2_000, img_size=32)
    c, _, _ = resolve_recipe(dataclasses.replace(c, recipe="paper"), stats, world_size=16)
    assert (c.epochs, c.batch_size, c.lr_base) == (300, 64, None)
    assert c.lr == pytest.approx(1e-3)  # Table 9: 5e-4 x 1024 / 512, recorded as the rate used
    assert (c.warmup_epochs, c.warmup_lr, c.min_lr, c.smoothing, c.drop_path, c.reprob) == (
        5,
        1e-6,
        1e-5,
        0.1,
        0.1,
        0.25,
    )
    assert (c.mixup, c.cutmix, c.mixup_switch_prob, c.aa, c.repeated_aug) == (
        0.8,
        1.0,
        0.5,
        "rand-m9-mstd0.5-inc1",
        True,
    )
    assert (c.distillation_type, c.distillation_alpha, c.distillation_tau, c.model_ema_decay) == (
        "none",
        0.5,
        1.0,
        0.99996,
    )
    for name, f in FIELDS.items():
        assert f.metadata.get("help"), name


def test_no_flags_means_empty_namespace_and_defaults() -> None:
    ns = PARSER.parse_args([])
    assert vars(ns) == {}
    assert parse("--data", "digits") == dataclasses.replace(TrainConfig(), data="digits")


def test_precedence_defaults_recipe_flags(tmp_path: Path) -> None:
    recipe = write(tmp_path, "lr: 1.0e-3\nepochs: 10\nwarmup_epochs: 2\nmodel: deit_small_patch16_224\n")
    c = parse("-c", str(recipe), "--data", "d", "--epochs", "20")
    assert (c.lr, c.epochs, c.warmup_epochs, c.model) == (1e-3, 20, 2, "deit_small_patch16_224")
    assert c.batch_size is None  # untouched default: the recipe decides
    # a flag equal to the default still beats the recipe
    assert parse("-c", str(recipe), "--data", "d", "--lr", "5e-4").lr == 5e-4


@pytest.mark.parametrize(
    ("argv", "name", "value"),
    [
        (["--data-dir", "p"], "data", "p"),
        (["--input-size", "384"], "img_size", 384),
        (["--img-size", "32"], "img_size", 32),
        (["--output-dir", "o"], "output", "o"),
        (["-j", "2"], "workers", 2),
        (["-b", "8"], "batch_size", 8),
        (["--grad-accum-steps", "4"], "accum_steps", 4),
        (["--teacher", "regnety_160", "--distill", "hard"], "teacher_model", "regnety_160"),
        (["--teacher-model", "t", "--distillation-type", "soft"], "distillation_type", "soft"),
        (["--teacher-path", "w.pth", "--teacher", "t", "--distill", "hard"], "teacher_weights", "w.pth"),
        (["--amp"], "amp", "bf16"),
        (["--amp", "fp16"], "amp", "fp16"),
        (["--amp", "none"], "amp", "none"),
        (["--resume"], "resume", "auto"),
        (["--resume", "runs/x/last.pt"], "resume", "runs/x/last.pt"),
        ([], "resume", None),
        (["--no-pin-mem"], "pin_mem", False),
        (["--no-repeated-aug"], "repeated_aug", False),
        (["--repeated-aug"], "repeated_aug", True),
        (["--lr-base", "1e-3"], "lr_base", 1e-3),
        (["--model-ema"], "model_ema", True),
        (["--clip-grad", "none"], "clip_grad", None),
        (["--cutmix-minmax", "0.2", "0.8"], "cutmix_minmax", (0.2, 0.8)),
    ],
)
def test_flags_and_aliases(argv: list[str], name: str, value: object) -> None:
    assert getattr(parse("--data", "digits", *argv), name) == value
    assert parse("--data-path", "p").data == "p"  # main.py's spelling (tests/test_official_flags.py)


def test_resume_flag_before_another_flag() -> None:
    c = parse("--resume", "--epochs", "3", "--warmup-epochs", "1", "--data", "x")
    assert (c.resume, c.epochs) == ("auto", 3)


def test_yaml_accepts_hyphens_and_official_aliases(tmp_path: Path) -> None:
    text = (
        "data-path: /d\ninput-size: 160\nteacher-model: regnety_160\ndistillation-type: hard\nteacher-path: t.pth\n"
        "output_dir: o\nnum_workers: 1\nlr: 1e-4\nmin-lr: 0\n"
    )
    c = load_config(write(tmp_path, text))
    assert (c.data, c.img_size, c.teacher_model, c.teacher_weights, c.output, c.workers) == (
        "/d",
        160,
        "regnety_160",
        "t.pth",
        "o",
        1,
    )
    assert c.lr == 1e-4 and isinstance(c.min_lr, float)  # "1e-4" string and int 0 coerced to float


def test_yaml_key_given_twice_through_an_alias(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="'data'.*'data-path'.*--data"):
        load_config(write(tmp_path, "data: a\ndata-path: b\n"))


def test_unknown_key_names_key_file_and_suggestion(tmp_path: Path) -> None:
    path = write(tmp_path, "wieght_decay: 0.1\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert (
        "wieght_decay" in str(info.value)
        and str(path) in str(info.value)
        and "'weight_decay'" in str(info.value)
    )


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("epochs: ten\n", ["'epochs'", "--epochs", "integer", "'ten'"]),
        ("epochs: 1.5\n", ["--epochs", "integer"]),
        ("lr: fast\n", ["--lr", "number"]),
        ("lr: true\n", ["--lr", "number"]),
        ("repeated_aug: 'yes'\n", ["--repeated-aug", "true or false"]),
        ("pin_mem: 1\n", ["--pin-mem", "true or false"]),
        ("model: null\n", ["--model", "string"]),
        ("model: [a, b]\n", ["--model", "list"]),
        ("opt: adam\n", ["--opt", "adamw", "did you mean"]),
        ("cutmix_minmax: [0.1]\n", ["--cutmix-minmax", "two numbers"]),
        ("data: 2021-01-01\n", ["--data", "date"]),
        ("1: 2\n", ["unknown key 1"]),
    ],
)
def test_wrong_types_are_named(tmp_path: Path, text: str, fragments: list[str]) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path, check=False)
    for fragment in fragments + [str(path)]:
        assert fragment in str(info.value)


def test_type_coercions(tmp_path: Path) -> None:
    c = load_config(
        write(tmp_path, "epochs: 30.0\nlr: 1\nimg_size: null\ncutmix_minmax: [0, 1]\nclip_grad: none\n"),
        check=False,
    )
    assert (c.epochs, c.lr, c.img_size, c.cutmix_minmax, c.clip_grad) == (30, 1.0, None, (0.0, 1.0), None)
    assert isinstance(c.epochs, int) and isinstance(c.lr, float)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("lr: [1, 2\n", "line 2"),
        ("- 1\n- 2\n", "mapping"),
        ("just a string\n", "mapping"),
        ("a: b: c\n", "line 1"),
    ],
)
def test_bad_yaml_names_file(tmp_path: Path, text: str, fragment: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=fragment) as info:
        load_config(path)
    assert str(path) in str(info.value)


def test_missing_or_empty_recipe(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="deit_tiny_imagenett.*did you mean 'deit_tiny_imagenet'"):
        resolve_recipe("deit_tiny_imagenett")
    with pytest.raises(ConfigError, match="not a file"):
        resolve_recipe(tmp_path)
    with pytest.raises(ConfigError, match="-c/--config"):
        config_from_args(argparse.Namespace(config=3))
    assert load_config(write(tmp_path, "# nothing\n"), {"data": "x"}) == dataclasses.replace(
        TrainConfig(), data="x"
    )


@pytest.mark.parametrize("name", list_recipes())
def test_shipped_recipes_load_and_validate(name: str) -> None:
    path = resolve_recipe(name)
    assert path == resolve_recipe(name + ".yaml") and path.read_text(encoding="utf-8").startswith("# ")
    # recipes that need starting weights (and -c transfer a teacher of the user's classes) refuse without them
    needs = ["--finetune", "w.pth"] if load_config(name, check=False).needs_weights else []
    needs += ["--teacher", "runs/teacher"] if name == "transfer" else []
    cfg = parse("-c", name, "--data", "/data", *needs)
    assert validate(cfg) == cfg and cfg.model
    if "distilled" in name or name == "cifar_small_images":
        assert cfg.distillation_type == "hard" and cfg.teacher_model


@pytest.mark.parametrize("name", ["deit_base_finetune_384", "transfer_learning"])
def test_fine_tuning_recipes_refuse_random_weights(name: str) -> None:
    with pytest.raises(ConfigError, match="--finetune is required"):
        parse("-c", name, "--data", "/data")
    assert parse("-c", name, "--data", "/data", "--no-needs-weights").finetune is None


def test_three_float_tuples_parse_and_validate() -> None:
    cfg = parse("--data", "d", "--teacher-mean", "0.5", "0.5", "0.5", "--std", "0.2", "0.2", "0.3")
    assert cfg.teacher_mean == (0.5, 0.5, 0.5) and cfg.std == (0.2, 0.2, 0.3) and cfg.mean is None
    assert load_config(None, {"data": "d", "mean": [0, 0.5, 1]}).mean == (0.0, 0.5, 1.0)
    with pytest.raises(ConfigError, match=r"--mean: expected a list of three numbers \[R, G, B\]"):
        load_config(None, {"data": "d", "mean": [0.5, 0.5]})
    with pytest.raises(ConfigError, match="--teacher-std values must be > 0"):
        load_config(None, {"data": "d", "teacher_std": [0.5, 0, 0.5]})
    with pytest.raises(ConfigError, match="--cutmix-minmax.*two numbers"):
        load_config(None, {"data": "d", "cutmix_minmax": [0.1, 0.2, 0.3]})


def test_expected_recipes_are_shipped() -> None:
    assert {
        "deit_tiny_imagenet",
        "deit_small_imagenet",
        "deit_base_imagenet",
        "deit_base_finetune_384",
        "cifar_small_images",
        "transfer_learning",
        "deit_base_distilled_imagenet",
    } <= set(list_recipes())
    base = load_config("deit_base_finetune_384", {"data": "x", "finetune": "w.pth"})
    assert (base.lr_base, base.weight_decay, base.epochs, base.min_lr, base.img_size) == (
        5e-6,
        1e-8,
        30,
        5e-6,
        384,
    )


@pytest.mark.parametrize(
    ("overrides", "flag"),
    [
        ({"data": None}, "--data"),
        ({"data": "  "}, "--data"),
        ({"epochs": 0}, "--epochs"),
        ({"batch_size": 0}, "--batch-size"),
        ({"lr": 0}, "--lr"),
        ({"lr": float("nan")}, "--lr"),
        ({"lr": float("inf")}, "--lr"),
        ({"smoothing": 1.0}, "--smoothing"),
        ({"reprob": 1.5}, "--reprob"),
        ({"mixup_prob": -0.1}, "--mixup-prob"),
        ({"mixup": -1}, "--mixup"),
        ({"distillation_alpha": 2}, "--distillation-alpha"),
        ({"distillation_tau": 0}, "--distillation-tau"),
        ({"lr": 1e-3, "lr_base": 5e-4}, "--lr"),
        ({"distillation_type": "hard"}, "--distillation-type"),
        ({"teacher_model": "regnety_160"}, "--distillation-type hard"),
        ({"amp": "fp16", "device": "cpu"}, "--amp"),
        ({"img_size": 0}, "--img-size"),
        ({"workers": -1}, "--workers"),
        ({"val_split": 1.0}, "--val-split"),
        ({"device": "gpu"}, "--device"),
        ({"cutmix_minmax": (0.8, 0.2)}, "--cutmix-minmax"),
        ({"model": ""}, "--model"),
        ({"seed": -1}, "--seed"),
        ({"model_ema_decay": 1.0}, "--model-ema-decay"),
        ({"clip_grad": 0}, "--clip-grad"),
    ],
)
def test_validation_rejections_name_the_flag(overrides: dict, flag: str) -> None:
    with pytest.raises(ConfigError, match=flag):
        load_config(None, {"data": "digits", **overrides})


def test_distilled_recipe_can_be_switched_off_from_the_command_line() -> None:
    with pytest.raises(ConfigError, match="--teacher none"):
        parse("-c", "deit_tiny_distilled_imagenet", "--data", "d", "--distill", "none")
    c = parse("-c", "deit_tiny_distilled_imagenet", "--data", "d", "--distill", "none", "--teacher", "none")
    assert (c.distillation_type, c.teacher_model) == ("none", None)


def test_validate_type_checks_direct_construction() -> None:
    with pytest.raises(ConfigError, match="--epochs"):
        validate(TrainConfig(data="x", epochs="3"))  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        validate("not a config")  # type: ignore[arg-type]
    assert validate(TrainConfig(data="x", lr=1)).lr == 1.0  # normalised copy


def test_round_trip(tmp_path: Path) -> None:
    cfg = parse(
        "-c",
        "cifar_small_images",
        "--data",
        "d",
        "--cutmix-minmax",
        "0.25",
        "0.75",
        "--resume",
        "--teacher-weights",
        "t.pt",
        "--aa",
        "none",
    )
    path = save_config(cfg, tmp_path / "run" / "config.yaml")
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# DeiT training configuration") and "# --- distillation ---" in text
    assert load_config_file(path) == cfg and load_config_file(path, check=True) == cfg
    assert yaml.safe_load(text) == cfg.to_dict() and TrainConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match="unknown key 'bogus'"):
        TrainConfig.from_dict({**cfg.to_dict(), "bogus": 1})


def test_helpers_and_help_text() -> None:
    c = TrainConfig(batch_size=128, accum_steps=2, lr_base=5e-4)
    assert c.actual_lr(4) == pytest.approx(5e-4 * 128 * 4 * 2 / 512) and c.global_batch_size(4) == 1024
    assert dataclasses.replace(c, lr=5e-4, lr_base=None).actual_lr(8) == 5e-4  # --lr is the rate used
    with pytest.raises(ConfigError, match="--lr"):
        TrainConfig().actual_lr()
    assert (c.resolve_amp("cuda"), c.resolve_amp("cpu"), TrainConfig(amp="fp16").resolve_amp("cpu")) == (
        "bf16",
        "none",
        "fp16",
    )
    text = PARSER.format_help()
    assert "--no-repeated-aug" in text and "--data-path" in text and "-c RECIPE" in text


# ---------------------------------------------------------------- property-based tests
KEYS = st.one_of(
    st.sampled_from(sorted(FIELDS)),
    st.sampled_from([n.replace("_", "-") for n in FIELDS]),
    st.sampled_from(
        [
            "data-path",
            "data_dir",
            "input-size",
            "teacher-model",
            "teacher_path",
            "output_dir",
            "num_workers",
            "distill",
            "grad-accum-steps",
        ]
    ),
    st.from_regex(r"zz[a-z_]{0,8}", fullmatch=True),
    st.integers(-5, 5),
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-10, 1000),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(0, 1),
    st.text(max_size=10),
    st.sampled_from(
        ["none", "auto", "1e-4", "bf16", "fp16", "hard", "soft", "regnety_160", "cpu", "digits", "0.5"]
    ),
)
VALUES = st.one_of(
    SCALARS,
    st.lists(st.floats(-2, 2) | st.integers(-3, 3), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
# FUZZ_N=2000 python -m pytest tests/test_config.py -k "fuzz or valid" for a longer search (2000 passed)
FUZZ = settings(
    max_examples=int(os.environ.get("FUZZ_N", 100)),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def _assert_names_a_key(message: str, given: list[object]) -> None:
    assert any(fl in message for fl in ALL_FLAGS) or any(str(k) in message for k in given), message


@FUZZ
@given(
    yaml_map=st.dictionaries(KEYS, VALUES, max_size=6),
    flags=st.dictionaries(st.sampled_from(sorted(FIELDS)), VALUES, max_size=6),
    use_yaml=st.booleans(),
    give_data=st.booleans(),
)
def test_fuzz_yaml_and_flags_only_raise_config_error(
    yaml_map: dict, flags: dict, use_yaml: bool, give_data: bool
) -> None:
    if give_data:
        flags.setdefault("data", "digits")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.yaml"
        path.write_text(yaml.safe_dump(yaml_map), encoding="utf-8")
        ns = argparse.Namespace(**flags, **({"config": str(path)} if use_yaml else {}), command="train")
        try:
            cfg = config_from_args(ns)
        except ConfigError as exc:
            _assert_names_a_key(str(exc), list(yaml_map) + list(flags) + ["-c/--config"])
        else:
            assert isinstance(cfg, TrainConfig) and validate(cfg) == cfg
            assert all(not isinstance(v, float) or math.isfinite(v) for v in cfg.to_dict().values())
    try:  # programmatic construction, no parsing at all
        validate(TrainConfig(**flags))
    except ConfigError as exc:
        _assert_names_a_key(str(exc), list(flags))


@FUZZ
@given(
    pairs=st.lists(
        st.tuples(
            st.sampled_from(ALL_FLAGS),
            st.one_of(
                st.text(max_size=8),
                st.sampled_from(["1", "0", "-1", "nan", "inf", "1e-4", "none", "hard", "x"]),
            ),
        ),
        max_size=5,
    )
)
def test_fuzz_argv(pairs: list[tuple[str, str]]) -> None:
    argv = [tok for pair in pairs for tok in pair]
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr):
            ns = PARSER.parse_args(argv)
    except SystemExit as exc:  # argparse's own usage error (exit 2, names the argument)
        msg = stderr.getvalue()  # a value like "--s" is read as an abbreviated, ambiguous option
        assert exc.code == 2 and any(w in msg for w in ("argument", "unrecognized", "ambiguous option"))
        return
    try:
        config_from_args(ns)
    except ConfigError as exc:
        _assert_names_a_key(str(exc), [])


YAML_BITS = st.sampled_from(
    list("ab:-[]{}&*!|>'\"#%@,?\n \t01.e9")
    + [
        "lr",
        "epochs",
        "data",
        "2021-13-45",
        "!!python/object/apply:os.system",
        "<<",
        "&a",
        "*a",
        "!!binary",
        "\ufeff",
    ]
)


@FUZZ
@given(text=st.lists(YAML_BITS, max_size=25).map("".join))
def test_fuzz_raw_yaml_text(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "raw.yaml"
        path.write_text(text, encoding="utf-8")
        try:
            load_config(path, {"data": "digits"})
        except ConfigError as exc:
            assert str(path) in str(exc)


def _floats(lo: float, hi: float) -> st.SearchStrategy[float]:
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


VALID = {  # value ranges from the paper / timm semantics, written independently of deit.config
    **dict.fromkeys(
        "skip_corrupt pin_mem overwrite model_ema compile augment".split(),
        st.booleans(),
    ),
    **dict.fromkeys("deterministic dist_eval tensorboard".split(), st.booleans()),
    **dict.fromkeys("channels_last fused_opt".split(), st.none() | st.booleans()),  # None: auto
    **dict.fromkeys("needs_weights sched_official".split(), st.booleans()),
    **dict.fromkeys("mean teacher_mean".split(), st.none() | st.tuples(*[_floats(0, 1)] * 3)),
    **dict.fromkeys("std teacher_std".split(), st.none() | st.tuples(*[_floats(1e-3, 2)] * 3)),
    "crop_pct": _floats(0.05, 1),
    "pos_embed_interp": st.sampled_from(["official", "timm"]),
    **dict.fromkeys("val_split drop drop_path smoothing momentum".split(), _floats(0, 0.99)),
    **dict.fromkeys(
        "reprob hflip mixup_prob mixup_switch_prob distillation_alpha weight_decay".split(), _floats(0, 1)
    ),
    **dict.fromkeys("color_jitter mixup cutmix".split(), _floats(0, 2)),
    **dict.fromkeys("warmup_lr min_lr".split(), _floats(0, 1e-3)),
    **dict.fromkeys(
        "accum_steps recount num_repeats eval_interval save_interval log_interval".split(), st.integers(1, 64)
    ),
    **dict.fromkeys("workers skip_nonfinite".split(), st.integers(0, 32)),
    **dict.fromkeys(
        "img_size num_classes max_steps_per_epoch train_per_class".split(), st.none() | st.integers(1, 10**6)
    ),
    "data": st.sampled_from(["digits", "/data/imagenet", "my data/ä"]),
    **dict.fromkeys("hf_image_column hf_label_column".split(), st.none() | st.sampled_from(["image", "img"])),
    "model": st.sampled_from(["deit_tiny_patch16_224", "resnet18_cifar"]),
    "finetune": st.none() | st.just("w.pth"),
    "output": st.sampled_from(["runs/x", "out"]),
    "resume": st.sampled_from([None, "auto", "runs/x/last.pt"]),
    "recipe": st.sampled_from(["auto", "paper"]),
    "repeated_aug": st.none() | st.booleans(),
    "epochs": st.none() | st.integers(1, 1000),
    "batch_size": st.none() | st.integers(1, 4096),
    "lr_base": st.none() | _floats(1e-9, 10),
    "lr_base_size": st.integers(1, 4096),
    "opt": st.sampled_from(["adamw", "sgd"]),
    "lr": st.none() | _floats(1e-9, 10),
    "opt_eps": _floats(1e-12, 1e-3),
    "clip_grad": st.none() | _floats(1e-3, 100),
    "sched": st.sampled_from(["cosine", "step", "constant"]),
    "warmup_epochs": st.none() | st.integers(0, 1000),
    "decay_epochs": _floats(0.1, 100),
    "decay_rate": _floats(0.01, 1),
    "aa": st.sampled_from([None, "rand-m9-mstd0.5-inc1", "none", "v0"]),
    "data_cache": st.sampled_from(["none", "memory", "device"]),
    "train_interpolation": st.sampled_from(["bicubic", "bilinear", "random"]),
    "remode": st.sampled_from(["pixel", "rand", "const"]),
    "cutmix_minmax": st.none() | st.tuples(_floats(0, 0.5), _floats(0.51, 1)),
    "mixup_mode": st.sampled_from(["batch", "pair", "elem"]),
    "distillation_tau": _floats(0.01, 10),
    "soft_normalization": st.sampled_from(["official", "batchmean"]),
    "model_ema_decay": _floats(0.5, 0.99999),
    "amp": st.sampled_from(["auto", "none", "bf16", "fp16"]),
    "device": st.sampled_from(["auto", "cpu", "cuda", "cuda:1", "mps"]),
    "seed": st.integers(0, 2**31 - 1),
    "threads": st.none() | st.integers(1, 64),
    "split_seed": st.integers(0, 2**31 - 1),
    # starting-weight options that combine with any finetune/teacher value (conflicts: tests/test_pretrained.py)
    **dict.fromkeys("pretrained teacher_pretrained".split(), st.just(False)),
    "offline": st.booleans(),
    "weights_source": st.sampled_from(["official", "hf", "hf-facebook"]),
}
DISTILL = st.sampled_from(
    [("none", None, None), ("hard", "regnety_160", None), ("soft", "resnet18_cifar", "t.pt")]
)


def test_valid_strategy_covers_every_field() -> None:
    from deit.config import RULES as _RULES

    assert set(_RULES) <= set(FIELDS)  # no typo in the rules table
    assert set(VALID) | {"distillation_type", "teacher_model", "teacher_weights"} == set(FIELDS)


TUPLES = {"cutmix_minmax", "mean", "std", "teacher_mean", "teacher_std"}


def _argv(values: dict) -> list[str]:
    argv: list[str] = []
    for name, value in values.items():
        flag = "--data" if name == "data" else FLAGS[name][-1]  # --data-path: a main.py line (--lr scaled)
        if (name in TUPLES or name in ("aa", "repeated_aug", "channels_last", "fused_opt")) and value is None:
            continue  # nargs=2 or 3, a bool flag, or --aa (where none is a value): left at its default (None)
        if isinstance(value, bool):
            argv.append(flag if value else "--no-" + flag[2:])
        elif isinstance(value, tuple):
            argv += [flag, *map(repr, value)]
        else:
            argv += [
                flag,
                "none" if value is None else repr(value) if isinstance(value, float) else str(value),
            ]
    return argv


@settings(
    max_examples=int(os.environ.get("FUZZ_N", 50)),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(values=st.fixed_dictionaries(VALID), distill=DISTILL)
def test_valid_configs_are_never_rejected(values: dict, distill: tuple) -> None:
    if values["lr"] is not None:
        values["lr_base"] = None  # --lr and --lr-base are exclusive
    if values["amp"] == "fp16" and values["device"] == "cpu":
        values["amp"] = "bf16"
    values.update(zip(("distillation_type", "teacher_model", "teacher_weights"), distill))
    if values["needs_weights"] and values["finetune"] is None:
        values["finetune"] = "w.pth"
    cfg = TrainConfig(**values)
    assert validate(cfg) == cfg
    assert parse(*_argv(values)) == cfg  # every value through its command-line flag
    with tempfile.TemporaryDirectory() as tmp:  # and through a saved YAML file
        assert load_config_file(save_config(cfg, Path(tmp) / "c.yaml"), check=True) == cfg
    assert "# --- data ---" in dump_config(cfg)
