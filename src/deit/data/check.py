"""``check_dataset``: scan a dataset without training and report everything that would bite later.

Every image is fully decoded and converted with the same ``load_image`` code the datasets use, so a clean
report means training will not meet an unreadable file.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from deit.data.datasets import (
    CIFARPickleDataset,
    DigitsDataset,
    find_cifar_dir,
    find_classes,
    list_class_files,
)
from deit.data.transforms import ImageLoadError, open_image, to_rgb
from deit.errors import DataError

TINY_PX = 8  # an image side below this is "tiny"
HUGE_PX = 8000  # an image side above this is "huge"
MODE_NAMES = {
    "L": "grayscale",
    "1": "1-bit",
    "LA": "grayscale+alpha",
    "P": "palette",
    "PA": "palette+alpha",
    "RGBA": "RGBA (alpha composited on white)",
    "CMYK": "CMYK",
    "I;16": "16-bit grayscale",
    "I;16B": "16-bit grayscale",
    "I;16L": "16-bit grayscale",
    "I": "32-bit int (scaled as 16-bit)",
    "F": "float",
    "YCbCr": "YCbCr",
    "LAB": "Lab",
}


@dataclass
class FileIssue:
    path: str
    reason: str


@dataclass
class SplitReport:
    """One scanned folder / split."""

    name: str
    root: str
    class_counts: dict[str, int] = field(default_factory=dict)
    empty_classes: list[str] = field(default_factory=list)
    unreadable: list[FileIssue] = field(default_factory=list)
    converted_modes: dict[str, int] = field(default_factory=dict)  # non-RGB PIL mode -> count
    tiny: list[FileIssue] = field(default_factory=list)
    huge: list[FileIssue] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # non-image files

    @property
    def num_images(self) -> int:
        return sum(self.class_counts.values())


@dataclass
class DatasetReport:
    path: str
    layout: str  # "imagefolder" | "train-val" | "train-only" | "cifar10" | "cifar100" | "digits" | "unknown"
    splits: list[SplitReport] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def num_images(self) -> int:
        return sum(s.num_images for s in self.splits)

    @property
    def ok(self) -> bool:
        """No structural error, no unreadable file, no empty class folder, at least one image."""
        return (
            not self.errors
            and self.num_images > 0
            and not any(s.unreadable or s.empty_classes for s in self.splits)
        )

    def to_dict(self) -> dict[str, Any]:
        splits = []
        for s in self.splits:
            d = asdict(s)
            d["num_images"] = s.num_images
            splits.append(d)
        return {
            "path": self.path,
            "layout": self.layout,
            "ok": self.ok,
            "num_images": self.num_images,
            "errors": list(self.errors),
            "warnings": list(self.warnings),
            "splits": splits,
        }

    def format(self, max_list: int = 20) -> str:
        lines = [f"dataset {self.path} ({self.layout}): {self.num_images} images"]

        def listing(title: str, items: list[str]) -> None:
            if not items:
                return
            lines.append(f"  {title}: {len(items)}")
            lines.extend(f"    {x}" for x in items[:max_list])
            if len(items) > max_list:
                lines.append(f"    ... and {len(items) - max_list} more")

        for s in self.splits:
            lines.append(f"[{s.name}] {s.root}: {s.num_images} images, {len(s.class_counts)} classes")
            counts = sorted(s.class_counts.items(), key=lambda kv: kv[1])
            if counts:
                lines.append(
                    f"  per class: min {counts[0][1]} ({counts[0][0]}), max {counts[-1][1]} ({counts[-1][0]})"
                )
                if len(counts) <= 20:
                    lines.append("  " + ", ".join(f"{c}={n}" for c, n in sorted(s.class_counts.items())))
            listing("EMPTY class folders", s.empty_classes)
            listing("UNREADABLE files", [f"{u.path}: {u.reason}" for u in s.unreadable])
            for mode, n in sorted(s.converted_modes.items()):
                lines.append(f"  converted to RGB: {n} x {mode} ({MODE_NAMES.get(mode, mode)})")
            listing(f"tiny images (< {TINY_PX} px)", [f"{u.path}: {u.reason}" for u in s.tiny])
            listing(f"huge images (> {HUGE_PX} px)", [f"{u.path}: {u.reason}" for u in s.huge])
            listing("ignored non-image files", s.ignored)
        for e in self.errors:
            lines.append(f"ERROR: {e}")
        for w in self.warnings:
            lines.append(f"warning: {w}")
        lines.append("OK" if self.ok else "PROBLEMS FOUND")
        return "\n".join(lines)


def _inspect(path: Path) -> tuple[str | None, tuple[int, int] | None, str | None]:
    """(original mode, size, error reason) for one file, decoded and converted like training does."""
    try:
        img = open_image(path)
        mode, size = img.mode, img.size
        to_rgb(img)
        return mode, size, None
    except ImageLoadError as exc:
        return None, None, exc.reason
    except Exception as exc:  # a mode to_rgb cannot convert
        return None, None, f"cannot convert to RGB ({type(exc).__name__}: {exc})"


def scan_image_folder(
    root: Path, name: str, report: DatasetReport, progress: bool | None = None, workers: int | None = None
) -> SplitReport:
    """Scan ``root/<class>/**`` into a SplitReport; structural problems go to ``report.errors``."""
    split = SplitReport(name=name, root=str(root))
    classes = find_classes(root)
    split.ignored += [
        str(root / f) for f in sorted(os.listdir(root)) if (root / f).is_file() and not f.startswith(".")
    ]
    if not classes:
        report.errors.append(f"no class folders in {root}: expected {root}/<class_name>/<image files>")
        return split
    files: list[tuple[str, Path]] = []
    for cls in classes:
        images, ignored = list_class_files(root / cls)
        split.ignored += [str(p) for p in ignored if not p.name.startswith(".")]
        split.class_counts[cls] = 0
        if not images:
            split.empty_classes.append(str(root / cls))
        files += [(cls, p) for p in images]

    workers = workers or min(8, (os.cpu_count() or 1) + 2)
    disable = (not progress) if progress is not None else (True if len(files) < 200 else None)
    modes: Counter[str] = Counter()
    with (
        ThreadPoolExecutor(max_workers=workers) as pool,
        tqdm(
            total=len(files),
            desc=f"checking {name}",
            unit="img",
            disable=disable,
            file=sys.stderr,
            leave=False,
        ) as bar,
    ):
        for (cls, path), (mode, size, err) in zip(files, pool.map(_inspect, [p for _, p in files])):
            bar.update(1)
            if err is not None:
                split.unreadable.append(FileIssue(str(path), err))
                continue
            split.class_counts[cls] += 1
            assert mode is not None and size is not None
            if mode != "RGB":
                modes[mode] += 1
            if min(size) < TINY_PX:
                split.tiny.append(FileIssue(str(path), f"{size[0]}x{size[1]}"))
            if max(size) > HUGE_PX:
                split.huge.append(FileIssue(str(path), f"{size[0]}x{size[1]}"))
    split.converted_modes = dict(sorted(modes.items()))
    for cls, n in split.class_counts.items():
        if n == 0 and str(root / cls) not in split.empty_classes:
            report.errors.append(f"class {cls!r} in {root} has no readable image")
    return split


def _from_dataset(ds: Any, name: str, root: str) -> SplitReport:
    counts = Counter(int(t) for t in ds.targets)
    return SplitReport(
        name=name, root=root, class_counts={c: counts.get(i, 0) for i, c in enumerate(ds.classes)}
    )


def check_dataset(
    path: str | Path, progress: bool | None = None, workers: int | None = None
) -> DatasetReport:
    """Scan a dataset source (same sources as ``build_dataset``) and return a DatasetReport.

    Raises DataError only when ``path`` does not exist / is not a folder; every other problem is reported.
    ``progress``: tqdm bar on stderr (None: when >= 200 files and stderr is a terminal).
    """
    if str(path).lower() == "digits":
        report = DatasetReport(path="digits", layout="digits")
        report.splits = [
            _from_dataset(DigitsDataset(train=t), n, "sklearn.datasets.load_digits")
            for t, n in ((True, "train"), (False, "val"))
        ]
        return report
    root = Path(path).expanduser()
    if not root.exists():
        raise DataError(f"dataset folder not found: {root}")
    if not root.is_dir():
        raise DataError(f"dataset path is not a directory: {root}")

    cifar = find_cifar_dir(root)
    if cifar is not None:
        report = DatasetReport(path=str(root), layout=cifar[1])
        for train, name in ((True, "train"), (False, "test")):
            try:
                report.splits.append(
                    _from_dataset(CIFARPickleDataset(root, train=train), name, str(cifar[0]))
                )
            except DataError as exc:
                report.errors.append(str(exc))
        return report

    train_dir = root / "train"
    if not train_dir.is_dir():
        report = DatasetReport(path=str(root), layout="imagefolder")
        report.splits.append(scan_image_folder(root, "all", report, progress, workers))
        report.warnings.append("no train/ and val/ folders: validation needs --val-split FRACTION")
        return report

    val_dir = next((root / n for n in ("val", "validation") if (root / n).is_dir()), None)
    report = DatasetReport(path=str(root), layout="train-val" if val_dir else "train-only")
    train = scan_image_folder(train_dir, "train", report, progress, workers)
    report.splits.append(train)
    others = [
        p for p in sorted(root.iterdir()) if not p.name.startswith(".") and p not in (train_dir, val_dir)
    ]
    if others:
        report.warnings.append(f"ignored entries next to train/: {[p.name for p in others]}")
    if val_dir is None:
        report.warnings.append(f"no val/ folder in {root}: validation needs --val-split FRACTION")
        return report
    val = scan_image_folder(val_dir, "val", report, progress, workers)
    report.splits.append(val)
    extra = sorted(set(val.class_counts) - set(train.class_counts))
    missing = sorted(set(train.class_counts) - set(val.class_counts))
    if extra:
        report.errors.append(f"{val_dir} has classes that train/ lacks: {extra}")
    if missing:
        report.warnings.append(f"{val_dir} lacks classes present in train/: {missing}")
    return report


__all__ = ["DatasetReport", "FileIssue", "SplitReport", "check_dataset", "HUGE_PX", "TINY_PX"]
