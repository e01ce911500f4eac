"""The training engine: named stages, checkpoints, exact resume, validation, DDP.

:func:`train` runs a :class:`~mmfuse.train.config.TrainConfig` from start to end or continues an
interrupted run folder. The model is any registered architecture that follows the contract in
``docs/training.md``:

* ``forward(ir (B,1,H,W), vis (B,1|3,H,W)) -> {"fused": ..., ...}``, or
  ``forward_stage(stage, batch) -> dict`` when defined (it then replaces ``forward`` in
  training and validation, e.g. a restoration-only first stage);
* ``training_losses(batch, outputs, stage, weights) -> {"total": ..., <term>: ...}``;
* class attributes ``size_multiple`` (validation images are padded to it), ``vis_mode``
  (``"y"``: the engine converts ``vis`` / ``vis_clean`` to BT.601 luminance with kornia) and
  optionally ``default_loss_weights`` (the valid ``loss_weights`` keys and their defaults).

One optimisation step: load this rank's share of the global batch
(:mod:`mmfuse.data.loader`), forward through DistributedDataParallel when several processes
run, backward, clip, optimizer and scheduler step, EMA update. Every ``log.every`` steps the
rank-averaged loss terms go to ``log.csv``; every ``validation.every`` steps and at each stage
end rank 0 validates; every ``checkpoint.every`` steps and at each stage end rank 0 writes
``checkpoints/last.*`` (:mod:`mmfuse.train.checkpoint`). SIGINT / SIGTERM finish the current
step, write a checkpoint and stop; SIGKILL loses the steps since the last checkpoint.
"""
from __future__ import annotations

import copy
import dataclasses
import inspect
import math
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from mmfuse.data.loader import collate_items, make_loader
from mmfuse.errors import ConfigError, InputError, MMFuseError
from mmfuse.io import pad_to_multiple
from mmfuse.models.base import load_state_checked, load_weights_file
from mmfuse.train import checkpoint as ckpt_io
from mmfuse.train.config import StageConfig, TrainConfig, apply_overrides, config_from_dict, config_to_dict, load_config, read_yaml, save_config
from mmfuse.train.datasets import build_source, build_train_stream, build_val_items, check_data
from mmfuse.train.distributed import (
    DistInfo,
    all_gather_objects,
    barrier,
    init_distributed,
    mean_over_ranks,
    shutdown_distributed,
)
from mmfuse.train.logger import RunLogger
from mmfuse.train.optim import apply_freeze, build_optimizer, build_scheduler, set_frozen_eval

__all__ = ["TrainResult", "TrainingDiverged", "train", "build_model", "prepare_batch", "stage_forward", "Trainer"]

CONFIG_FILE = "config.yaml"


class TrainingDiverged(MMFuseError):
    """A loss became NaN or infinite (lower the learning rate or enable grad_clip)."""


@dataclass
class TrainResult:
    """What a call to :func:`train` did.

    Attributes:
        run_dir: the run folder.
        step: steps done (over all stages).
        total_steps: steps the config asks for.
        start_step: step the call started from (non-zero when resumed).
        seconds: wall time of this call.
        samples_per_s: training throughput of this call (all processes).
        last_losses: rank-averaged loss terms of the last step.
        last_val: the last validation values (empty without validation data).
    """

    run_dir: Path
    step: int
    total_steps: int
    start_step: int
    seconds: float
    samples_per_s: float
    last_losses: dict[str, float] = field(default_factory=dict)
    last_val: dict[str, float] = field(default_factory=dict)

    @property
    def completed(self) -> bool:
        return self.step >= self.total_steps


# --------------------------------------------------------------------------- model contract


def build_model(cfg: TrainConfig) -> nn.Module:
    """Instantiate the config's architecture and check the training contract.

    Raises:
        ConfigError: unknown architecture, an unknown constructor argument (with the valid
            ones), invalid argument values, or a class that lacks ``training_losses``.
    """
    from mmfuse.models.registry import get_arch

    try:
        cls = get_arch(cfg.arch)
    except InputError as err:
        raise ConfigError(f"model.name: {err}") from None
    params = inspect.signature(cls.__init__).parameters
    accepts_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    valid = [n for n, p in params.items() if n != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    if not accepts_any:
        import difflib

        for key in cfg.arch_kwargs:
            if key not in valid:
                close = difflib.get_close_matches(key, valid, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise ConfigError(f"unknown key 'model.{key}' for architecture {cfg.arch!r}{hint} (valid keys: name, {', '.join(valid)})")
    if not callable(getattr(cls, "training_losses", None)):
        raise ConfigError(f"model.name: architecture {cfg.arch!r} has no training_losses(batch, outputs, stage, weights) method")
    if getattr(cls, "vis_mode", "y") not in ("y", "rgb"):
        raise ConfigError(f"model.name: architecture {cfg.arch!r} has vis_mode {cls.vis_mode!r} (expected 'y' or 'rgb')")
    try:
        return cls(**cfg.arch_kwargs)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"model: cannot build {cfg.arch!r} with {cfg.arch_kwargs} ({err})") from None


def loss_weights(model: nn.Module, stage: StageConfig) -> dict[str, float]:
    """The stage's loss weights over the model's defaults; unknown terms are a config error."""
    defaults = getattr(model, "default_loss_weights", None)
    if defaults is None:
        return dict(stage.loss_weights)
    import difflib

    for key in stage.loss_weights:
        if key not in defaults:
            close = difflib.get_close_matches(key, list(defaults), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(
                f"unknown key 'stages.{stage.name}.loss_weights.{key}'{hint} (loss terms of {type(model).__name__}: {', '.join(defaults)})"
            )
    return {**defaults, **stage.loss_weights}


def prepare_batch(batch: dict[str, Any], device: torch.device, vis_mode: str) -> dict[str, Any]:
    """Move a collated batch to ``device`` and convert ``vis`` / ``vis_clean`` to luminance if ``vis_mode == "y"``.

    Luminance is BT.601 Y (``kornia.color.rgb_to_ycbcr``), the same as :func:`mmfuse.io.rgb_to_ycbcr`.
    """
    from kornia.color import rgb_to_ycbcr

    out = {k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
    if vis_mode == "y":
        for k in ("vis", "vis_clean"):
            v = out.get(k)
            if isinstance(v, torch.Tensor) and v.ndim == 4 and v.shape[1] == 3:
                out[k] = rgb_to_ycbcr(v)[:, :1]
    return out


def stage_forward(model: nn.Module, stage: str, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
    """``model.forward_stage(stage, batch)`` if the model defines it, else ``model(batch["ir"], batch["vis"])``."""
    fs = getattr(model, "forward_stage", None)
    if fs is not None:
        return fs(stage, batch)
    return model(batch["ir"], batch["vis"])


class _StageForward(nn.Module):
    """Wraps the model so that DistributedDataParallel sees :func:`stage_forward` as ``forward``."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, stage: str, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        return stage_forward(self.model, stage, batch)


# --------------------------------------------------------------------------- engine


@contextmanager
def _graceful_stop() -> Iterator[dict[str, bool]]:
    """Turn SIGINT/SIGTERM into a flag checked between steps (main thread only)."""
    flag = {"stop": False}
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def handler(signum: int, frame: Any) -> None:
        if flag["stop"]:  # second signal: stop now
            raise KeyboardInterrupt
        flag["stop"] = True

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield flag
    finally:
        for s, h in old.items():
            signal.signal(s, h)


@contextmanager
def _torch_settings(deterministic: bool, threads: int | None) -> Iterator[None]:
    """Deterministic algorithms (warn-only) and the intra-op thread count, restored afterwards."""
    prev, prev_warn = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    prev_threads = torch.get_num_threads()
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(prev, warn_only=prev_warn)
        torch.set_num_threads(prev_threads)


def _seed_everything(seed: int) -> None:
    import random

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


class Trainer:
    """Runs the stages of a config in a run folder (use :func:`train`, which sets it up).

    Args:
        cfg: the resolved config.
        run_dir: run folder (exists; holds ``config.yaml``).
        dist: this process's place in the process group.
        resume: continue from ``checkpoints/last.*`` if present.
        stop_at: stop (with a checkpoint) once this global step is reached.
    """

    def __init__(self, cfg: TrainConfig, run_dir: Path, dist: DistInfo, *, resume: bool, stop_at: int | None = None) -> None:
        self.cfg = cfg
        self.stop_at = cfg.total_steps if stop_at is None else min(int(stop_at), cfg.total_steps)
        self.run_dir = run_dir
        self.dist = dist
        self.resume = resume
        self.device = dist.device
        _seed_everything(cfg.seed)
        self.model = build_model(cfg).to(self.device)
        for st in cfg.stages:  # fail early on bad loss weights, freeze prefixes or data
            loss_weights(self.model, st)
            apply_freeze(self.model, st)
            check_data(cfg.stage_data(st), cfg.seed)
        self.vis_mode = getattr(self.model, "vis_mode", "y")
        self.size_multiple = int(getattr(self.model, "size_multiple", 1))
        self.step = 0
        self.elapsed_before = 0.0
        self.ckpt: ckpt_io.Checkpoint | None = None
        if resume and ckpt_io.has_checkpoint(run_dir):
            self.ckpt = ckpt_io.load_checkpoint(run_dir, device=self.device)
            load_state_checked(self.model, self.ckpt.weights, f"{run_dir}: checkpoint does not fit the configured model")
            self.step = self.ckpt.step
            self.elapsed_before = float(self.ckpt.state.get("elapsed", 0.0))
        elif cfg.init_weights:
            unset = load_state_checked(
                self.model,
                load_weights_file(cfg.init_weights, device=str(self.device))[0],
                f"{cfg.init_weights}: init_weights does not fit the configured model",
                allow_missing=cfg.init_partial,
            )
            if unset and dist.is_main:
                modules = sorted({n.split(".")[0] for n in unset})
                tqdm.write(f"init_weights: {len(unset)} tensors not in the file keep their initialisation ({', '.join(modules)})", file=sys.stderr)
        # per-rank randomness of the model (noise, dropout) after identical initialisation
        torch.manual_seed(cfg.seed + 7919 * dist.rank + 1)
        if self.ckpt is not None:
            rngs = self.ckpt.state.get("rng") or []
            if len(rngs) == dist.world_size:
                ckpt_io.set_rng_state(rngs[dist.rank])
        # every rank checks the metric names and validation folders (an error on rank 0 alone
        # would leave the others waiting); rank 0 alone loads and scores the validation pairs
        self._metrics_fn = self._metrics_backend() if cfg.data.val else None
        for src in cfg.data.val:
            build_source(src, "val", cache=False)
        self.val_items = build_val_items(cfg.data, cfg.seed, max_items=cfg.validation.max_items, crop=cfg.validation.crop) if dist.is_main else []
        self.last_losses: dict[str, float] = {}
        self.last_val: dict[str, float] = {}
        self._t0 = time.perf_counter()

    # ----------------------------------------------------------------- helpers

    def _metrics_backend(self) -> Any:
        """``mmfuse.metrics.evaluate`` if available (validation metrics are skipped otherwise)."""
        if not self.cfg.validation.metrics:
            return None
        try:
            from mmfuse.metrics import evaluate, resolve_metrics
        except ImportError:
            tqdm.write("warning: mmfuse.metrics is not available; validation reports losses only", file=sys.stderr)
            return None
        try:
            resolve_metrics(list(self.cfg.validation.metrics), self.cfg.validation.profile)
        except InputError as err:
            raise ConfigError(f"validation: {err}") from None
        return evaluate

    def _wall(self) -> float:
        return self.elapsed_before + time.perf_counter() - self._t0

    def _meta(self, stage: str) -> dict[str, Any]:
        return {"arch": self.cfg.arch, "arch_kwargs": self.cfg.arch_kwargs, "method": self.cfg.method or self.cfg.arch, "stage": stage, "step": self.step}

    def _train_mode(self, stage: StageConfig) -> None:
        self.model.train()
        if stage.frozen_eval:
            set_frozen_eval(self.model)

    def _stage_bounds(self) -> list[tuple[int, int]]:
        bounds, start = [], 0
        for st in self.cfg.stages:
            bounds.append((start, start + st.steps))
            start += st.steps
        return bounds

    # ----------------------------------------------------------------- validation

    @torch.no_grad()
    def validate(self, net: nn.Module, stage: StageConfig, weights: dict[str, float]) -> dict[str, float]:
        """Losses and metrics averaged over the validation items.

        Metrics come from :func:`mmfuse.metrics.evaluate` on the fused image cropped back to the
        item's size; with clean references (degraded inputs) they follow its degraded-fusion
        protocol (reference-based metrics compare with the clean images).
        """
        was = net.training
        net.eval()
        sums: dict[str, float] = {}
        counts: dict[str, int] = {}

        def add(k: str, v: float) -> None:
            if math.isfinite(v):
                sums[k] = sums.get(k, 0.0) + v
                counts[k] = counts.get(k, 0) + 1

        try:
            for item in self.val_items:
                first = next(v for v in item.values() if isinstance(v, np.ndarray))
                h, w = first.shape[:2]
                padded = {k: pad_to_multiple(v, self.size_multiple)[0] if isinstance(v, np.ndarray) else v for k, v in item.items()}
                batch = prepare_batch(collate_items([padded]), self.device, self.vis_mode)
                outputs = stage_forward(net, stage.kind, batch)
                for k, v in net.training_losses(batch, outputs, stage.kind, weights).items():
                    add(f"val_{k}", float(v.detach()))
                if self._metrics_fn is None or "fused" not in outputs or "ir" not in item:
                    continue
                fused = outputs["fused"][0, :, :h, :w].float().clamp(0, 1).cpu().numpy()
                fused = fused[0] if fused.shape[0] == 1 else fused.transpose(1, 2, 0)
                values = self._metrics_fn(
                    fused,
                    item["ir"],
                    item["vis"],
                    item.get("ir_clean"),
                    item.get("vis_clean"),
                    profile=self.cfg.validation.profile,
                    metrics=list(self.cfg.validation.metrics),
                )
                for k, v in values.items():
                    add(f"val_{k}", float(v))
        finally:
            net.train(was)
        return {k: sums[k] / counts[k] for k in sums}

    # ----------------------------------------------------------------- checkpoints

    def _save(self, stage_index: int, stage_done: bool, optimizer: Any, scheduler: Any, ema: Any) -> None:
        rngs = all_gather_objects(self.dist, ckpt_io.rng_state())
        if self.dist.is_main:
            state = {
                "step": self.step,
                "stage_index": stage_index,
                "stage": self.cfg.stages[stage_index].name,
                "stage_done": stage_done,
                "optimizer": None if stage_done else optimizer.state_dict(),
                "scheduler": None if stage_done else scheduler.state_dict(),
                "ema_n": int(ema.n_averaged.item()) if (ema is not None and not stage_done) else 0,
                "rng": rngs,
                "world_size": self.dist.world_size,
                "elapsed": self._wall(),
            }
            ema_w = ema.module.state_dict() if (ema is not None and not stage_done) else None
            ckpt_io.save_checkpoint(self.run_dir, self.model.state_dict(), self._meta(self.cfg.stages[stage_index].name), state, ema_w)
        barrier(self.dist)

    # ----------------------------------------------------------------- main loop

    def fit(self) -> TrainResult:
        """Run the remaining steps of every stage; returns a :class:`TrainResult`."""
        start_step = self.step
        samples_done = 0
        t_start = time.perf_counter()
        bounds = self._stage_bounds()
        total = self.cfg.total_steps
        show = self.dist.is_main and (self.cfg.log.progress if self.cfg.log.progress is not None else sys.stderr.isatty())
        self.logger = RunLogger(
            self.run_dir, tensorboard=self.cfg.log.tensorboard, resume_step=self.step if self.resume else None, enabled=self.dist.is_main
        )
        bar = tqdm(total=total, initial=self.step, disable=not show, dynamic_ncols=True, unit="step", file=sys.stderr)
        try:
            with _graceful_stop() as stop, _torch_settings(self.cfg.deterministic, self.cfg.threads):
                for si, (stage, (s0, s1)) in enumerate(zip(self.cfg.stages, bounds)):
                    if self.step >= self.stop_at:
                        break
                    if self.step >= s1:
                        continue
                    samples_done += self._run_stage(si, stage, s0, bar, stop)
        finally:
            bar.close()
            self.logger.close()
        seconds = time.perf_counter() - t_start
        return TrainResult(
            run_dir=self.run_dir,
            step=self.step,
            total_steps=total,
            start_step=start_step,
            seconds=seconds,
            samples_per_s=samples_done / seconds if seconds > 0 else 0.0,
            last_losses=dict(self.last_losses),
            last_val=dict(self.last_val),
        )

    def _run_stage(self, si: int, stage: StageConfig, s0: int, bar: Any, stop: dict[str, bool]) -> int:
        cfg, dist = self.cfg, self.dist
        weights = loss_weights(self.model, stage)
        trainable = apply_freeze(self.model, stage)
        optimizer = build_optimizer(trainable, stage)
        scheduler = build_scheduler(optimizer, stage)
        ema = None
        if stage.ema is not None:
            from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

            ema = AveragedModel(self.model, multi_avg_fn=get_ema_multi_avg_fn(stage.ema), use_buffers=True)
        local = self.step - s0
        if self.ckpt is not None and local > 0:
            st = self.ckpt.state
            if st.get("stage_index") != si or st.get("stage_done") or st.get("optimizer") is None:
                raise InputError(f"{self.run_dir}: checkpoint at step {self.step} does not match stage {stage.name!r} of the config")
            optimizer.load_state_dict(st["optimizer"])
            scheduler.load_state_dict(st["scheduler"])
            if ema is not None:
                if self.ckpt.ema_weights is None:
                    raise InputError(f"{self.run_dir}: stage {stage.name!r} uses ema but the checkpoint has no EMA weights")
                ema.module.load_state_dict(self.ckpt.ema_weights)
                ema.n_averaged.fill_(int(st.get("ema_n", 0)))
        self.ckpt = None  # consumed
        self._train_mode(stage)
        runner: nn.Module = _StageForward(self.model)
        if dist.distributed:
            from torch.nn.parallel import DistributedDataParallel

            runner = DistributedDataParallel(
                runner,
                device_ids=[dist.device.index] if dist.device.type == "cuda" else None,
                find_unused_parameters=cfg.find_unused_parameters,
            )
        data = cfg.stage_data(stage)
        stream = build_train_stream(data, stage.crop_size, cfg.seed + 1000 * si)
        loader = make_loader(
            stream,
            global_batch=stage.batch_size,
            start_step=local,
            stop_step=min(stage.steps, self.stop_at - s0),
            rank=dist.rank,
            world_size=dist.world_size,
            num_workers=data.num_workers,
            seed=cfg.seed + 1000 * si,
            pin_memory=self.device.type == "cuda",
        )
        params = [p for _, p in trainable]
        clip = stage.grad_clip if stage.grad_clip is not None else math.inf
        samples = 0
        saved_at = -1
        win_t, win_samples = time.perf_counter(), 0
        bar.set_description(stage.name)
        for batch in loader:
            batch = prepare_batch(batch, self.device, self.vis_mode)
            lr = optimizer.param_groups[0]["lr"]
            outputs = runner(stage.kind, batch)
            losses = self.model.training_losses(batch, outputs, stage.kind, weights)
            if "total" not in losses:
                raise ConfigError(f"model {cfg.arch!r}: training_losses returned no 'total' term (got {', '.join(losses)})")
            total = losses["total"]
            optimizer.zero_grad(set_to_none=True)
            total.backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(params, clip)
            names = list(losses)
            finite = bool(torch.isfinite(total.detach()))
            flags = torch.tensor([0.0 if finite else 1.0, 1.0 if stop["stop"] else 0.0], device=self.device)
            if dist.distributed:
                torch.distributed.all_reduce(flags, op=torch.distributed.ReduceOp.MAX)
            if flags[0] > 0:
                raise TrainingDiverged(
                    f"loss is not finite at step {self.step + 1} (stage {stage.name!r}); lower stages.{stage.name}.lr or set grad_clip "
                    f"(last checkpoint: {self.run_dir / ckpt_io.CHECKPOINT_DIR})"
                )
            optimizer.step()
            scheduler.step()
            if ema is not None:
                ema.update_parameters(self.model)
            self.step += 1
            local += 1
            n = stage.batch_size
            samples += n
            win_samples += n
            if local % cfg.log.every == 0 or local == stage.steps:
                vals = mean_over_ranks(dist, torch.stack([losses[k].detach().float().reshape(()) for k in names]))
                self.last_losses = {k: float(v) for k, v in zip(names, vals.tolist())}
                now = time.perf_counter()
                sps = win_samples / max(now - win_t, 1e-9)
                win_t, win_samples = now, 0
                row = {"lr": lr, "samples_per_s": sps, "grad_norm": float(grad_norm), **self.last_losses}
                self.logger.log("train", self.step, stage.name, self._wall(), row)
                bar.set_postfix(loss=f"{self.last_losses['total']:.4g}", lr=f"{lr:.2e}", sps=f"{sps:.1f}", refresh=False)
            bar.update(1)
            done = local == stage.steps
            if done:
                if ema is not None:
                    self.model.load_state_dict(ema.module.state_dict())
                    ema = None
                if dist.is_main and cfg.checkpoint.keep_stage_weights:
                    ckpt_io.save_stage_weights(self.run_dir, stage.name, self.model.state_dict(), self._meta(stage.name))
            validating = self.val_items and (cfg.validation.stages is None or stage.name in cfg.validation.stages)
            if validating and (done or (cfg.validation.every and self.step % cfg.validation.every == 0)):
                net = ema.module if ema is not None else self.model
                self.last_val = self.validate(net, stage, weights)
                self.logger.log("val", self.step, stage.name, self._wall(), self.last_val)
                self._train_mode(stage)
            if done or self.step % cfg.checkpoint.every == 0 or flags[1] > 0:
                self._save(si, done, optimizer, scheduler, ema)
                saved_at = self.step
            if flags[1] > 0 and not done:
                tqdm.write(f"interrupted: checkpoint written at step {self.step}; continue with --resume {self.run_dir}", file=sys.stderr)
                raise KeyboardInterrupt
        if local < stage.steps and saved_at != self.step:  # stopped early (stop_at)
            self._save(si, False, optimizer, scheduler, ema)
        return samples


# --------------------------------------------------------------------------- entry point


def _resolve_config(config: str | Path | TrainConfig | dict[str, Any] | None, overrides: tuple[str, ...] | list[str], fallback: Path | None) -> TrainConfig:
    if config is None:
        if fallback is None:
            raise InputError("no config given")
        return load_config(fallback, overrides)
    if isinstance(config, TrainConfig):
        raw = config_to_dict(config)
    elif isinstance(config, dict):
        raw = config
    else:
        return load_config(config, overrides)
    return config_from_dict(apply_overrides(copy.deepcopy(raw), list(overrides)))


def train(
    config: str | Path | TrainConfig | dict[str, Any] | None = None,
    overrides: tuple[str, ...] | list[str] = (),
    *,
    resume: str | Path | None = None,
    out: str | Path | None = None,
    stop_at: int | None = None,
) -> TrainResult:
    """Train a model from a config, or continue an interrupted run.

    Under ``torchrun`` every process calls this; the process group is created from torchrun's
    environment (:func:`mmfuse.train.distributed.init_distributed`).

    Args:
        config: YAML file, :class:`TrainConfig` or raw mapping; with ``resume`` it may be
            omitted (the run's own ``config.yaml`` is used).
        overrides: ``KEY=VALUE`` strings applied on top (``--set``).
        resume: run folder to continue (from ``checkpoints/last.*``; from scratch when the run
            was stopped before its first checkpoint).
        out: run folder for a new run (default: the config's ``output_dir``).
        stop_at: stop after this global step with a checkpoint, as if interrupted (for
            time-boxed jobs; continue later with ``resume``).

    Returns:
        A :class:`TrainResult` (on every rank).

    Raises:
        ConfigError: invalid config or overrides.
        InputError: a run folder that already exists (new run) or is not a run (resume),
            unreadable data, or a checkpoint that does not fit.
        TrainingDiverged: a non-finite loss.
    """
    if resume is not None:
        run_dir = Path(resume)
        if not (run_dir / CONFIG_FILE).is_file():
            raise InputError(f"{run_dir}: not a run folder (no {CONFIG_FILE}); to start a new run drop --resume")
        if out is not None and Path(out).resolve() != run_dir.resolve():
            raise InputError("--out and --resume name different folders; a resumed run stays in its folder")
        read_yaml(run_dir / CONFIG_FILE)
        cfg = _resolve_config(config, overrides, run_dir / CONFIG_FILE)
    else:
        cfg = _resolve_config(config, overrides, None)
        run_dir = Path(out if out is not None else cfg.output_dir)
    cfg = dataclasses.replace(cfg, output_dir=str(run_dir.resolve()))
    dist = init_distributed(cfg.device)
    try:
        if resume is None and ((run_dir / CONFIG_FILE).exists() or (run_dir / ckpt_io.CHECKPOINT_DIR).exists()):
            raise InputError(f"{run_dir}: run folder already exists; continue it with --resume {run_dir} or choose another --out")
        if run_dir.exists() and not run_dir.is_dir():
            raise InputError(f"{run_dir}: exists and is not a folder")
        # everything that can fail on the config, the model or the data happens before the run
        # folder is created, so a corrected command can reuse the same --out
        trainer = Trainer(cfg, run_dir, dist, resume=resume is not None, stop_at=stop_at)
        barrier(dist)
        if dist.is_main:
            run_dir.mkdir(parents=True, exist_ok=True)
            save_config(cfg, run_dir / CONFIG_FILE)
        barrier(dist)
        return trainer.fit()
    finally:
        shutdown_distributed(dist)
