"""What a :class:`deit.trainer.Trainer` saves and restores: the training state dict (``last.pt``,
``best.pt``), resuming from it, and the run folder's export (``model.safetensors`` + ``model.json``).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch

from deit import checkpoint as ckpt
from deit.errors import CheckpointError, NonFiniteLossError
from deit.models.loading import load_weights

log = logging.getLogger("deit")


class TrainerState:
    """Checkpointing of a Trainer (a mixin: it reads the Trainer's model, optimiser, data and run folder)."""

    def state(self, epoch: int, step_in_epoch: int, metrics: dict, partial: dict | None = None) -> dict:
        return {
            "format": "deit-train-v1",
            "model": self.model.state_dict(),
            "model_spec": self.model_spec,
            "class_names": list(self.data.classes),
            "data_mean": list(self.data.mean),
            "data_std": list(self.data.std),
            "img_size": self.data.img_size,
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler else None,
            "ema": self.ema.state_dict() if self.ema else None,
            "epoch": epoch,  # completed epochs
            "step_in_epoch": step_in_epoch,  # > 0 only for a checkpoint taken mid-epoch (signal)
            "epoch_sums": partial,  # the interrupted epoch's loss sums, continued on resume
            "global_step": self.ctx.global_step,
            "best_top1": self.best_top1 if self.best_top1 != float("-inf") else None,
            "rng": ckpt.capture_rng_state(),
            "config": self.cfg.to_dict(),
            "choices": self.choices,  # source and reason of every auto value (recipe, data path, threads)
            "metrics": metrics,
        }

    def _resume(self, path: Path) -> None:
        state = ckpt.load_checkpoint(path, map_location="cpu")
        if state.get("format") != "deit-train-v1":
            raise CheckpointError(
                f"--resume {path}: not a deit training checkpoint (use --finetune for weights)"
            )
        spec = state.get("model_spec") or {}
        if spec.get("name") != self.model_spec["name"]:
            raise CheckpointError(
                f"--resume {path}: checkpoint model {spec.get('name')!r} differs from --model "
                f"{self.model_spec['name']!r}"
            )
        load_weights(self.model, state["model"], adapt=False)
        self._load_optimizer(state, path)
        if self.scaler is not None and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        if self.ema is not None and state.get("ema"):
            self.ema.load_state_dict(state["ema"])
        self.start_epoch, self.start_step = int(state["epoch"]), int(state.get("step_in_epoch", 0))
        self.ctx.global_step = int(state.get("global_step", 0))
        self.best_top1 = state.get("best_top1") if state.get("best_top1") is not None else float("-inf")
        self._resume_rng = state.get("rng") if self.start_step else None
        self._resume_sums = state.get("epoch_sums") if self.start_step else None
        if self.dist.is_main and self.run.metrics_path.exists():
            # Epochs logged after this checkpoint (a crash between the metrics line and the save) run again.
            kept = [
                r for r in ckpt.read_jsonl(self.run.metrics_path) if r.get("epoch", 0) <= self.start_epoch
            ]
            tmp = self.run.metrics_path.with_name(f".{self.run.metrics_path.name}.tmp")
            tmp.write_text("".join(json.dumps(r) + "\n" for r in kept))
            tmp.replace(self.run.metrics_path)
        log.info("resumed from %s at epoch %d step %d", path, self.start_epoch, self.start_step)

    def _load_optimizer(self, state: dict, path: Path) -> None:
        """The checkpoint's optimizer moments under this run's hyper-parameters: ``load_state_dict`` would
        bring back the old weight decay, eps, betas, momentum (and a fused flag from another device), so the
        values this run's flags built are put back and every change is logged. The learning rate follows
        this run's schedule (``--lr``, ``--min-lr``, ``--epochs``...) from the next step on."""
        old_cfg = state.get("config") or {}
        if old_cfg.get("opt", self.cfg.opt) != self.cfg.opt:
            raise CheckpointError(
                f"--resume {path}: the checkpoint was trained with --opt {old_cfg['opt']}, this run asks for "
                f"--opt {self.cfg.opt}; its optimizer state does not carry over. Resume with --opt "
                f"{old_cfg['opt']}, or start from its weights with --finetune {path}"
            )
        built = [{k: v for k, v in g.items() if k != "params"} for g in self.optimizer.param_groups]
        self.optimizer.load_state_dict(state["optimizer"])
        changes = {}
        for group, fresh in zip(self.optimizer.param_groups, built, strict=True):
            for key, value in fresh.items():
                if key != "lr" and group.get(key) != value:
                    if key in ("weight_decay", "eps", "betas", "momentum"):
                        changes.setdefault(key, (group.get(key), value))
                    group[key] = value
        for flag in ("lr", "min_lr", "warmup_lr", "epochs", "warmup_epochs", "sched"):
            old, new = old_cfg.get(flag), getattr(self.cfg, flag, None)
            if old is not None and old != new:
                changes[flag] = (old, new)
        if changes:
            log.warning(
                "--resume: applying this run's %s (the checkpoint's optimizer state keeps only its moments)",
                ", ".join(f"--{k.replace('_', '-')} {old} -> {new}" for k, (old, new) in changes.items()),
            )

    def save(
        self, epoch: int, step_in_epoch: int, metrics: dict, best: bool, partial: dict | None = None
    ) -> None:
        # a finite loss with NaN/Inf gradients poisons the weights: never let them replace the last good checkpoint
        bad = [
            k
            for k, v in self.model.state_dict().items()
            if v.is_floating_point() and not torch.isfinite(v).all()
        ]
        if bad:
            raise NonFiniteLossError(
                f"the model weights became non-finite ({', '.join(bad[:3])}{', ...' if len(bad) > 3 else ''}) "
                f"by epoch {epoch} step {step_in_epoch} (global step {self.ctx.global_step}) although every loss "
                f"was finite (NaN/Inf gradients); not saving them; last good checkpoint: {self._last_good()} "
                "(intact; resume from it with --resume, perhaps with --clip-grad, a lower --lr or --amp none)"
            )
        if not self.dist.is_main:
            return
        state = self.state(epoch, step_in_epoch, metrics, partial)
        if best:
            ckpt.save_checkpoint(state, self.run.best)
        ckpt.save_checkpoint(state, self.run.last)

    def export(self, metrics: dict) -> None:
        """model.safetensors from the weights ``best.pt`` holds when validation ran (so a run folder means
        the same weights to every command), else the final weights."""
        state, epoch = self.model.state_dict(), self.cfg.epochs
        if self.run.best.is_file():
            best = ckpt.load_checkpoint(self.run.best, map_location="cpu")
            state, epoch, metrics = best["model"], best.get("epoch", epoch), best.get("metrics") or metrics
        meta = {
            "epoch": epoch,
            "model_spec": self.model_spec,
            "class_names": list(self.data.classes),
            "data_mean": list(self.data.mean),
            "data_std": list(self.data.std),
            "img_size": self.data.img_size,
            "metrics": metrics,
            "config": self.cfg.to_dict(),
        }
        ckpt.export_model(state, meta, self.run.root)
