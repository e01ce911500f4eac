"""torchrun with 2 CPU processes (gloo) ends with the parameters of 1 process with the same global batch."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch
import yaml

from mmfuse.models.base import load_weights_file
from mmfuse.train import train
from mmfuse.train.logger import read_log

ROOT = Path(__file__).resolve().parents[2]


def test_two_processes_match_one(tmp_path):
    cfg = {
        "model": {"name": "fusion-unet", "channels": 4, "depth": 1},
        "data": {"train": [{"root": str(ROOT / "tests" / "data" / "ivif")}]},
        # global batch 4 = 2 per process; grad_clip exercises the all-reduced gradient norm
        "stages": [{"name": "fusion", "steps": 4, "batch_size": 4, "crop_size": 32, "lr": 1e-2, "warmup_steps": 1, "grad_clip": 0.2}],
        "checkpoint": {"every": 2},
        "threads": 1,
        "log": {"progress": False},
    }
    path = tmp_path / "ddp.yaml"
    path.write_text(yaml.safe_dump(cfg))
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""), OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "mmfuse.train", str(path), "--out", str(tmp_path / "two")]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stdout.count("trained 4/4 steps") == 1  # only rank 0 reports

    one = train(path, out=tmp_path / "one")
    assert one.step == 4
    a = load_weights_file(tmp_path / "one" / "checkpoints" / "last.safetensors")[0]
    b = load_weights_file(tmp_path / "two" / "checkpoints" / "last.safetensors")[0]
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(b[k], a[k], rtol=1e-5, atol=1e-6)
    assert any(not torch.equal(v, torch.zeros_like(v)) for v in a.values())
    # rank 0 alone logs: each step once, losses averaged over both ranks = the 1-process loss
    rows1 = read_log(tmp_path / "one" / "log.csv")
    rows2 = read_log(tmp_path / "two" / "log.csv")
    assert [r["step"] for r in rows2] == ["1", "2", "3", "4"]
    for r1, r2 in zip(rows1, rows2):
        assert abs(float(r1["total"]) - float(r2["total"])) < 1e-5
    assert sorted(p.name for p in (tmp_path / "two" / "checkpoints").iterdir()) == ["fusion.safetensors", "last.safetensors", "last_state.pt"]
