"""``deit data pack``: an ImageFolder (or train/ + val/ folders) written as WebDataset tar shards and an
``index.json`` (the format: :mod:`deit.data.shards`)."""

from __future__ import annotations

import json
import time
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from deit.data.datasets import ImageFolderDataset, check_dir
from deit.data.shards import INDEX_FORMAT, INDEX_NAME, import_webdataset
from deit.errors import ConfigError, DataError


def _source_splits(root: Path) -> dict[str, ImageFolderDataset]:
    from deit.data.build import find_val_dir

    if not (root / "train").is_dir():
        return {"train": ImageFolderDataset(root)}
    train = ImageFolderDataset(root / "train")
    val_dir = find_val_dir(root)
    return {"train": train} | ({"val": ImageFolderDataset(val_dir, classes=train.classes)} if val_dir else {})


def _image_size(data: bytes) -> tuple[int, int] | None:
    try:
        with Image.open(BytesIO(data)) as img:  # the header only: no decoding
            return img.size
    except Exception:  # noqa: BLE001 - an unreadable image is packed as it is; training reports it
        return None


def pack(src: str | Path, out: str | Path, shard_size: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Write ``src`` (an ImageFolder, or train/ + val/ folders) as tar shards of ``shard_size`` images and an
    ``index.json`` into ``out``; returns the index plus the packing rate (``pack_seconds``, ``images_per_s``,
    ``mb_per_s``)."""
    wds = import_webdataset()
    if shard_size < 1:
        raise ConfigError(f"--shard-size must be >= 1, got {shard_size}")
    out = Path(out).expanduser()
    if (out / INDEX_NAME).exists():
        raise DataError(f"{out / INDEX_NAME} exists: pack into an empty folder")
    splits = _source_splits(check_dir(src))
    out.mkdir(parents=True, exist_ok=True)
    index: dict[str, Any] = {"format": INDEX_FORMAT, "classes": splits["train"].classes, "seed": seed}
    index["splits"] = {}
    start, total_images, total_bytes = time.perf_counter(), 0, 0
    for split_id, (split, dataset) in enumerate(splits.items()):
        order = np.random.default_rng([seed, split_id]).permutation(len(dataset.samples))
        shards, sizes, nbytes = [], [], 0
        for first in range(0, len(order), shard_size):
            name, labels = f"{split}-{len(shards):06d}.tar", []
            tmp = out / (name + ".partial")
            with open(tmp, "wb") as fh, wds.TarWriter(fh, encoder=False) as writer:
                for pos in range(first, min(first + shard_size, len(order))):
                    path, label = dataset.samples[order[pos]]
                    data = Path(path).read_bytes()
                    ext = Path(path).suffix.lower().lstrip(".")
                    writer.write({"__key__": f"{pos:08d}", ext: data, "cls": str(label).encode()})
                    labels.append(int(label))
                    nbytes += len(data)
                    sizes.append(_image_size(data))
            tmp.replace(out / name)
            shards.append({"file": name, "count": len(labels), "labels": labels})
        known = [s for s in sizes if s is not None]
        counts = np.bincount(dataset.targets, minlength=len(dataset.classes)).tolist()
        index["splits"][split] = {
            "num_images": len(order),
            "class_counts": counts,
            "image_bytes": nbytes,
            "median_size": [int(np.median([s[i] for s in known])) for i in (0, 1)] if known else None,
            "unreadable_headers": len(sizes) - len(known),
            "shards": shards,
        }
        total_images, total_bytes = total_images + len(order), total_bytes + nbytes
    (out / INDEX_NAME).write_text(json.dumps(index), encoding="utf-8")
    seconds = time.perf_counter() - start
    rate = {
        "pack_seconds": seconds,
        "images_per_s": total_images / seconds,
        "mb_per_s": total_bytes / seconds / 1e6,
    }
    return index | rate
