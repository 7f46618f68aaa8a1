"""The preprocessing of a transformers DeiT/ViT folder, read from its ``preprocessor_config.json``.

transformers fills the keys a config omits with its processor class's defaults (DeiT: resize 256, bicubic,
centre crop 224; ViT: resize 224, bilinear, no crop); :func:`read_image_processor` does the same and checks
every value, so that ``deit.data.hf_processor`` can rebuild exactly the transform transformers applies.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

from deit.errors import CheckpointError

log = logging.getLogger("deit.models")

_PROCESSOR_DEFAULTS = {  # the class defaults transformers fills in for keys a preprocessor_config omits
    "DeiT": {
        "do_resize": True,
        "size": {"height": 256, "width": 256},
        "resample": 3,  # PIL bicubic
        "do_center_crop": True,
        "crop_size": {"height": 224, "width": 224},
    },
    "ViT": {
        "do_resize": True,
        "size": {"height": 224, "width": 224},
        "resample": 2,  # PIL bilinear
        "do_center_crop": False,
        "crop_size": None,
    },
}
_PROCESSOR_COMMON = {
    "do_rescale": True,
    "rescale_factor": 1 / 255,
    "do_normalize": True,
    "image_mean": [0.5, 0.5, 0.5],
    "image_std": [0.5, 0.5, 0.5],
}


def _size_dict(value: Any, where: str) -> dict[str, int]:
    if isinstance(value, int) and not isinstance(value, bool):  # transformers 4.x configs: one int = square
        return {"height": value, "width": value}
    if isinstance(value, dict) and set(value) == {"shortest_edge"}:
        return {"shortest_edge": int(value["shortest_edge"])}
    if isinstance(value, dict) and set(value) == {"height", "width"}:
        return {"height": int(value["height"]), "width": int(value["width"])}
    raise CheckpointError(
        f"{where}={value!r}: expected {{'shortest_edge': N}} or {{'height': H, 'width': W}}"
    )


def read_image_processor(folder: str | Path) -> dict[str, Any] | None:
    """The preprocessing ``transformers`` applies for ``folder/preprocessor_config.json`` (DeiT or ViT image
    processor; class defaults filled in), or None when the folder has none or another processor type."""
    path = Path(folder) / "preprocessor_config.json"
    if not path.is_file():
        return None
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: cannot read it as JSON ({exc})") from None
    kind = str(raw.get("image_processor_type") or raw.get("feature_extractor_type") or "DeiTImageProcessor")
    family = re.match(r"(DeiT|ViT)(ImageProcessor|FeatureExtractor)", kind)
    if family is None:
        log.warning("%s: image_processor_type %r is not DeiT/ViT; using deit's eval transform", path, kind)
        return None
    proc = {**_PROCESSOR_COMMON, **_PROCESSOR_DEFAULTS[family[1]]}
    proc.update({k: raw[k] for k in proc if raw.get(k) is not None})
    proc["size"] = _size_dict(proc["size"], f"{path}: size")
    if proc["do_center_crop"]:
        proc["crop_size"] = _size_dict(proc["crop_size"], f"{path}: crop_size")
    if proc["resample"] not in range(6):
        raise CheckpointError(f"{path}: resample={proc['resample']!r} is not a PIL resampling code 0..5")
    for key in ("image_mean", "image_std"):
        values = [float(v) for v in (proc[key] if isinstance(proc[key], list) else [proc[key]])]
        if len(values) not in (1, 3):
            raise CheckpointError(f"{path}: {key}={proc[key]!r} needs 3 values (RGB)")
        proc[key] = values * (3 // len(values))
    if any(s <= 0 for s in proc["image_std"]):
        raise CheckpointError(f"{path}: image_std={proc['image_std']} must be > 0")
    proc["rescale_factor"] = float(proc["rescale_factor"])
    return proc
