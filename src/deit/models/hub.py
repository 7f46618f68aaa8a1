"""Released weights by name: the official DeiT files and the Hugging Face hub, downloaded into a cache.

Sources for each paper-zoo model:

* ``official``: ``https://dl.fbaipublicfiles.com/deit/<name>-<sha256[:8]>.pth`` (the URLs of the official
  repository's ``models.py``). ``$DEIT_WEIGHTS_URL`` replaces the base URL (a mirror, ``file:///shared/``).
  Files land in :func:`cache_dir` and are checked against the SHA-256 prefix in their name (the official
  release publishes only those 8 hex digits) or the full SHA-256 where it is registered; a download goes to a
  temporary file that is renamed into place only once verified. One process downloads while the others wait
  on a file lock in the cache and then read the verified file (ranks under ``torchrun``, parallel jobs on
  one node). A redirect from https to plain http is refused.
* ``hf`` (timm's repos, ``timm/<name>.fb_in1k``, ``model.safetensors`` with timm keys) and ``hf-facebook``
  (the authors' transformers repos, ``facebook/deit-…``): fetched by ``huggingface_hub`` into its own cache,
  which honours ``HF_HOME``, ``HF_HUB_CACHE``, ``HF_ENDPOINT`` and ``HF_HUB_OFFLINE``.

Offline mode (``offline=True``, ``$DEIT_OFFLINE=1`` or ``$HF_HUB_OFFLINE=1``) uses cached copies only.
Every failure raises :class:`WeightsError` naming what to download and where to put it.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from deit.errors import DeiTError
from deit.progress import is_interactive

OFFICIAL_BASE_URL = "https://dl.fbaipublicfiles.com/deit/"
SOURCES = ("official", "hf", "hf-facebook")
_CHUNK = 1 << 20
_TRUE = {"1", "true", "yes", "on"}
_HEX = set("0123456789abcdef")

log = logging.getLogger("deit.models")


class WeightsError(DeiTError):
    """Released weights could not be found, downloaded or verified; the message says what to do."""


@dataclass(frozen=True)
class ReleasedWeights:
    """Where the weights of one model name live. ``filename`` ends in ``-<sha256 prefix>.<ext>``;
    ``sha256``, when the publisher gives it, is the full digest the file must have."""

    name: str
    filename: str
    hf_repo: str | None = None  # timm-format safetensors (timm's hub repos)
    hf_facebook_repo: str | None = None  # transformers folder (the authors' hub repos)
    sha256: str | None = None

    @property
    def sha256_prefix(self) -> str:
        return Path(self.filename).stem.rsplit("-", 1)[-1].lower()

    @property
    def expected_sha256(self) -> str:
        """The full digest if known, else the prefix in the file name: what a file must start with."""
        return (self.sha256 or self.sha256_prefix).lower()


def _official(name: str, hash8: str, hf_name: str) -> ReleasedWeights:
    return ReleasedWeights(name, f"{name}-{hash8}.pth", f"timm/{name}.fb_in1k", f"facebook/{hf_name}")


# The eight models of the paper, as published in facebookresearch/deit models.py.
RELEASED: dict[str, ReleasedWeights] = {
    w.name: w
    for w in (
        _official("deit_tiny_patch16_224", "a1311bcf", "deit-tiny-patch16-224"),
        _official("deit_small_patch16_224", "cd65a155", "deit-small-patch16-224"),
        _official("deit_base_patch16_224", "b5f2ef4d", "deit-base-patch16-224"),
        _official("deit_tiny_distilled_patch16_224", "b40b3cf7", "deit-tiny-distilled-patch16-224"),
        _official("deit_small_distilled_patch16_224", "649709d9", "deit-small-distilled-patch16-224"),
        _official("deit_base_distilled_patch16_224", "df68dfff", "deit-base-distilled-patch16-224"),
        _official("deit_base_patch16_384", "8de9b5d1", "deit-base-patch16-384"),
        _official("deit_base_distilled_patch16_384", "d0272ac0", "deit-base-distilled-patch16-384"),
    )
}


def register_weights(
    name: str,
    filename: str,
    hf_repo: str | None = None,
    hf_facebook_repo: str | None = None,
    sha256: str | None = None,
) -> ReleasedWeights:
    """Add (or replace) released weights for ``name``, e.g. your organisation's own fine-tuned release
    served from ``$DEIT_WEIGHTS_URL``. ``filename`` is a plain file name (it lands in :func:`cache_dir`)
    ending in ``-<first 8+ hex digits of its SHA-256>``; give the full ``sha256`` to have it checked too."""
    if not filename or Path(filename).name != filename or filename in (".", ".."):
        raise WeightsError(
            f"register_weights({name!r}): filename {filename!r} must be a plain file name (no folder, no "
            "'..'): it is stored in the weights cache and appended to $DEIT_WEIGHTS_URL"
        )
    entry = ReleasedWeights(name, filename, hf_repo, hf_facebook_repo, sha256.lower() if sha256 else None)
    prefix = entry.sha256_prefix
    if len(prefix) < 8 or not set(prefix) <= _HEX:
        raise WeightsError(f"{filename}: the name must end in -<sha256 prefix, >= 8 hex digits>.<ext>")
    if entry.sha256 is not None and (
        len(entry.sha256) != 64 or not set(entry.sha256) <= _HEX or not entry.sha256.startswith(prefix)
    ):
        raise WeightsError(
            f"register_weights({name!r}): sha256 must be 64 hex digits starting with the {prefix} in {filename}"
        )
    RELEASED[name] = entry
    return entry


def has_released_weights(name: str) -> bool:
    return name in RELEASED


def released(name: str) -> ReleasedWeights:
    if name not in RELEASED:
        raise WeightsError(
            f"no released weights for {name!r}; models with weights: {', '.join(sorted(RELEASED))} "
            "(start from random weights, or pass a local file with --finetune/--checkpoint)"
        )
    return RELEASED[name]


def _env_true(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in _TRUE


def is_offline(offline: bool | None = None) -> bool:
    """``offline`` if given as True, else ``$DEIT_OFFLINE`` / ``$HF_HUB_OFFLINE``."""
    return bool(offline) or _env_true("DEIT_OFFLINE") or _env_true("HF_HUB_OFFLINE")


def cache_dir() -> Path:
    """``$DEIT_HOME/weights``, else ``$XDG_CACHE_HOME/deit/weights``, else ``~/.cache/deit/weights``."""
    home = os.environ.get("DEIT_HOME")
    if home:
        return Path(home).expanduser() / "weights"
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg).expanduser() / "deit" / "weights"


def base_url() -> str:
    url = os.environ.get("DEIT_WEIGHTS_URL") or OFFICIAL_BASE_URL
    return url if url.endswith("/") else url + "/"


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _manual_hint(url: str, dest: Path) -> str:
    return (
        f"download {url} on a machine with internet access (e.g. `curl -L -o {dest.name} {url}`) and put it at "
        f"{dest} (the cache: $DEIT_HOME/weights, else $XDG_CACHE_HOME/deit/weights), or set "
        "$DEIT_WEIGHTS_URL to a mirror holding that file, or pass the local file to --finetune/--checkpoint"
    )


def check_redirect(old_url: str, new_url: str) -> None:
    """Refuse a redirect from https to anything but https: the weights would travel unauthenticated."""
    if urllib.parse.urlsplit(old_url).scheme == "https" and urllib.parse.urlsplit(new_url).scheme != "https":
        raise WeightsError(
            f"{old_url} redirects to {new_url}: refusing to leave https for an unencrypted connection; "
            "download the file yourself from a trusted source, or set $DEIT_WEIGHTS_URL to a mirror"
        )


class _NoDowngradeRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: ANN001, ANN201
        check_redirect(req.full_url, newurl)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _open(url: str):  # noqa: ANN202 (a urllib response)
    # torch.hub.download_url_to_file would do the transfer, but it follows https -> http redirects
    return urllib.request.build_opener(_NoDowngradeRedirect).open(url, timeout=60)


def _digest_mismatch(got: str, expected: str) -> str | None:
    """None if the SHA-256 ``got`` matches ``expected`` (a full digest or a prefix), else what differs."""
    if got.startswith(expected):
        return None
    what = "is not" if len(expected) == 64 else "does not start with"
    shown = expected if len(expected) < 64 else expected[:16] + "..."
    return f"SHA-256 {got[:16]}... {what} {shown}"


def download(url: str, dest: str | Path, sha256_prefix: str, progress: bool | None = None) -> Path:
    """Download ``url`` to ``dest`` through a temporary file in the same folder, renamed into place only
    when the byte count matches ``Content-Length`` and the SHA-256 starts with ``sha256_prefix`` (a full
    digest checks it all)."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    tmp = Path(tmp_name)
    digest = hashlib.sha256()
    try:
        try:
            with os.fdopen(fd, "wb") as out, _open(url) as response:
                length = response.headers.get("Content-Length")
                total = int(length) if length and length.isdigit() else None
                received = 0
                bar = _bar(total, dest.name, progress)
                try:
                    for chunk in iter(lambda: response.read(_CHUNK), b""):
                        out.write(chunk)
                        digest.update(chunk)
                        received += len(chunk)
                        if bar is not None:
                            bar.update(len(chunk))
                finally:
                    if bar is not None:
                        bar.close()
                out.flush()
                os.fsync(out.fileno())
        except WeightsError:
            raise
        except urllib.error.HTTPError as exc:
            raise WeightsError(
                f"cannot download {url}: HTTP {exc.code} {exc.reason}; {_manual_hint(url, dest)}"
            ) from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise WeightsError(f"cannot download {url}: {reason}; {_manual_hint(url, dest)}") from None
        except Exception as exc:  # http.client.HTTPException: IncompleteRead, RemoteDisconnected...
            raise WeightsError(
                f"cannot download {url}: transfer failed ({type(exc).__name__}: {exc}); {_manual_hint(url, dest)}"
            ) from None
        if total is not None and received != total:
            raise WeightsError(
                f"download of {url} was cut short ({received} of {total} bytes); nothing was cached. "
                f"Retry, or {_manual_hint(url, dest)}"
            )
        mismatch = _digest_mismatch(digest.hexdigest(), sha256_prefix.lower())
        if mismatch:
            raise WeightsError(
                f"{url}: {mismatch} (the published hash): corrupted or tampered download, nothing was "
                f"cached. Check the mirror, or {_manual_hint(url, dest)}"
            )
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


@contextlib.contextmanager
def _download_lock(dest: Path) -> Iterator[None]:
    """Hold ``<cache>/.locks/<file>.lock``: one process downloads, the others wait, then find the file."""
    from filelock import FileLock, Timeout

    lock_dir = dest.parent / ".locks"
    lock_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(lock_dir / f"{dest.name}.lock"))
    try:
        lock.acquire(timeout=0.5)
    except Timeout:
        log.info("waiting for another process to download %s", dest.name)
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


def _bar(total: int | None, name: str, enabled: bool | None):  # noqa: ANN202 (tqdm or None)
    if not (is_interactive() if enabled is None else enabled):
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=f"downloading {name}", unit="B", unit_scale=True, unit_divisor=1024)


def _verified(dest: Path, entry: ReleasedWeights, url: str) -> Path | None:
    """``dest`` if it is cached with the expected hash, None if absent; a wrong hash is an error."""
    if not dest.is_file():
        return None
    mismatch = _digest_mismatch(sha256_file(dest), entry.expected_sha256)
    if mismatch:
        raise WeightsError(
            f"cached {dest}: {mismatch} (the published hash): delete it and retry; or {_manual_hint(url, dest)}"
        )
    return dest


def official_weights(name: str, offline: bool | None = None, progress: bool | None = None) -> Path:
    """The cached official file for ``name`` (downloaded from :func:`base_url` when missing, by one process
    at a time: the others wait for it and read the verified file)."""
    entry = released(name)
    dest = cache_dir() / entry.filename
    url = base_url() + entry.filename
    if _verified(dest, entry, url):
        return dest
    if is_offline(offline):
        raise WeightsError(
            f"offline mode (--offline, $DEIT_OFFLINE or $HF_HUB_OFFLINE) and {entry.filename} is not cached: "
            + _manual_hint(url, dest)
        )
    with _download_lock(dest):
        if _verified(dest, entry, url):  # another process downloaded it while this one waited
            return dest
        return download(url, dest, entry.expected_sha256, progress=progress)


def hf_weights(
    name: str, source: str = "hf", offline: bool | None = None, endpoint: str | None = None
) -> Path:
    """``model.safetensors`` of timm's repo (``source="hf"``) or the folder of the authors' transformers
    repo (``source="hf-facebook"``), through ``huggingface_hub``'s cache."""
    entry = released(name)
    repo = entry.hf_repo if source == "hf" else entry.hf_facebook_repo
    if repo is None:
        raise WeightsError(f"{name}: no Hugging Face repo known for source {source!r}")
    try:
        import huggingface_hub
        from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError
    except ImportError:
        raise WeightsError(
            "the Hugging Face source needs huggingface_hub (`pip install huggingface_hub`)"
        ) from None
    local_only = is_offline(offline)
    files = ["model.safetensors"] if source == "hf" else ["config.json", "model.safetensors"]
    try:
        paths = [
            Path(
                huggingface_hub.hf_hub_download(
                    repo, f, local_files_only=local_only, endpoint=endpoint or None
                )
            )
            for f in files
        ]
    except (LocalEntryNotFoundError, HfHubHTTPError, OSError, ValueError) as exc:
        where = "not in the Hugging Face cache (offline mode)" if local_only else f"failed: {exc}"
        raise WeightsError(
            f"{name} from https://huggingface.co/{repo} {where}; on a machine with internet run "
            f"`hf download {repo} {' '.join(files)}` and copy the hub cache ($HF_HOME/hub, default "
            "~/.cache/huggingface/hub), or use --weights-source official"
        ) from None
    return paths[0] if source == "hf" else paths[0].parent


@contextlib.contextmanager
def hf_offline(offline: bool | None) -> Iterator[None]:
    """Force ``huggingface_hub`` (and so timm's ``pretrained=True``) offline while active, when ``offline``:
    the library reads ``$HF_HUB_OFFLINE`` once at import."""
    if not offline:
        yield
        return
    from huggingface_hub import constants

    before = constants.HF_HUB_OFFLINE
    constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = before


def fetch(
    name: str, source: str = "official", offline: bool | None = None, progress: bool | None = None
) -> Path:
    """Local path of the released weights of ``name``: a file (``official``, ``hf``) or a transformers
    folder (``hf-facebook``)."""
    if source not in SOURCES:
        raise WeightsError(f"unknown weights source {source!r}; use one of {', '.join(SOURCES)}")
    if source == "official":
        return official_weights(name, offline=offline, progress=progress)
    return hf_weights(name, source=source, offline=offline)


__all__ = [
    "OFFICIAL_BASE_URL",
    "RELEASED",
    "ReleasedWeights",
    "SOURCES",
    "WeightsError",
    "base_url",
    "cache_dir",
    "check_redirect",
    "download",
    "fetch",
    "has_released_weights",
    "hf_offline",
    "is_offline",
    "official_weights",
    "register_weights",
    "released",
    "sha256_file",
]
