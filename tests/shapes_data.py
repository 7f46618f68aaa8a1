"""A small "your own data" image set: three shape classes drawn in random colours (colour is no shortcut).

    python tests/shapes_data.py OUT_DIR --per-class 60 --seed 0     # OUT_DIR/{circle,square,triangle}/*.png

Each image: a dark background of a random hue, one bright shape of another random hue, random
size and position (squares axis-aligned, triangles pointing up), drawn at 4x and downsampled (anti-aliased edges). The same seed gives the same
files; different seeds give disjoint draws, so a fresh set for testing is ``--seed 1``.
"""

from __future__ import annotations

import argparse
import colorsys
import math
import random
from pathlib import Path

from PIL import Image, ImageDraw

CLASSES = ("circle", "square", "triangle")
_SUPER = 4  # supersampling factor


def _colour_pair(rng: random.Random) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(background, shape): both of a random hue; the shape bright, the background dark."""
    bg = colorsys.hsv_to_rgb(rng.random(), rng.uniform(0.0, 1.0), rng.uniform(0.0, 0.3))
    fg = colorsys.hsv_to_rgb(rng.random(), rng.uniform(0.3, 1.0), rng.uniform(0.7, 1.0))
    return tuple(round(255 * c) for c in bg), tuple(round(255 * c) for c in fg)


def draw_shape(kind: str, size: int, rng: random.Random) -> Image.Image:
    """One ``size`` x ``size`` RGB image of ``kind`` (one of :data:`CLASSES`)."""
    big = size * _SUPER
    bg, fg = _colour_pair(rng)
    img = Image.new("RGB", (big, big), bg)
    draw = ImageDraw.Draw(img)
    radius = rng.uniform(0.22, 0.40) * big
    margin = radius + 1
    cx, cy = rng.uniform(margin, big - margin), rng.uniform(margin, big - margin)
    if kind == "circle":
        draw.ellipse([cx - radius, cy - radius, cx + radius, cy + radius], fill=fg)
    else:
        corners = 4 if kind == "square" else 3
        angle = -math.pi / 2 if corners == 3 else math.pi / 4  # apex up; square edges axis-aligned
        pts = [
            (cx + radius * math.cos(angle + 2 * math.pi * k / corners),
             cy + radius * math.sin(angle + 2 * math.pi * k / corners))
            for k in range(corners)
        ]  # fmt: skip
        draw.polygon(pts, fill=fg)
    return img.resize((size, size), Image.Resampling.LANCZOS)


def make_shapes(root: str | Path, per_class: int = 60, size: int = 32, seed: int = 0) -> Path:
    """Write ``root/<class>/<seed>_<i>.png`` for every class; return ``root``."""
    root = Path(root)
    rng = random.Random(f"shapes-{seed}")
    for kind in CLASSES:
        (root / kind).mkdir(parents=True, exist_ok=True)
    for i in range(per_class):
        for kind in CLASSES:
            draw_shape(kind, size, rng).save(root / kind / f"{seed}_{i:04d}.png")
    return root


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("out", help="output folder (ImageFolder layout)")
    parser.add_argument("--per-class", type=int, default=60, help="images per class (default: 60)")
    parser.add_argument("--size", type=int, default=32, help="image side in pixels (default: 32)")
    parser.add_argument(
        "--seed", type=int, default=0, help="draw seed; another seed = fresh images (default: 0)"
    )
    args = parser.parse_args()
    print(make_shapes(args.out, args.per_class, args.size, args.seed))


if __name__ == "__main__":
    main()
