"""`deit export`: ONNX (verified with onnxruntime), safetensors + JSON config, or a Hugging Face transformers
folder (hf), each with a model card.

    deit export --checkpoint runs/deit --format onnx                 # -> runs/deit/export/model.onnx
    deit export --checkpoint runs/deit/best.pt --format safetensors --out release/
    deit export --checkpoint runs/deit --format onnx --opset 17 --atol 1e-4 --json
    deit export --checkpoint runs/deit --format hf                   # -> runs/deit/export/hf/

ONNX: the inference output (fused (cls + dist) / 2 logits for a distilled DeiT) of normalised images
[batch, 3, H, W] with a dynamic batch axis, exported with torch's legacy exporter (dynamo=False); then run by
onnxruntime on random batches of 1 and 3 images: the max abs difference to PyTorch is printed and must be
<= --atol (else exit code 2). safetensors: model.safetensors + model.json (deit.checkpoint.export_model).
hf: a Hugging Face transformers folder (DeiTForImageClassificationWithTeacher for distilled DeiTs, else
ViTForImageClassification) with the class names as id2label and a preprocessor_config.json that preprocesses
as `deit predict` does (shorter side to img_size / the run's crop_pct, bicubic, centre crop, the run's
mean/std), loadable with transformers.pipeline("image-classification", model=folder); needs
`pip install 'deit[hf]'`.
Folders: onnx and safetensors go to <checkpoint folder>/export (they can share it), hf to export/hf: a
transformers folder has its own model.safetensors, so --out refuses a folder that holds the other kind.
Each writes a README.md model card (architecture, parameters, classes, recipe, stored accuracy, usage that
runs as written in the folder), and keeps the training config (validation split and seed) so that
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
    parser.add_argument(
        "--out", default=None, help="output folder (default: <checkpoint folder>/export, for hf export/hf)"
    )
    parser.add_argument("--model", default=None, help="architecture for official/timm weight files")
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset version (DeiT needs >= 14)")
    parser.add_argument(
        "--atol", type=float, default=1e-4, help="largest allowed abs logit difference ONNX vs PyTorch"
    )
    parser.add_argument("--use-ema", action="store_true", help="export the EMA weights of a checkpoint")
    parser.add_argument("--json", action="store_true", help="print the written files and checks as JSON")
    add_weights_arguments(parser)


def default_out(checkpoint: str, fmt: str) -> Path:
    """``<checkpoint folder>/export``; a transformers folder goes to ``export/hf``, for it writes its own
    ``model.safetensors`` (transformers keys) that would replace the deit export's."""
    p = Path(checkpoint)
    out = (p if p.is_dir() else p.parent) / "export"
    return out / "hf" if fmt == "hf" else out


def check_out_folder(out: Path, fmt: str) -> None:
    """Refuse to write one format over another's files: a transformers folder holds only its own export."""
    from deit.export import EXPORT_FILES, ExportError
    from deit.models.hf import is_hf_folder

    if fmt == "hf":
        clash = [f for f in EXPORT_FILES if (out / f).is_file()]
        if clash and not is_hf_folder(out):
            raise ExportError(
                f"--out {out}: it holds a deit export ({', '.join(clash)}); a transformers folder would "
                "overwrite or mix with it: pass another --out (the default is <checkpoint folder>/export/hf)"
            )
    elif is_hf_folder(out):
        raise ExportError(
            f"--out {out}: it is a transformers folder (config.json); --format {fmt} would overwrite or mix "
            "with its model.safetensors: pass another --out (the default is <checkpoint folder>/export)"
        )


def run(args: argparse.Namespace) -> int:
    from deit.checkpoint import export_model
    from deit.cli.common import load_for_eval, run_crop_pct
    from deit.export import EXPORT_FILES, HF_FILES, check_onnx, export_onnx, model_card, write_text

    args.checkpoint = model_source(args)
    model, meta = load_for_eval(args.checkpoint, args.model, args.use_ema, *weights_options(args))
    model = model.cpu().eval()
    img_size = int(meta.get("img_size") or getattr(model, "img_size", None) or 224)
    in_chans = int(((meta.get("model_spec") or {}).get("kwargs") or {}).get("in_chans", 3))
    out = Path(args.out) if args.out else default_out(args.checkpoint, args.format)
    check_out_folder(out, args.format)
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
    elif args.format == "hf":
        from deit.data.transforms import eval_resize_size
        from deit.models.hf import export_hf

        crop_pct = run_crop_pct(meta)
        resize = eval_resize_size(img_size, crop_pct)  # what `deit predict` resizes the shorter side to
        export_hf(
            model, out, meta.get("class_names"), meta.get("data_mean"), meta.get("data_std"), resize, crop_pct
        )
        report["files"] = [str(out / f) for f in HF_FILES]
    else:
        weights, meta_path = export_model(model.state_dict(), info, out)
        report["files"] = [str(weights), str(meta_path)]
    # one card for every export in the folder: ONNX then safetensors into one folder keeps both described
    files = list(HF_FILES) if args.format == "hf" else [f for f in EXPORT_FILES if (out / f).is_file()]
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
