"""`deit export`: ONNX (verified with onnxruntime) or safetensors + JSON config, each with a model card.

    deit export --checkpoint runs/deit --format onnx                 # -> runs/deit/export/model.onnx
    deit export --checkpoint runs/deit/best.pt --format safetensors --out release/
    deit export --checkpoint runs/deit --format onnx --opset 17 --atol 1e-4 --json
    deit export --checkpoint runs/deit --format hf --out my-deit/     # AutoModelForImageClassification

ONNX: the inference output (fused (cls + dist) / 2 logits for a distilled DeiT) of normalised images
[batch, 3, H, W] with a dynamic batch axis, exported with torch's legacy exporter (dynamo=False); then run by
onnxruntime on random batches of 1 and 3 images: the max abs difference to PyTorch is printed and must be
<= --atol (else exit code 2). safetensors: model.safetensors + model.json (deit.checkpoint.export_model).
hf: a Hugging Face transformers folder (DeiTForImageClassificationWithTeacher for distilled DeiTs, else
ViTForImageClassification) with the class names as id2label and a preprocessor_config.json, loadable with
transformers.AutoModelForImageClassification.from_pretrained; needs `pip install 'deit[hf]'`.
Both write a README.md model card (architecture, parameters, classes, recipe, stored accuracy) that
describes every export in the folder, and keep the training config (validation split and seed) so that
`deit eval` needs no extra flag on the export.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from deit.cli.weights_args import add_weights_arguments, model_source, weights_options


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = __doc__.split("\n\n", 1)[1]
    parser.add_argument(
        "--checkpoint",
        default=None,
        help="run folder, .pt checkpoint, .safetensors export, official/timm weights (architecture inferred "
        "or --model), transformers folder, or a released model's name",
    )
    parser.add_argument(
        "--format",
        choices=["onnx", "safetensors", "hf"],
        required=True,
        help="onnx (checked with onnxruntime), safetensors (+ model.json) or hf (a transformers folder)",
    )
    parser.add_argument("--out", default=None, help="output folder (default: <checkpoint folder>/export)")
    parser.add_argument("--model", default=None, help="architecture for official/timm weight files")
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset version (DeiT needs >= 14)")
    parser.add_argument(
        "--atol", type=float, default=1e-4, help="largest allowed abs logit difference ONNX vs PyTorch"
    )
    parser.add_argument("--use-ema", action="store_true", help="export the EMA weights of a checkpoint")
    parser.add_argument("--json", action="store_true", help="print the written files and checks as JSON")
    add_weights_arguments(parser)


def default_out(checkpoint: str) -> Path:
    p = Path(checkpoint)
    return (p if p.is_dir() else p.parent) / "export"


def run(args: argparse.Namespace) -> int:
    from deit.checkpoint import export_model
    from deit.cli.common import load_for_eval
    from deit.export import EXPORT_FILES, check_onnx, export_onnx, model_card, write_text

    args.checkpoint = model_source(args)
    model, meta = load_for_eval(args.checkpoint, args.model, args.use_ema, *weights_options(args))
    model = model.cpu().eval()
    img_size = int(meta.get("img_size") or getattr(model, "img_size", None) or 224)
    in_chans = int(((meta.get("model_spec") or {}).get("kwargs") or {}).get("in_chans", 3))
    out = Path(args.out) if args.out else default_out(args.checkpoint)
    info = {
        k: meta[k]
        for k in ("model_spec", "class_names", "data_mean", "data_std", "metrics", "config", "epoch")
        if k in meta
    }  # config: the validation split, its seed and the statistics `deit eval` needs without extra flags
    info["img_size"] = img_size
    report: dict = {"checkpoint": str(args.checkpoint), "format": args.format, "out": str(out)}
    if args.format == "onnx":
        onnx_path = export_onnx(
            model, out / "model.onnx", img_size, in_chans, opset=args.opset, metadata={"deit": info}
        )
        report["files"] = [str(onnx_path)]
        report["opset"] = args.opset
        report["atol"] = args.atol
        diffs = check_onnx(model, onnx_path, img_size, in_chans, atol=args.atol)
        report["max_abs_diff"] = {str(b): d for b, d in diffs.items()}
        files = ["model.onnx"]
    elif args.format == "hf":
        from deit.models.hf import export_hf

        export_hf(model, out, meta.get("class_names"), meta.get("data_mean"), meta.get("data_std"))
        files = sorted(p.name for p in out.iterdir() if p.suffix in (".json", ".safetensors"))
        report["files"] = [str(out / f) for f in files]
    else:
        weights, meta_path = export_model(model.state_dict(), info, out)
        report["files"] = [str(weights), str(meta_path)]
        files = ["model.safetensors", "model.json"]
    # one card for every export in the folder: ONNX then safetensors into one folder keeps both described
    files = [f for f in EXPORT_FILES if (out / f).is_file()]
    card = model_card(model, {**meta, "img_size": img_size}, files)
    readme = write_text(out / "README.md", card)
    report["files"].append(str(readme))
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    for f in report["files"]:
        print(f"wrote {f}")
    if "max_abs_diff" in report:
        diffs_txt = ", ".join(f"batch {b}: {d:.2e}" for b, d in report["max_abs_diff"].items())
        print(f"onnxruntime vs PyTorch max abs diff: {diffs_txt} (tolerance {args.atol:g}): OK")
    return 0
