"""``deit data``: inspect and check datasets without training.

``deit data check PATH [--json]`` scans every image (decoding it exactly as training would) and exits
0 when the dataset is usable, 1 when problems were found (2: bad arguments / path not found).
``deit data pack SRC OUT [--shard-size N]`` writes an ImageFolder (or train/ + val/ folders) as WebDataset tar
shards plus ``OUT/index.json``, for ``deit train --data OUT`` (see :mod:`deit.data.shards`).
"""

from __future__ import annotations

import argparse
import json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="data_command", metavar="ACTION")
    check = sub.add_parser(
        "check",
        help="scan a dataset: class counts, unreadable/odd/extreme images, empty classes",
        description="Scan a dataset (ImageFolder root, train/val root, CIFAR python batches or 'digits') "
        "and report problems. Exit 0: ok; 1: problems found.",
    )
    check.add_argument("path", help="dataset folder, or 'digits'")
    check.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    check.add_argument(
        "--max-list",
        type=int,
        default=20,
        metavar="N",
        help="list at most N files per problem kind in the text report (default 20)",
    )
    check.add_argument(
        "--workers", type=int, default=None, metavar="N", help="decoding threads (default: min(8, CPUs + 2))"
    )
    check.add_argument("--no-progress", action="store_true", help="no progress bar")
    pack = sub.add_parser(
        "pack",
        help="write an image folder as WebDataset tar shards + index.json (streamed by deit train --data OUT)",
        description="Write SRC (an ImageFolder, or a folder with train/ and val/) as OUT/train-000000.tar ... "
        "(and val-*.tar) with OUT/index.json: image bytes as they are, the class index, the classes and counts. "
        "Samples are shuffled once (--seed) so every shard mixes the classes. Needs deit[shards].",
    )
    pack.add_argument("src", help="image folder: <class>/<images>, or train/ (+ val/) of them")
    pack.add_argument("out", help="output folder (new, or without an index.json)")
    pack.add_argument(
        "--shard-size",
        type=int,
        default=1000,
        metavar="N",
        help="images per shard (default 1000: ~100 MB of ImageNet JPEGs; aim for 100 MB - 1 GB shards)",
    )
    pack.add_argument("--seed", type=int, default=0, help="seed of the order the samples are written in")
    parser.set_defaults(_data_parser=parser)


def run(args: argparse.Namespace) -> int:
    command = getattr(args, "data_command", None)
    if command == "pack":
        return _pack(args)
    if command != "check":
        args._data_parser.print_help()
        return 2
    from deit.data.check import check_dataset

    report = check_dataset(args.path, progress=False if args.no_progress else None, workers=args.workers)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(report.format(max_list=max(0, args.max_list)))
    return 0 if report.ok else 1


def _pack(args: argparse.Namespace) -> int:
    from deit.data.shard_pack import pack
    from deit.data.shards import INDEX_NAME

    index = pack(args.src, args.out, shard_size=args.shard_size, seed=args.seed)
    for split, entry in index["splits"].items():
        shards = entry["shards"]
        print(
            f"{split}: {entry['num_images']} images, {len(index['classes'])} classes -> {len(shards)} shards "
            f"{shards[0]['file']} .. {shards[-1]['file']} ({entry['image_bytes'] / 1e6:.1f} MB)"
        )
        if entry["unreadable_headers"]:
            print(
                f"  {entry['unreadable_headers']} file(s) whose image header PIL cannot read (packed as they are)"
            )
    print(
        f"packed in {index['pack_seconds']:.1f} s ({index['images_per_s']:.0f} img/s, {index['mb_per_s']:.1f} MB/s); "
        f"index {args.out}/{INDEX_NAME}\ntrain with: deit train --data {args.out} ..."
    )
    return 0
