"""Two-stage training of TG-ECNet on CPU (stage 1 restoration, stage 2 fusion), resumable.

Sun et al., "Task-Gated Multi-Expert Collaboration Network for Degraded Multi-Modal Image Fusion",
ICML 2025, Sec. 3.3 and ../shared/specs/tg-ecnet.md §3. Reads a config in the schema of
``mmfuse train`` (``configs/tgecnet-small.yaml``: ``model``, ``data``, ``stages``, ``seed``) and:

* loads the clean training pairs (RoadScene ``train`` split + MSRS sample) once, as uint8;
* draws on-the-fly DeMMI-RF degradations (:mod:`mmfuse.degrade`, preset ``demmi-rf``) on a
  random window around each crop (2x the crop side, so the haze depth and airlight vary as on
  whole images), then random crops, flips and quarter turns;
* stage ``restore``: VIS and IR are independent single-image restoration samples; the VIS
  setting is drawn from the VIS-side DeMMI-RF settings (clean, noise15/25/50, haze, defocus and
  their VIS combinations), the IR one from {clean, stripe}; probe labels come from the names;
* stage ``fusion``: pairs degraded with one DeMMI-RF setting (the single settings with exactly
  one degraded modality as the paper, plus ``clean`` and the 17 combinations, see
  ``SETTING_WEIGHTS``); all stage-1 parameters frozen (``requires_grad=False`` and eval mode);
* AdamW, linear warm-up + cosine, gradient clipping; ``log.csv`` rows every ``--log-every``
  steps, validation on the val split (fixed degraded centre crops) at ``--val-every`` steps;
* checkpoints (``ckpt_model.safetensors`` + ``ckpt_optim.safetensors`` + ``state.json``) every
  ``--ckpt-every`` steps; ``--resume`` continues from them; the final weights are written with
  :func:`mmfuse.models.base.save_weights_file` to ``RUN/final.safetensors``.

Usage::

    OMP_NUM_THREADS=1 taskset -c 0 nice -n 5 .venv/bin/python scripts/train_tgecnet.py \
        configs/tgecnet-small.yaml --out runs/tgecnet-small [--resume]
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from mmfuse.degrade import apply_setting, load_preset
from mmfuse.io import find_pairs, read_image
from mmfuse.models.base import load_weights_file, save_weights_file
from mmfuse.models.tgecnet import TGECNet, setting_labels

VIS_SETTING_WEIGHTS: dict[str, float] = {
    "clean": 1.0,
    "noise15": 1.0,
    "noise25": 1.0,
    "noise50": 1.2,
    "haze": 1.5,
    "defocus": 1.5,
    "noise15+haze": 0.2,
    "noise25+haze": 0.2,
    "noise50+haze": 0.3,
    "noise15+defocus": 0.2,
    "noise25+defocus": 0.2,
    "noise50+defocus": 0.3,
    "haze+defocus": 0.3,
    "noise50+haze+defocus": 0.3,
}
"""Stage 1, visible side: DeMMI-RF setting -> sampling weight (the VIS chain of the setting is used)."""

IR_SETTING_WEIGHTS: dict[str, float] = {"clean": 1.0, "stripe": 1.0}
"""Stage 1, infrared side."""

SETTING_WEIGHTS: dict[str, float] = {
    "clean": 1.0,
    "noise15": 1.0,
    "noise25": 1.0,
    "noise50": 1.2,
    "haze": 1.5,
    "defocus": 1.5,
    "stripe": 1.5,
}
"""Stage 2: single settings (one degraded modality, paper) and clean; the 17 combinations share
``COMBINATION_WEIGHT`` equally."""
COMBINATION_WEIGHT = 2.5

VAL_SETTINGS = ("noise50", "haze", "defocus", "stripe", "noise50+haze+defocus+stripe")


def log(msg: str) -> None:
    print(time.strftime("%H:%M:%S"), msg, flush=True)


def load_pairs(cfg: dict[str, Any], section: str, base: Path) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Clean pairs of ``data.<section>`` as ``(name, ir uint8 (H, W), vis uint8 (H, W, 3))``."""
    out = []
    for src in cfg["data"][section]:
        root = (base / src["root"]).resolve()
        pairs = find_pairs(root).pairs
        if src.get("split_file"):
            split = json.loads((base / src["split_file"]).resolve().read_text())
            keep = set(split[src.get("split") or ("train" if section == "train" else "val")])
            pairs = [p for p in pairs if p.name in keep]
        for p in pairs:
            ir = read_image(p.ir, "gray")
            vis = read_image(p.vi, "rgb")
            out.append((p.name, (ir * 255 + 0.5).astype(np.uint8), (vis * 255 + 0.5).astype(np.uint8)))
    return out


class Sampler:
    """Random degraded training crops (see the module docstring)."""

    def __init__(self, pairs: list[tuple[str, np.ndarray, np.ndarray]], seed: int, flip: bool, rot90: bool) -> None:
        self.pairs = pairs
        self.rng = np.random.default_rng(seed)
        self.flip, self.rot90 = flip, rot90
        self.preset = load_preset("demmi-rf")
        self.names = [s.name for s in self.preset.settings]
        combos = [n for n in self.names if n not in SETTING_WEIGHTS]
        w2 = {**SETTING_WEIGHTS, **{n: COMBINATION_WEIGHT / len(combos) for n in combos}}
        self.stage2 = (list(w2), np.array(list(w2.values())) / sum(w2.values()))
        self.vis1 = (list(VIS_SETTING_WEIGHTS), np.array(list(VIS_SETTING_WEIGHTS.values())) / sum(VIS_SETTING_WEIGHTS.values()))
        self.ir1 = (list(IR_SETTING_WEIGHTS), np.array(list(IR_SETTING_WEIGHTS.values())) / sum(IR_SETTING_WEIGHTS.values()))

    def _pick(self, table: tuple[list[str], np.ndarray]) -> str:
        return table[0][int(self.rng.choice(len(table[0]), p=table[1]))]

    def _window(self, ir: np.ndarray, vis: np.ndarray, crop: int) -> tuple[np.ndarray, np.ndarray]:
        h, w = ir.shape
        win = min(2 * crop, h, w)
        y, x = self.rng.integers(0, h - win + 1), self.rng.integers(0, w - win + 1)
        return ir[y : y + win, x : x + win].astype(np.float32) / 255, vis[y : y + win, x : x + win].astype(np.float32) / 255

    def _aug(self, arrays: list[np.ndarray], crop: int) -> list[np.ndarray]:
        h, w = arrays[0].shape[:2]
        y, x = self.rng.integers(0, h - crop + 1), self.rng.integers(0, w - crop + 1)
        arrays = [a[y : y + crop, x : x + crop] for a in arrays]
        if self.flip and self.rng.random() < 0.5:
            arrays = [a[:, ::-1] for a in arrays]
        if self.flip and self.rng.random() < 0.5:
            arrays = [a[::-1] for a in arrays]
        if self.rot90:
            k = int(self.rng.integers(0, 4))
            arrays = [np.rot90(a, k) for a in arrays]
        return [np.ascontiguousarray(a) for a in arrays]

    def batch(self, stage: str, bs: int, crop: int) -> dict[str, torch.Tensor]:
        irs, viss, irc, visc, lv, li = [], [], [], [], [], []
        for _ in range(bs):
            _, ir8, vis8 = self.pairs[int(self.rng.integers(len(self.pairs)))]
            ir, vis = self._window(ir8, vis8, crop)
            seed = int(self.rng.integers(2**31))
            if stage == "restore":
                s_vis, s_ir = self._pick(self.vis1), self._pick(self.ir1)
                _, vis_d, _ = apply_setting(None, vis, self.preset.setting(s_vis), seed)
                ir_d, _, _ = apply_setting(ir, None, self.preset.setting(s_ir), seed + 1)
                lab_v, lab_i = setting_labels(s_vis), setting_labels(s_ir)
            else:
                s = self._pick(self.stage2)
                ir_d, vis_d, _ = apply_setting(ir, vis, self.preset.setting(s), seed)
                lab = setting_labels(s)
                lab_v = {**lab, "stripe": 0}
                lab_i = {"noise": 0, "haze": 0, "defocus": 0, "stripe": lab["stripe"]}
            a, b, c, d = self._aug([ir_d, vis_d, ir, vis], crop)
            irs.append(a[None])
            viss.append(b.transpose(2, 0, 1))
            irc.append(c[None])
            visc.append(d.transpose(2, 0, 1))
            lv.append([lab_v["noise"], lab_v["haze"], lab_v["defocus"], lab_v["stripe"]])
            li.append([lab_i["noise"], lab_i["haze"], lab_i["defocus"], lab_i["stripe"]])
        t = lambda xs: torch.from_numpy(np.stack(xs).astype(np.float32))  # noqa: E731
        return {"ir": t(irs), "vis": t(viss), "ir_clean": t(irc), "vis_clean": t(visc),
                "vis_label": torch.tensor(lv), "ir_label": torch.tensor(li)}


def val_batches(pairs: list[tuple[str, np.ndarray, np.ndarray]], crop: int) -> list[dict[str, torch.Tensor]]:
    """Fixed validation batches: centre crops of every val pair, one batch per VAL_SETTINGS entry."""
    preset = load_preset("demmi-rf")
    out = []
    for si, s in enumerate(VAL_SETTINGS):
        irs, viss, irc, visc = [], [], [], []
        for k, (_, ir8, vis8) in enumerate(pairs):
            h, w = ir8.shape
            c = min(crop, h, w) // 16 * 16
            y, x = (h - c) // 2, (w - c) // 2
            ir, vis = ir8[y : y + c, x : x + c].astype(np.float32) / 255, vis8[y : y + c, x : x + c].astype(np.float32) / 255
            ir_d, vis_d, _ = apply_setting(ir, vis, preset.setting(s), 1000 * si + k)
            irs.append(ir_d[None]); viss.append(vis_d.transpose(2, 0, 1)); irc.append(ir[None]); visc.append(vis.transpose(2, 0, 1))
        t = lambda xs: torch.from_numpy(np.stack(xs).astype(np.float32))  # noqa: E731
        out.append({"setting": s, "ir": t(irs), "vis": t(viss), "ir_clean": t(irc), "vis_clean": t(visc)})
    return out


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(10 * torch.log10(1.0 / torch.mean((a.clamp(0, 1) - b) ** 2).clamp_min(1e-10)))


@torch.no_grad()
def validate(model: TGECNet, batches: list[dict[str, torch.Tensor]], stage: str) -> dict[str, float]:
    """Stage 1: PSNR of the restored VIS-Y / IR against the clean ones; stage 2: fusion loss."""
    was = model.training
    model.eval()
    res: dict[str, float] = {}
    for b in batches:
        o = model(b["ir"], b["vis"])
        vis_c = model._y(b["vis_clean"])
        if stage == "restore":
            res[f"val_psnr_vis_{b['setting']}"] = psnr(o["restored_vis"], vis_c)
            res[f"val_psnr_ir_{b['setting']}"] = psnr(o["restored_ir"], b["ir_clean"])
        else:
            losses = model.training_losses(b, o, "fusion", {})
            res[f"val_loss_{b['setting']}"] = float(losses["total"])
    model.train(was)
    return res


def lr_at(step: int, st: dict[str, Any]) -> float:
    warm = int(st.get("warmup_steps", 0))
    lr, lo, n = float(st["lr"]), float(st.get("min_lr", 0.0)), int(st["steps"])
    if step < warm:
        return lr * (step + 1) / warm
    p = (step - warm) / max(1, n - warm)
    return lo + 0.5 * (lr - lo) * (1 + math.cos(math.pi * min(1.0, p)))


def set_stage(model: TGECNet, st: dict[str, Any]) -> list[torch.nn.Parameter]:
    """requires_grad / train-eval modes of a stage; returns the trainable parameters."""
    prefixes = st.get("trainable")
    for n, p in model.named_parameters():
        p.requires_grad_(prefixes is None or n.startswith(tuple(prefixes)))
    model.train()
    if prefixes is not None:
        for name, child in model.named_children():
            if not any(p.requires_grad for p in child.parameters()):
                child.eval()  # frozen parts: no gating noise (spec: frozen_eval)
    return [p for p in model.parameters() if p.requires_grad]


def optim_state_tensors(opt: torch.optim.Optimizer, names: dict[int, str]) -> dict[str, torch.Tensor]:
    out = {}
    for p, s in opt.state.items():
        for k, v in s.items():
            out[f"{names[id(p)]}::{k}"] = v if torch.is_tensor(v) else torch.tensor(float(v))
    return out


def load_optim_state(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], params: dict[str, torch.nn.Parameter]) -> None:
    for key, v in tensors.items():
        name, k = key.split("::")
        if name in params:
            opt.state[params[name]][k] = v.clone()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("config")
    ap.add_argument("--out", required=True)
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--log-every", type=int, default=10)
    ap.add_argument("--val-every", type=int, default=500)
    ap.add_argument("--ckpt-every", type=int, default=200)
    ap.add_argument("--max-steps", type=int, default=None, help="stop after this many steps in total (timing runs)")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    cfg_path = Path(args.config).resolve()
    cfg = yaml.safe_load(cfg_path.read_text())
    base = Path.cwd()
    run = Path(args.out)
    run.mkdir(parents=True, exist_ok=True)
    (run / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    seed = int(cfg.get("seed", 0))
    torch.manual_seed(seed)
    kwargs = {k: v for k, v in cfg["model"].items() if k != "name"}
    model = TGECNet(**kwargs)
    train_pairs = load_pairs(cfg, "train", base)
    val_pairs = load_pairs(cfg, "val", base)
    log(f"train pairs {len(train_pairs)}, val pairs {len(val_pairs)}, params {sum(p.numel() for p in model.parameters())}")
    vb = val_batches(val_pairs, 128)
    stages = cfg["stages"]
    state = {"stage": 0, "step": 0, "wall": 0.0}
    if args.resume and (run / "state.json").is_file():
        state = json.loads((run / "state.json").read_text())
        sd, _ = load_weights_file(run / "ckpt_model.safetensors")
        model.load_state_dict(sd)
        log(f"resumed at stage {state['stage']} step {state['step']}")
    data = cfg.get("data", {})
    sampler = Sampler(train_pairs, seed + 7919 * (state["stage"] + 1) + state["step"], bool(data.get("flip", True)), bool(data.get("rot90", False)))
    torch.manual_seed(seed + state["step"] + 1000 * state["stage"])
    fields = None
    log_path = run / "log.csv"
    total_done = sum(int(s["steps"]) for s in stages[: state["stage"]]) + state["step"]
    for si in range(state["stage"], len(stages)):
        st = stages[si]
        params = set_stage(model, st)
        names = {id(p): n for n, p in model.named_parameters()}
        opt = torch.optim.AdamW(params, lr=float(st["lr"]), weight_decay=float(st.get("weight_decay", 0.0)))
        start = state["step"] if si == state["stage"] else 0
        if start and (run / "ckpt_optim.safetensors").is_file():
            from safetensors.torch import load_file
            load_optim_state(opt, load_file(str(run / "ckpt_optim.safetensors")), dict(model.named_parameters()))
        log(f"stage {st['name']}: {len(params)} trainable tensors ({sum(p.numel() for p in params)} params), steps {start}..{st['steps']}")
        t0 = time.time()
        wall0 = float(state.get("wall", 0.0))
        for step in range(start, int(st["steps"])):
            if args.max_steps is not None and total_done >= args.max_steps:
                log("max steps reached")
                return 0
            for g in opt.param_groups:
                g["lr"] = lr_at(step, st)
            batch = sampler.batch(st["name"], int(st["batch_size"]), int(st["crop_size"]))
            out = model.forward_stage(st["name"], batch)
            losses = model.training_losses(batch, out, st["name"], st.get("loss_weights", {}))
            if not torch.isfinite(losses["total"]):
                log(f"non-finite loss at step {step}: {losses}")
                return 1
            opt.zero_grad(set_to_none=True)
            losses["total"].backward()
            if st.get("grad_clip"):
                torch.nn.utils.clip_grad_norm_(params, float(st["grad_clip"]))
            opt.step()
            total_done += 1
            wall = wall0 + time.time() - t0
            row: dict[str, Any] = {"stage": st["name"], "step": step + 1, "global_step": total_done, "lr": opt.param_groups[0]["lr"], "wall_s": round(wall, 1)}
            if (step + 1) % args.log_every == 0 or step == 0:
                row.update({k: round(float(v), 6) for k, v in losses.items()})
                if (step + 1) % args.val_every == 0 or step + 1 == int(st["steps"]):
                    row.update({k: round(v, 4) for k, v in validate(model, vb, st["name"]).items()})
                if fields is None:
                    fields = ["stage", "step", "global_step", "lr", "wall_s"]
                new = [k for k in row if k not in (fields or [])]
                if new or not log_path.exists():
                    # (re)write the header with the union of fields, keeping old rows
                    old = list(csv.DictReader(log_path.open())) if log_path.exists() else []
                    fields = list(dict.fromkeys((list(old[0].keys()) if old else []) + fields + new))
                    with log_path.open("w", newline="") as fh:
                        wtr = csv.DictWriter(fh, fieldnames=fields)
                        wtr.writeheader()
                        wtr.writerows(old)
                with log_path.open("a", newline="") as fh:
                    csv.DictWriter(fh, fieldnames=fields).writerow(row)
                if (step + 1) % (args.log_every * 10) == 0 or step == 0:
                    log(" ".join(f"{k}={v}" for k, v in row.items()))
            if (step + 1) % args.ckpt_every == 0 or step + 1 == int(st["steps"]):
                done = step + 1 == int(st["steps"])
                state = {"stage": si + 1 if done else si, "step": 0 if done else step + 1, "wall": 0.0 if done else wall}
                meta = {"arch": "tgecnet", "arch_kwargs": kwargs, "method": cfg.get("method", "tgecnet"), "stage": st["name"], "step": step + 1}
                save_weights_file(run / "ckpt_model.safetensors", model.state_dict(), meta)
                from safetensors.torch import save_file
                save_file(optim_state_tensors(opt, names), str(run / "ckpt_optim.safetensors"))
                (run / "state.json").write_text(json.dumps(state))
                if done:
                    save_weights_file(run / f"{st['name']}.safetensors", model.state_dict(), meta)
                    (run / f"{st['name']}_wall.txt").write_text(f"{wall:.1f}\n")
                    log(f"stage {st['name']} done in {wall:.0f} s")
        state = {"stage": si + 1, "step": 0, "wall": 0.0}
    meta = {"arch": "tgecnet", "arch_kwargs": kwargs, "method": cfg.get("method", "tgecnet"),
            "config": cfg_path.name, "stages": [s["name"] for s in stages],
            "train_data": "RoadScene train split (split.json) + MSRS sample, on-the-fly demmi-rf degradations"}
    save_weights_file(run / "final.safetensors", model.state_dict(), meta)
    log("finished")
    return 0


if __name__ == "__main__":
    sys.exit(main())
