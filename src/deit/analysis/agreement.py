"""Pairwise disagreement between classifiers: fraction of samples classified differently (paper Table 4).

outputs = {**model_outputs("teacher", teacher), **model_outputs("deit-dist", distilled_student)}
preds, targets = collect_predictions(outputs, loader, device)
table = disagreement_matrix(preds)     # table["teacher"]["deit-dist:cls"] -> 0.1
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import torch
from torch import Tensor, nn

from deit.errors import DataError, ModelError
from deit.models.weights import unwrap_model
from deit.progress import progress
from deit.teacher import renormalise


class Renormalised(nn.Module):
    """Feeds ``model`` (which expects ``model_mean``/``model_std``) images normalised with ``mean``/``std``."""

    def __init__(
        self,
        model: nn.Module,
        mean: Sequence[float],
        std: Sequence[float],
        model_mean: Sequence[float],
        model_std: Sequence[float],
    ) -> None:
        super().__init__()
        self.inner = model
        self.head_dist = getattr(unwrap_model(model), "head_dist", None)
        for name, values in (
            ("mean", mean),
            ("std", std),
            ("model_mean", model_mean),
            ("model_std", model_std),
        ):
            self.register_buffer(name, torch.tensor(values, dtype=torch.float32).view(1, -1, 1, 1))

    def _convert(self, x: Tensor) -> Tensor:
        return renormalise(x, self.mean, self.std, self.model_mean, self.model_std)

    def forward(self, x: Tensor) -> Tensor | tuple[Tensor, Tensor]:
        return self.inner(self._convert(x))

    def forward_heads(self, x: Tensor) -> tuple[Tensor, Tensor | None]:
        return unwrap_model(self.inner).forward_heads(self._convert(x))


def model_outputs(name: str, model: nn.Module) -> dict[str, Callable[[Tensor], Tensor]]:
    """Named logit functions: ``name:cls``, ``name:dist``, ``name:fused`` for a distilled DeiT, else ``name``.

    Puts ``model`` in eval mode (no dropout / stochastic depth while collecting predictions).
    """
    model.eval()
    net = unwrap_model(model)
    if getattr(net, "head_dist", None) is not None and hasattr(net, "forward_heads"):
        cache: list[tuple[Tensor, Tensor, Tensor]] = []  # (input, cls, dist) of the last batch

        def heads(x: Tensor) -> tuple[Tensor, Tensor]:
            # the three outputs of one model share one forward pass per batch (same input object)
            if cache and cache[0][0] is x:
                return cache[0][1], cache[0][2]
            cls, dist = net.forward_heads(x)
            cache[:] = [(x, cls, dist)]
            return cls, dist

        return {
            f"{name}:cls": lambda x: heads(x)[0],
            f"{name}:dist": lambda x: heads(x)[1],
            f"{name}:fused": lambda x: (heads(x)[0].float() + heads(x)[1].float()) / 2,
        }

    def plain(x: Tensor) -> Tensor:
        out = model(x)
        if isinstance(out, (tuple, list)):  # a distilled model in training mode: fuse as at inference
            out = (out[0].float() + out[1].float()) / 2
        return out

    return {name: plain}


@torch.no_grad()
def collect_predictions(
    outputs: dict[str, Callable[[Tensor], Tensor]],
    loader: Iterable,
    device: torch.device | str = "cpu",
    max_batches: int | None = None,
    show_progress: bool = False,
) -> tuple[dict[str, Tensor], Tensor]:
    """Argmax predictions (CPU int64 [N]) of every named output over the loader, and the targets [N]."""
    if not outputs:
        raise ModelError("collect_predictions: no outputs given")
    device = torch.device(device)
    preds: dict[str, list[Tensor]] = {k: [] for k in outputs}
    targets: list[Tensor] = []
    for images, target in progress(loader, "predictions", show_progress, max_items=max_batches):
        images = images.to(device)
        for name, fn in outputs.items():
            preds[name].append(fn(images).argmax(dim=-1).cpu())
        targets.append(torch.as_tensor(target).cpu())
    if not targets:
        raise DataError("collect_predictions: the data loader yielded no images")
    return {k: torch.cat(v) for k, v in preds.items()}, torch.cat(targets)


def disagreement_matrix(preds: dict[str, Tensor]) -> dict[str, dict[str, float]]:
    """``m[a][b]`` = fraction of samples on which outputs ``a`` and ``b`` predict different classes.

    Symmetric with a zero diagonal; all prediction tensors must have the same length.
    """
    names = list(preds)
    lengths = {k: int(v.numel()) for k, v in preds.items()}
    if len(set(lengths.values())) > 1:
        raise ModelError(f"disagreement_matrix: predictions of different lengths {lengths}")
    out: dict[str, dict[str, float]] = {a: {} for a in names}
    for i, a in enumerate(names):
        out[a][a] = 0.0
        for b in names[i + 1 :]:
            n = max(lengths[a], 1)
            value = float((preds[a].reshape(-1) != preds[b].reshape(-1)).sum().item()) / n
            out[a][b] = value
            out[b][a] = value
    return out


def accuracies(preds: dict[str, Tensor], targets: Tensor) -> dict[str, float]:
    """Top-1 accuracy (%) of every output."""
    return {k: 100.0 * float((v == targets).float().mean().item()) for k, v in preds.items()}


def to_markdown(matrix: dict[str, dict[str, float]], accuracy: dict[str, float] | None = None) -> str:
    """The matrix as a Markdown table (percent), like the paper's Table 4; optional accuracy column."""
    names = list(matrix)
    header = "| | " + " | ".join(names) + (" | top-1 |" if accuracy else " |")
    sep = "|---|" + "---:|" * len(names) + ("---:|" if accuracy else "")
    rows = [header, sep]
    for a in names:
        cells = [f"{100.0 * matrix[a][b]:.2f}" for b in names]
        acc = f" | {accuracy[a]:.2f}" if accuracy and a in accuracy else (" | " if accuracy else "")
        rows.append(f"| {a} | " + " | ".join(cells) + acc + " |")
    return "\n".join(rows)
