"""`deit benchmark`: images/s (median and spread), peak memory, GMACs/image and achieved TFLOP/s.

    deit benchmark --model deit_small_patch16_224 -b 256 --device cuda --amp bf16
    deit benchmark --model deit_tiny_distilled_patch16_224 --teacher regnety_160 --mode train -b 128 --device cuda
    deit benchmark --model deit_base_patch16_224 --compare timm --json     # timm's same model, interleaved

GMACs/img: billions of multiply-adds per image of the forward pass with every token through every block,
as in `deit models` and the paper's Table 1 (which calls them "FLOPs"); the same for deit's and timm's build
of one architecture. run GMACs: what the timed forward executes (deit's DeiT is lower: its last block updates
only the class/distillation tokens, the ones the heads read). Every row is counted the same way
(FlopCounterMode, attention included). TFLOP/s: 2 FLOPs per multiply-add of the run count; train mode
counts 3 x forward + the teacher's forward. Timing: warm-up, then repeated rounds interleaving the
contestants (CUDA events on GPU). Peak MB, the same for every row and device: parameters + buffers + input
batch + the peak of the tensors allocated on top (CUDA max_memory_allocated; on CPU counted per operator).
"""

from __future__ import annotations

import argparse
import json
import sys

from deit.cli.weights_args import add_weights_arguments, weights_options


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = __doc__.split("\n\n", 1)[1]
    parser.add_argument("--model", required=True, help="model name (DeiT zoo, CNN, timm:, torchvision:)")
    parser.add_argument(
        "--teacher",
        default=None,
        help="frozen teacher (a model name, or a checkpoint / run folder of deit train): train mode adds its "
        "forward to every step; infer mode times it as a separate contestant",
    )
    parser.add_argument("-b", "--batch-size", type=int, default=64, help="images per timed call")
    parser.add_argument("--img-size", type=int, default=None, help="input size (default: the model's)")
    parser.add_argument("--num-classes", type=int, default=1000, help="classifier outputs")
    parser.add_argument("--device", default="auto", help="cpu, cuda or auto")
    parser.add_argument("--amp", choices=["none", "bf16"], default="none", help="bf16 autocast")
    parser.add_argument("--compile", action="store_true", help="torch.compile the model(s)")
    parser.add_argument(
        "--mode",
        choices=["infer", "train"],
        default="infer",
        help="infer: forward under inference_mode; train: forward + backward + AdamW step",
    )
    parser.add_argument(
        "--compare",
        choices=["timm"],
        default=None,
        help="also time timm's same model in this process (interleaved) and print the ratio",
    )
    parser.add_argument("--warmup", type=int, default=3, help="untimed calls first")
    parser.add_argument("--repeats", type=int, default=10, help="timed rounds (median and spread reported)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    add_weights_arguments(parser)


def _default_img_size(name: str) -> int:
    from deit.models import MODEL_CONFIGS

    cfg = MODEL_CONFIGS.get(name.removeprefix("deit:"))
    return int(cfg.get("img_size", 224)) if cfg else 224


def run(args: argparse.Namespace) -> int:
    import torch

    from deit.analysis.benchmark import FLOPS_CONVENTION, build_timm_twin, memory_method, run_benchmark
    from deit.distributed import resolve_device
    from deit.teacher import build_classifier, build_teacher

    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    img_size = args.img_size or _default_img_size(args.model)
    model, spec = build_classifier(
        args.model,
        num_classes=args.num_classes,
        img_size=img_size,
        pretrained=getattr(args, "pretrained", False),
        weights=dict(zip(("source", "offline"), weights_options(args))),
    )
    teacher = None
    if args.teacher:
        teacher = build_teacher(args.teacher, args.num_classes, img_size=img_size, device=device)
        print(teacher.source, file=sys.stderr)
    others = {}
    if args.compare == "timm":
        others["timm"] = build_timm_twin(model, args.model, args.num_classes, img_size)
    if teacher is not None and args.mode == "infer":  # inference: the teacher is timed on its own
        others["teacher"] = teacher
    results = run_benchmark(
        model,
        batch_size=args.batch_size,
        img_size=img_size,
        num_classes=args.num_classes,
        device=device,
        mode=args.mode,
        amp=args.amp,
        compile_model=args.compile,
        teacher=teacher if args.mode == "train" else None,
        others=others,
        warmup=args.warmup,
        repeats=args.repeats,
        name="deit",
    )
    report = {
        "model": args.model,
        "teacher": args.teacher,
        "mode": args.mode,
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "amp": args.amp,
        "compile": bool(args.compile),
        "batch_size": args.batch_size,
        "img_size": img_size,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "flops_convention": FLOPS_CONVENTION,
        "memory_method": memory_method(device),
        **results["deit"].to_dict(),
    }
    report["gmacs_per_image"] = report["gflops_per_image"] / 2  # the `deit models` column
    report["run_gmacs_per_image"] = report["run_gflops_per_image"] / 2
    report["name"] = args.model
    if "timm" in results:
        t = results["timm"].to_dict()
        report["compare"] = {"timm": t, "ratio_img_per_s": report["img_per_s"] / t["img_per_s"]}
    if "teacher" in results:
        report["teacher_result"] = results["teacher"].to_dict()
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    what = (
        "forward"
        if args.mode == "infer"
        else "forward+backward+AdamW" + (" + teacher forward" if teacher else "")
    )
    print(
        f"{args.model} ({spec.source}), {what}, batch {args.batch_size} x {img_size}px on {report['device_name']}"
        f" | amp {args.amp} | compile {args.compile} | {report['params_m']:.2f} M params"
    )
    print(
        f"{'':8s} {'img/s (median)':>15s} {'min':>10s} {'max':>10s} {'GMACs/img':>11s} {'run GMACs':>10s} "
        f"{'TFLOP/s':>9s} {'peak MB':>9s}"
    )
    for key, r in results.items():
        print(
            f"{key:8s} {r.img_per_s:15.1f} {r.img_per_s_min:10.1f} {r.img_per_s_max:10.1f} "
            f"{r.gflops_per_image / 2:11.4g} {r.run_gflops_per_image / 2:10.4g} {r.achieved_tflops:9.4g} "
            f"{r.peak_memory_mb:9.1f}"
        )
    if "compare" in report:
        print(f"deit / timm throughput ratio: {report['compare']['ratio_img_per_s']:.3f}")
    print(
        f"{FLOPS_CONVENTION}; {results['deit'].repeats} timed repeats; peak memory: {report['memory_method']}"
    )
    return 0
