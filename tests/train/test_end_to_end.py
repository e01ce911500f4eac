"""Issue 5 item 7: train fusion-unet on the real test pairs through the CLI, SIGKILL it, resume,
export, and fuse with the exported weights."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from mmfuse.io import read_image, read_raw
from mmfuse.models.base import load_weights_file
from mmfuse.train.logger import read_log

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "configs" / "fusion-unet-tiny.yaml"  # 50 steps, batch 4, 64x64 crops of tests/data/ivif


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("COLUMNS", "200")
    return env


def _one_line_error(res: subprocess.CompletedProcess, needle: str) -> None:
    assert res.returncode == 2, res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], res.stderr


def test_train_kill_resume_export_fuse(cli, tmp_path, ivif_dir):
    run = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "mmfuse", "train", str(CONFIG), "--out", str(run)],
        cwd=ROOT,  # the config's data paths are relative to the repository root
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    state = run / "checkpoints" / "last_state.pt"
    deadline = time.monotonic() + 240
    while not state.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no checkpoint written"
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    ckpt_step = load_weights_file(run / "checkpoints" / "last.safetensors")[1]["step"]
    logged = [int(r["step"]) for r in read_log(run / "log.csv") if r["kind"] == "train"]
    assert ckpt_step >= 10 and ckpt_step % 10 == 0  # checkpoint.every: 10
    assert max(logged) < 50, "killed too late to test resuming"
    assert max(logged) - ckpt_step < 10  # a SIGKILL loses at most the steps since the last checkpoint

    res = cli("train", "--resume", run, cwd=ROOT)
    assert res.returncode == 0, res.stderr
    assert "trained 50/50 steps" in res.stdout and "Qabf" in res.stdout
    rows = read_log(run / "log.csv")
    train_rows = [r for r in rows if r["kind"] == "train"]
    assert [int(r["step"]) for r in train_rows] == list(range(1, 51))  # each step exactly once
    assert [int(r["step"]) for r in rows if r["kind"] == "val"] == [25, 50]
    total = np.array([float(r["total"]) for r in train_rows])
    assert total[-10:].mean() < total[:10].mean(), total  # the loss decreases
    intensity = np.array([float(r["intensity"]) for r in train_rows])
    assert intensity[-10:].mean() < 0.7 * intensity[:10].mean()

    weights = tmp_path / "model.safetensors"
    res = cli("export", run, "-o", weights)
    assert res.returncode == 0, res.stderr
    assert "fusion-unet" in res.stdout and str(weights) in res.stdout
    _one_line_error(cli("export", run, "-o", weights), "exists")

    ir, vi = ivif_dir / "ir" / "FLIR_04593.jpg", ivif_dir / "vi" / "FLIR_04593.jpg"
    out = tmp_path / "fused.png"
    res = cli("fuse", ir, vi, "-o", out, "--method", "fusion-unet", "--weights", weights)
    assert res.returncode == 0, res.stderr
    fused = read_raw(out)
    assert fused.shape == read_raw(vi).shape
    import mmfuse

    expect = mmfuse.load("fusion-unet", weights=str(weights)).fuse(read_image(ir), read_image(vi))
    assert np.abs(fused.astype(np.float32) / 255 - expect).max() <= 1 / 255 + 1e-6  # the CLI ran the trained network
    _one_line_error(cli("fuse", ir, vi, "-o", tmp_path / "x.png", "--method", "fusion-unet"), "pass --weights")


def test_cli_errors_are_one_line(cli, tmp_path):
    # (the API's error cases are tested in-process in test_train_engine.py; these check the CLI layer)
    _one_line_error(cli("train"), "give a CONFIG file")
    _one_line_error(cli("export", tmp_path), "-o FILE")
    bad = tmp_path / "bad.yaml"
    bad.write_text(CONFIG.read_text().replace("crop_size:", "crop_sise:"))
    _one_line_error(cli("train", bad, "--out", tmp_path / "r"), "did you mean 'crop_size'")
    _one_line_error(cli("export", tmp_path, "-o", tmp_path / "m.safetensors"), "not a run folder")
    assert not (tmp_path / "r").exists()
