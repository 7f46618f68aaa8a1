"""Released weights by name, against a local HTTP server on 127.0.0.1 (no test reaches the internet)."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from weights_server import WeightsServer, forbid_internet, serve

from deit.models import PAPER_ZOO, create_model, hub
from deit.models.hub import WeightsError

NAME = "deit_nano_patch4_16"


def official_bytes(model: torch.nn.Module) -> bytes:
    buf = io.BytesIO()
    torch.save({"model": model.state_dict()}, buf)  # the official release layout
    return buf.getvalue()


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[WeightsServer]:
    for var in ("DEIT_OFFLINE", "HF_HUB_OFFLINE", "XDG_CACHE_HOME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("DEIT_HOME", str(tmp_path / "home"))
    forbid_internet(monkeypatch)
    with serve() as srv:
        monkeypatch.setenv("DEIT_WEIGHTS_URL", srv.url + "/deit")
        yield srv


def publish(
    srv: WeightsServer, monkeypatch: pytest.MonkeyPatch, data: bytes, hash_prefix: str | None = None
) -> str:
    """Serve ``data`` as NAME's release; the file name carries ``hash_prefix`` (default: the true one)."""
    prefix = hash_prefix or hashlib.sha256(data).hexdigest()[:8]
    filename = f"{NAME}-{prefix}.pth"
    srv.files[f"/deit/{filename}"] = data
    monkeypatch.setitem(hub.RELEASED, NAME, hub.ReleasedWeights(NAME, filename))
    return filename


def cached(tmp_path: Path) -> list[str]:
    """The cache's files (its .locks folder of download locks aside)."""
    folder = tmp_path / "home" / "weights"
    return sorted(p.name for p in folder.iterdir() if p.name != ".locks") if folder.exists() else []


def test_paper_zoo_has_official_urls_with_hash_prefixes() -> None:
    for name in PAPER_ZOO:
        entry = hub.released(name)
        assert entry.filename.startswith(name + "-") and entry.filename.endswith(".pth")
        assert len(entry.sha256_prefix) == 8 and int(entry.sha256_prefix, 16) >= 0
        assert entry.hf_repo == f"timm/{name}.fb_in1k"
        assert entry.hf_facebook_repo == "facebook/" + name.replace("_", "-")
    assert (
        hub.released("deit_base_distilled_patch16_224").filename
        == "deit_base_distilled_patch16_224-df68dfff.pth"
    )


def test_cache_dir_conventions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DEIT_HOME", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert hub.cache_dir() == tmp_path / "xdg" / "deit" / "weights"
    monkeypatch.setenv("DEIT_HOME", str(tmp_path / "dh"))
    assert hub.cache_dir() == tmp_path / "dh" / "weights"
    assert not hub.is_offline() and hub.is_offline(True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert hub.is_offline()


def test_download_verifies_caches_and_then_works_offline(
    server: WeightsServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    released = create_model(NAME, num_classes=1000)
    filename = publish(server, monkeypatch, official_bytes(released))
    assert hub.fetch(NAME, progress=True) == tmp_path / "home" / "weights" / filename
    assert f"downloading {filename}" in capsys.readouterr().err  # the progress bar
    model = create_model(NAME, pretrained=True)
    for key, value in released.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key
    assert cached(tmp_path) == [filename]  # no temporary file left behind
    assert server.requests == [f"GET /deit/{filename}"]
    # a new class count keeps the body and re-initialises the head; offline uses the cached copy
    small = create_model(NAME, pretrained=True, offline=True, num_classes=3)
    assert torch.equal(small.blocks[0].attn.qkv.weight, released.blocks[0].attn.qkv.weight)
    assert small.head.weight.shape[0] == 3
    assert len(server.requests) == 1


def test_hash_mismatch_leaves_nothing_cached(
    server: WeightsServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    publish(server, monkeypatch, official_bytes(create_model(NAME)), hash_prefix="00000000")
    with pytest.raises(WeightsError, match="SHA-256 .* does not start with 00000000.*nothing was cached"):
        create_model(NAME, pretrained=True)
    assert cached(tmp_path) == []


def test_truncated_transfer_leaves_nothing_cached(
    server: WeightsServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    filename = publish(server, monkeypatch, official_bytes(create_model(NAME)))
    server.truncated.add(f"/deit/{filename}")
    with pytest.raises(WeightsError, match="cut short|transfer failed"):
        hub.fetch(NAME)
    assert cached(tmp_path) == []


def test_404_says_what_to_download_and_where(
    server: WeightsServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    filename = publish(server, monkeypatch, b"x")
    server.files.clear()
    with pytest.raises(WeightsError) as info:
        hub.fetch(NAME)
    message = str(info.value)
    assert "HTTP 404" in message
    assert f"{server.url}/deit/{filename}" in message
    assert str(tmp_path / "home" / "weights" / filename) in message
    assert cached(tmp_path) == []


def test_offline_without_cache_refuses_without_network(
    server: WeightsServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    filename = publish(server, monkeypatch, official_bytes(create_model(NAME)))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(WeightsError, match=f"offline mode .*{filename} is not cached.*put it at"):
        hub.fetch(NAME)
    assert server.requests == []


def test_corrupted_cache_is_reported(
    server: WeightsServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    filename = publish(server, monkeypatch, official_bytes(create_model(NAME)))
    folder = tmp_path / "home" / "weights"
    folder.mkdir(parents=True)
    (folder / filename).write_bytes(b"not the release")
    with pytest.raises(WeightsError, match="delete it and retry"):
        hub.fetch(NAME, offline=True)


def test_hugging_face_source_through_huggingface_hub(
    server: WeightsServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from huggingface_hub import constants
    from safetensors.torch import save

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    released = create_model(NAME, num_classes=1000)
    server.hf_put("timm/nano.test", "model.safetensors", save(released.state_dict()))
    monkeypatch.setitem(
        hub.RELEASED, NAME, hub.ReleasedWeights(NAME, f"{NAME}-00000000.pth", "timm/nano.test")
    )
    path = hub.hf_weights(NAME, endpoint=server.url)
    assert path.is_file() and str(path).startswith(str(tmp_path / "hf"))
    model = create_model(NAME)
    from deit.models.loading import load_weights

    load_weights(model, path)
    assert torch.equal(model.pos_embed, released.pos_embed)
    server.requests.clear()
    assert hub.hf_weights(NAME, offline=True, endpoint=server.url) == path  # from the hub cache
    assert server.requests == []
    monkeypatch.setitem(hub.RELEASED, NAME, hub.ReleasedWeights(NAME, f"{NAME}-00000000.pth", "timm/missing"))
    with pytest.raises(WeightsError, match="hf download timm/missing model.safetensors"):
        hub.hf_weights(NAME, endpoint=server.url)


# Each process waits until both are ready, then fetches: the two downloads would overlap without the lock.
_FETCH_SCRIPT = """
import os, sys, time
from pathlib import Path
from deit.models import hub
hub.register_weights(sys.argv[1], sys.argv[2])
ready = Path(sys.argv[3])
(ready / sys.argv[4]).touch()
while len(list(ready.iterdir())) < 2:
    time.sleep(0.01)
print(hub.fetch(sys.argv[1], progress=False))
"""


def test_concurrent_processes_download_once(
    server: WeightsServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two processes on one cache (torchrun ranks, parallel jobs): one GET, both read the verified file."""
    filename = publish(server, monkeypatch, official_bytes(create_model(NAME)))
    server.delay = 1.0  # the second process asks while the first is still downloading
    ready = tmp_path / "ready"
    ready.mkdir()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _FETCH_SCRIPT, NAME, filename, str(ready), f"rank{i}"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    expected = str(tmp_path / "home" / "weights" / filename)
    assert [out.strip() for out, _ in outputs] == [expected, expected]
    assert server.requests == [f"GET /deit/{filename}"]
    assert cached(tmp_path) == [filename]


def test_full_sha256_is_checked_where_registered(
    server: WeightsServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hub, "RELEASED", dict(hub.RELEASED))
    data = official_bytes(create_model(NAME))
    digest = hashlib.sha256(data).hexdigest()
    filename = publish(server, monkeypatch, data)
    wrong = digest[:8] + ("0" if digest[8] != "0" else "1") + digest[9:]  # the file name's prefix still fits
    hub.register_weights(NAME, filename, sha256=wrong)
    with pytest.raises(
        WeightsError, match=f"SHA-256 {digest[:16]}... is not {wrong[:16]}.*nothing was cached"
    ):
        hub.fetch(NAME)
    assert cached(tmp_path) == []
    hub.register_weights(NAME, filename, sha256=digest.upper())
    assert hub.fetch(NAME).read_bytes() == data
    with pytest.raises(WeightsError, match="64 hex digits starting with"):
        hub.register_weights(NAME, filename, sha256="ab" * 32)


@pytest.mark.parametrize(
    "filename", ["../escape-0123abcd.pth", "/tmp/abs-0123abcd.pth", "sub/x-0123abcd.pth", ".."]
)
def test_register_weights_keeps_files_inside_the_cache(filename: str) -> None:
    with pytest.raises(WeightsError, match="must be a plain file name"):
        hub.register_weights("mine", filename)
    assert "mine" not in hub.RELEASED


def test_https_to_http_redirect_is_refused() -> None:
    hub.check_redirect("http://mirror/a.pth", "http://other/a.pth")
    hub.check_redirect("https://mirror/a.pth", "https://cdn/a.pth")
    handler = hub._NoDowngradeRedirect()
    request = urllib.request.Request("https://dl.example/deit/a.pth")
    with pytest.raises(WeightsError, match="redirects to http://evil.example/a.pth: refusing to leave https"):
        handler.redirect_request(request, None, 302, "Found", {}, "http://evil.example/a.pth")
    assert handler.redirect_request(request, None, 302, "Found", {}, "https://cdn.example/a.pth") is not None
