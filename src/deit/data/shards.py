"""WebDataset tar shards: ``deit data pack`` writes them (:mod:`deit.data.shard_pack`), ``--data`` streams them.

``pack`` writes ``OUT/train-000000.tar ...`` (and ``val-*.tar`` from a val/ folder) plus ``OUT/index.json``.
A sample is two members sharing a key (the WebDataset convention): ``<key>.<ext>``, the image file's bytes as
they are, and ``<key>.cls``, the class index as text. Samples are written in a seeded random order, so every
shard mixes the classes and a shuffled shard order plus a bounded shuffle buffer shuffles well.
``index.json`` (``deit-shards-v1``) holds the classes and, per split, the shards with their labels, the
image count per class, the bytes and the median image size: the recipe, ``--train-per-class`` and the epoch
length come from it without reading a shard.

Epoch order (:class:`ShardStream`, planned by :class:`ShardSampler`): the shards are permuted with
``(seed, epoch)`` and their samples laid end to end; rank r of R takes the r-th of R equal contiguous
slices (``N // R`` samples), whole batches only, and splits them into contiguous runs of batches, one per
loader worker (run w has the batches b with ``b % W == w`` in the loader's round-robin order). Each worker
reads only its own part of the shards, through a shuffle buffer seeded with ``(seed, epoch, rank, worker)``.
So every sample is seen at most once per epoch across ranks, every rank takes the same number of steps,
and the ``N - R * (N // R // B) * B`` samples left over (fewer than ``R * B``: the ends of the ranks'
slices and of the stream, a different set each epoch) are the same count that ``DistributedSampler(drop_last)``
with ``drop_last`` batches leaves out. The order depends on (seed, epoch, ranks, workers, batch size) only, so
resuming at step s of epoch k with the same ranks and workers continues the uninterrupted order exactly.
"""

from __future__ import annotations

import json
import logging
import re
import tarfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.data import Dataset, IterableDataset, get_worker_info

from deit.data.datasets import (
    SkipLog,
    SkippingDataset,
    Transform,
    split_indices,
    unreadable,
)
from deit.data.shard_plan import EpochPlan, buffer_shuffle
from deit.data.transforms import ImageLoadError, decode_image_bytes
from deit.errors import ConfigError, DataError

logger = logging.getLogger("deit.data")
INDEX_NAME = "index.json"
INDEX_FORMAT = "deit-shards-v1"
_KEY_EXT = re.compile(r"^((?:.*/|)[^./]+)\.([^/]*)$")  # WebDataset: the key ends at the basename's first dot


def import_webdataset() -> Any:
    try:
        import webdataset
    except ImportError as exc:
        raise ConfigError(
            "WebDataset shards need the webdataset package: pip install 'deit[shards]'"
        ) from exc
    return webdataset


# ------------------------------------------------------------------------------------------------ reading
@dataclass(frozen=True)
class ShardSet:
    """Shard files (beside their index.json) with their labels, from the index."""

    urls: list[str]
    labels: list[list[int]]
    classes: list[str]
    # the index's figures for the whole split (images, per class, bytes, median [w, h]): what --data-cache auto
    # and the recipe need without reading a shard
    split_stats: dict[str, Any] = field(default_factory=dict)

    @property
    def offsets(self) -> np.ndarray:
        return np.cumsum([0] + [len(labels) for labels in self.labels])


def is_shard_source(path: str | Path) -> bool:
    """A ``--data`` value that names shards: ``*.tar``, a brace pattern of them, an index.json or its folder."""
    text = str(path)
    if text.endswith(".tar") or (".tar" in text and "{" in text) or Path(text).name == INDEX_NAME:
        return True
    index = Path(text) / INDEX_NAME
    if not index.is_file():
        return False
    with open(index, encoding="utf-8", errors="replace") as fh:  # an ImageFolder may hold another index.json
        return INDEX_FORMAT in fh.read(200)


def _read_index(path: Path) -> dict[str, Any]:
    try:
        index = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise DataError(
            f"no {INDEX_NAME} beside the shards ({path}): --data needs the index `deit data pack` writes"
        ) from exc
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: not JSON ({exc})") from exc
    if not isinstance(index, dict) or index.get("format") != INDEX_FORMAT:
        raise DataError(f"{path}: not a deit shard index (format {INDEX_FORMAT!r} expected)")
    return index


def open_shards(spec: str | Path) -> tuple[dict[str, ShardSet], Path]:
    """The shard sets of ``spec`` by split ("train", maybe "val") and the index file. A pattern or a list of
    .tar files picks the training shards; the index beside the first one gives their labels and the val split."""
    text = str(spec)
    named: list[str] | None = None
    if text.endswith(".json"):
        index_path = Path(text).expanduser()
    elif Path(text).is_dir():
        index_path = Path(text).expanduser() / INDEX_NAME
    else:
        named = list(import_webdataset().shardlists.expand_urls(text))
        index_path = Path(named[0]).expanduser().parent / INDEX_NAME
    index = _read_index(index_path)
    sets: dict[str, ShardSet] = {}
    by_file = {}
    for split, entry in index["splits"].items():
        shards = entry["shards"]
        by_file.update({s["file"]: s for s in shards})
        urls = [str(index_path.parent / s["file"]) for s in shards]
        stats = {k: v for k, v in entry.items() if k != "shards"}
        sets[split] = ShardSet(urls, [s["labels"] for s in shards], list(index["classes"]), stats)
    if named is not None:
        unknown = [n for n in named if Path(n).name not in by_file]
        if unknown:
            raise DataError(f"--data {text}: {unknown[0]} is not in {index_path}")
        chosen = [by_file[Path(n).name] for n in named]
        stats = {"median_size": sets["train"].split_stats.get("median_size")}  # the rest: of the files named
        sets["train"] = ShardSet(named, [s["labels"] for s in chosen], list(index["classes"]), stats)
    return sets, index_path


def _key_ext(name: str) -> tuple[str, str] | None:
    match = _KEY_EXT.match(name)
    return (match.group(1), match.group(2)) if match else None


def _samples_of(url: str, wanted: Sequence[int]) -> Iterator[tuple[str, bytes, int]]:
    """(name, image bytes, cls) of the samples at positions ``wanted`` (ascending) of shard ``url``, read in one
    sequential pass that stops after the last one."""
    if len(wanted) == 0:
        return
    wanted_set, last = set(int(p) for p in wanted), int(wanted[-1])
    stream = import_webdataset().gopen(url, "rb")
    try:
        with tarfile.open(fileobj=stream, mode="r|*") as tar:
            pos, key, members = -1, None, {}
            for member in tar:
                parts = _key_ext(member.name) if member.isfile() else None
                if parts is None:
                    continue
                if parts[0] != key:
                    if pos in wanted_set:
                        yield _sample(url, key, members)
                    if pos == last:
                        return
                    pos, key, members = pos + 1, parts[0], {}
                if pos in wanted_set:
                    members[parts[1]] = tar.extractfile(member).read()
            if pos in wanted_set:
                yield _sample(url, key, members)
                pos = last
        if pos < last:
            raise DataError(f"shard {url} has {pos + 1} samples, the index says at least {last + 1}")
    except (tarfile.TarError, OSError) as exc:
        raise DataError(f"unreadable shard {url}: {exc}") from exc
    finally:
        stream.close()


def _image_ext(url: str, key: str | None, extensions: Any) -> str:
    images = [ext for ext in extensions if ext != "cls" and not ext.startswith("_")]
    if not images or "cls" not in extensions:
        raise DataError(
            f"shard {url}: sample {key} lacks an image or a .cls member (has {sorted(extensions)})"
        )
    return images[0]


def _sample(url: str, key: str | None, members: dict[str, bytes]) -> tuple[str, bytes, int]:
    ext = _image_ext(url, key, members)
    return f"{url}:{key}.{ext}", members[ext], int(members["cls"])


def _decode(name: str, data: bytes, dataset: _ShardData) -> Any:
    try:
        img = decode_image_bytes(data, name)
    except ImageLoadError as exc:
        raise unreadable(exc, dataset.skip_corrupt) from exc
    return dataset.transform(img) if dataset.transform is not None else img


class _ShardData(SkipLog):
    """The samples of a :class:`ShardSet` kept in ``keep`` (global positions, ascending), and their labels."""

    def __init__(
        self,
        shards: ShardSet,
        transform: Transform = None,
        skip_corrupt: bool = False,
        keep: Sequence[int] | None = None,
    ) -> None:
        self.shards = shards
        self.classes = list(shards.classes)
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}
        offsets = shards.offsets
        self.keep = np.arange(offsets[-1]) if keep is None else np.asarray(keep, dtype=np.int64)
        labels = np.concatenate([np.asarray(s, dtype=np.int64) for s in shards.labels] or [np.zeros(0)])
        self.targets = [int(t) for t in labels[self.keep]]
        self.transform = transform
        self.skip_corrupt = skip_corrupt
        self.skipped: set[str] = set()
        self.skip_log: Path | None = None
        self._members: dict[int, list[tuple[str, int, int, int]]] = {}  # ShardFiles: offsets read on use

    def __len__(self) -> int:
        return len(self.keep)

    def _locate(self, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        shard = np.searchsorted(self.shards.offsets, positions, side="right") - 1
        return shard, positions - self.shards.offsets[shard]


class ShardStream(_ShardData, IterableDataset):
    """Training shards, streamed in the order of :class:`EpochPlan` (see the module doc); ``targets``,
    ``classes`` and ``len`` come from the index. ``skip_corrupt``: an unreadable image is recorded and
    replaced by this worker's previous readable sample (the next one at the start), so counts stay exact."""

    shuffle_buffer: int = 1000  # samples held by each worker's shuffle buffer
    plan = EpochPlan(world=1, rank=0, workers=1, batch_size=1, seed=0)

    def _like(self, keep: np.ndarray, plan: EpochPlan | None = None) -> ShardStream:
        stream = ShardStream(self.shards, self.transform, self.skip_corrupt, keep)
        stream.shuffle_buffer, stream.skip_log, stream.plan = (
            self.shuffle_buffer,
            self.skip_log,
            plan or self.plan,
        )
        return stream

    def subset(self, positions: Sequence[int]) -> ShardStream:
        return self._like(self.keep[list(positions)])

    def as_map_style(self) -> ShardFiles:
        """Random access to the same samples (local shard files): ``--data-cache`` decodes them once."""
        return ShardFiles(self.shards, self.transform, self.skip_corrupt, self.keep)

    def __getitem__(self, index: int) -> tuple[Any, int]:  # one sample (e.g. the first image's size)
        return self.as_map_style()[index]

    def _epoch_order(self) -> list[tuple[int, np.ndarray]]:
        shard, local = self._locate(self.keep)  # keep ascends, so each shard's members are one run
        per_shard = np.split(local, np.searchsorted(shard, np.arange(1, len(self.shards.urls))))
        permutation = np.random.default_rng([self.plan.seed, self.plan.epoch]).permutation(
            len(self.shards.urls)
        )
        return [(int(s), per_shard[s]) for s in permutation]

    def _worker_samples(self, worker: int) -> Iterator[tuple[str, bytes, int]]:
        start, stop = self.plan.worker_slice(len(self.keep), worker)
        seen = 0
        for shard, local in self._epoch_order():
            lo, hi = max(start - seen, 0), min(stop - seen, len(local))
            seen += len(local)
            if lo < hi:
                yield from _samples_of(self.shards.urls[shard], local[lo:hi])
            if seen >= stop:
                return

    def __iter__(self) -> Iterator[tuple[Any, int]]:
        plan, info = self.plan, get_worker_info()
        workers = info.num_workers if info is not None else 1
        if workers != plan.workers:
            raise ConfigError(f"shard stream planned for {plan.workers} loader workers, run by {workers}")
        # rotate so that the loader's round-robin, which starts at worker 0, continues at batch start_step
        worker = ((info.id if info is not None else 0) + plan.start_step) % plan.workers
        rng = np.random.default_rng([plan.seed, plan.epoch, plan.rank, worker])
        skip = plan.batches_done(worker) * plan.batch_size
        last_good, pending = None, 0
        samples = buffer_shuffle(self._worker_samples(worker), self.shuffle_buffer, rng)
        for i, (name, data, label) in enumerate(samples):
            if i < skip:
                continue
            try:
                img = _decode(name, data, self)
            except DataError as exc:
                if not self.skip_corrupt:
                    raise
                self._skip(name, exc)
                if last_good is None:  # nothing readable yet: repeat the next readable one instead
                    pending += 1
                    continue
                name, data, label = last_good
                img = _decode(name, data, self)
            last_good = (name, data, label)
            yield img, label
            for _ in range(pending):
                yield _decode(name, data, self), label
            pending = 0
        if pending:
            raise DataError(
                f"no readable image among {pending} samples of this worker's shards (epoch {plan.epoch})"
            )


class ShardSampler:
    """The trainer's sampler for a :class:`ShardStream`: ``len`` is this rank's samples per epoch, and
    :meth:`epoch_stream` is the stream planned for one epoch (from ``start_step`` when resuming)."""

    def __init__(self, stream: ShardStream, world: int, rank: int, workers: int, batch_size: int, seed: int):
        self.stream = stream
        self.plan = EpochPlan(world, rank, max(1, workers), batch_size, seed)
        used = self.plan.batches_per_rank(len(stream)) * batch_size * world
        if rank == 0:
            logger.info(
                "shards: %d of %d training images per epoch (%d left over: whole batches on %d process(es))",
                used,
                len(stream),
                len(stream) - used,
                world,
            )

    def __len__(self) -> int:
        return self.plan.batches_per_rank(len(self.stream)) * self.plan.batch_size

    def set_epoch(self, epoch: int) -> None:
        self.plan = EpochPlan(**{**self.plan.__dict__, "epoch": int(epoch)})

    def epoch_stream(self, epoch: int, start_step: int = 0) -> ShardStream:
        plan = EpochPlan(**{**self.plan.__dict__, "epoch": int(epoch), "start_step": int(start_step)})
        return self.stream._like(self.stream.keep, plan)


class ShardFiles(_ShardData, SkippingDataset, Dataset):
    """Map-style access to local shard files (validation, ``--data-cache``): each shard's member offsets are
    read from its tar headers once, on first use. ``skip_corrupt``: an unreadable image is replaced by the next
    readable sample."""

    def _member(self, shard: int, local: int) -> tuple[str, int, int, int]:
        if shard not in self._members:
            url = self.shards.urls[shard]
            if not Path(url).is_file():
                raise DataError(f"{url}: validation and --data-cache read shards at random: local files only")
            self._members[shard] = _scan(url)
        return self._members[shard][local]

    @property
    def source(self) -> str:
        return self.shards.urls[0] + ("..." if len(self.shards.urls) > 1 else "")

    def _entry(self, index: int) -> tuple[int, tuple[str, int, int, int]]:
        shard, local = (int(v[0]) for v in self._locate(self.keep[index : index + 1]))
        return shard, self._member(shard, local)

    def sample_name(self, index: int) -> str:
        return self._entry(index)[1][0]

    def load(self, index: int) -> tuple[Any, int]:
        shard, (name, offset, size, label) = self._entry(index)
        with open(self.shards.urls[shard], "rb") as fh:
            fh.seek(offset)
            data = fh.read(size)
        return _decode(name, data, self), label


def _scan(url: str) -> list[tuple[str, int, int, int]]:
    """(name, data offset, size, cls) of every sample of a local shard, from its tar headers."""
    samples: dict[str, dict[str, Any]] = {}
    try:
        with tarfile.open(url, "r:") as tar:
            for member in tar:
                parts = _key_ext(member.name) if member.isfile() else None
                if parts is not None:
                    samples.setdefault(parts[0], {})[parts[1]] = member
            out = []
            for key, members in samples.items():
                ext = _image_ext(url, key, members)
                label = int(tar.extractfile(members["cls"]).read())
                out.append((f"{url}:{key}.{ext}", members[ext].offset_data, members[ext].size, label))
            return out
    except (tarfile.TarError, OSError) as exc:
        raise DataError(f"unreadable shard {url}: {exc}") from exc


def shard_dataset(
    spec: str | Path, split: str, transform: Transform, val_split: float, seed: int, skip_corrupt: bool
) -> Any:
    """``build_dataset`` for shards: the streamed training set, or the validation set (map-style): the
    index's val split, else ``val_split`` of the training shards held out (stratified, ``seed``)."""
    sets, index_path = open_shards(spec)
    train = ShardStream(sets["train"], transform, skip_corrupt)
    if "val" in sets:
        if val_split > 0:
            logger.info("%s has a val split; val_split=%g is ignored", index_path, val_split)
        return train if split == "train" else ShardFiles(sets["val"], transform, skip_corrupt)
    if val_split <= 0:
        if split == "train":
            return train
        raise DataError(
            f"no validation data: {index_path} has no val split; pack a val/ folder too, or pass --val-split "
            "FRACTION to hold out a stratified part of the training shards"
        )
    train_keep, val_keep = split_indices(train.targets, val_split, seed)
    if split == "train":
        return train.subset(train_keep)
    return ShardFiles(sets["train"], transform, skip_corrupt, train.keep[val_keep])
