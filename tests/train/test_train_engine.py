"""The engine in-process: exact resume, stages with freezing and EMA, validation, export, errors."""
from __future__ import annotations

import copy
import csv
import os
import signal
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from mmfuse.errors import ConfigError, InputError, OutputExistsError
from mmfuse.io import read_image, rgb_to_ycbcr
from mmfuse.models.base import TorchFusionMethod, load_weights_file, save_weights_file
from mmfuse.models import registry
from mmfuse.train import TrainingDiverged, export_run, prepare_batch, train
from mmfuse.train.optim import lr_factor

IVIF = Path(__file__).resolve().parents[1] / "data" / "ivif"


def _cfg(**updates) -> dict:
    cfg = {
        "model": {"name": "fusion-unet", "channels": 4, "depth": 1},
        "data": {"train": [{"root": str(IVIF)}]},
        "stages": [{"name": "fusion", "steps": 4, "batch_size": 2, "crop_size": 32, "lr": 1e-2, "warmup_steps": 1}],
        "checkpoint": {"every": 100},
        "threads": 1,
        "log": {"progress": False},
    }
    cfg.update(copy.deepcopy(updates))
    return cfg


TWO_STAGES = [
    {"name": "first", "steps": 4, "batch_size": 2, "crop_size": 32, "lr": 1e-2, "warmup_steps": 1, "grad_clip": 0.5},
    {
        "name": "second",
        "steps": 4,
        "batch_size": 2,
        "crop_size": 32,
        "lr": 5e-3,
        "optimizer": "adam",
        "ema": 0.8,
        "freeze": ["stem", "encoders"],
        "loss_weights": {"ssim": 2.0},
    },
]


def _weights(run: Path, name: str = "last") -> dict[str, torch.Tensor]:
    return load_weights_file(run / "checkpoints" / f"{name}.safetensors")[0]


def _rows(run: Path, kind: str = "train") -> list[dict[str, str]]:
    with (run / "log.csv").open() as fh:
        return [r for r in csv.DictReader(fh) if r["kind"] == kind]


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory) -> Path:
    """Two stages (freeze + EMA in the second) run in one go."""
    run = tmp_path_factory.mktemp("ref") / "run"
    res = train(_cfg(stages=TWO_STAGES), out=run)
    assert res.completed and res.step == 8 and res.start_step == 0
    return run


@pytest.mark.parametrize("stop_at", [2, 4, 6])
def test_resume_is_exact(reference_run, tmp_path, stop_at):
    """Stopping after any step (mid-stage, at the stage boundary, mid-stage with EMA) and resuming gives the same run."""
    run = tmp_path / "run"
    first = train(_cfg(stages=TWO_STAGES), out=run, stop_at=stop_at)
    assert first.step == stop_at and not first.completed
    assert [int(r["step"]) for r in _rows(run)] == list(range(1, stop_at + 1))
    res = train(resume=run)
    assert res.start_step == stop_at and res.step == 8
    assert _same(_weights(run), _weights(reference_run))
    assert _same(_weights(run, "first"), _weights(reference_run, "first"))
    ref_rows, rows = _rows(reference_run), _rows(run)
    assert [r["step"] for r in rows] == [str(i) for i in range(1, 9)]  # each step logged once
    for a, b in zip(rows, ref_rows):
        assert a["total"] == b["total"] and a["lr"] == b["lr"]


def test_stages_freeze_ema_and_schedule(reference_run):
    first, final = _weights(reference_run, "first"), _weights(reference_run)
    for k in final:
        frozen = k.startswith(("stem", "encoders"))
        assert torch.equal(first[k], final[k]) == frozen, k  # stage 2 changed exactly the unfrozen tensors
    assert _same(final, _weights(reference_run, "second"))
    rows = _rows(reference_run)
    assert [r["stage"] for r in rows] == ["first"] * 4 + ["second"] * 4
    from mmfuse.train.config import StageConfig

    for i, r in enumerate(rows):
        st = StageConfig(**TWO_STAGES[i // 4])
        assert float(r["lr"]) == pytest.approx(st.lr * lr_factor(st)(i % 4), rel=1e-5)
    # the second stage's total weights ssim twice
    r = rows[-1]
    assert float(r["total"]) == pytest.approx(float(r["intensity"]) + float(r["gradient"]) + 2 * float(r["ssim"]), rel=1e-4)
    cfg_text = (reference_run / "config.yaml").read_text()
    assert "ema: 0.8" in cfg_text and str(IVIF) in cfg_text  # resolved config saved


def test_ema_weights_are_an_average(tmp_path):
    """A stage with ``ema: 0.5`` ends on 0.25·w1 + 0.25·w2 + 0.5·w3 of the raw weights w1..w3 after each step."""
    stage = dict(TWO_STAGES[0], steps=3)
    raw_run = tmp_path / "raw"
    raw = []
    for step in (1, 2, 3):
        if step == 1:
            train(_cfg(stages=[stage]), out=raw_run, stop_at=1)
        else:
            train(resume=raw_run, stop_at=step)
        raw.append(_weights(raw_run))
    res = train(_cfg(stages=[dict(stage, ema=0.5)]), out=tmp_path / "ema")
    assert res.step == 3
    ema = _weights(tmp_path / "ema")
    for k in ema:
        expect = 0.25 * raw[0][k] + 0.25 * raw[1][k] + 0.5 * raw[2][k]
        torch.testing.assert_close(ema[k], expect, rtol=1e-5, atol=1e-6)
    assert not _same(ema, raw[2])


def test_validation_rows_and_metrics(tmp_path):
    cfg = _cfg(data={"train": [{"root": str(IVIF)}], "val": [{"root": str(IVIF)}]}, validation={"every": 2, "metrics": ["EN", "Qabf"], "crop": 64, "max_items": 2})
    res = train(cfg, out=tmp_path / "run")
    val = _rows(tmp_path / "run", "val")
    assert [r["step"] for r in val] == ["2", "4"]
    for key in ("val_total", "val_intensity", "val_EN", "val_Qabf"):
        assert np.isfinite(float(val[-1][key])), key
    assert 0.0 < float(val[-1]["val_Qabf"]) < 1.0
    assert res.last_val["val_EN"] == pytest.approx(float(val[-1]["val_EN"]), rel=1e-6)
    # validation.stages restricts validation to the named stages
    two = dict(cfg, stages=[dict(TWO_STAGES[0], steps=1), dict(TWO_STAGES[1], steps=1)], validation={"every": 1, "stages": ["second"], "crop": 32, "max_items": 1})
    train(two, out=tmp_path / "two")
    assert [(r["step"], r["stage"]) for r in _rows(tmp_path / "two", "val")] == [("2", "second")]
    with pytest.raises(ConfigError, match="validation: .*FOO"):
        train(dict(cfg, validation={"metrics": ["FOO"]}), out=tmp_path / "bad")
    assert not (tmp_path / "bad").exists()  # nothing written for a rejected config


def test_export_loads_and_fuses_like_the_model(tmp_path):
    run = tmp_path / "run"
    train(_cfg(method="my-unet"), out=run)
    out = tmp_path / "model.safetensors"
    meta = export_run(run, out)
    assert meta["arch"] == "fusion-unet" and meta["arch_kwargs"] == {"channels": 4, "depth": 1}
    assert meta["method"] == "my-unet" and meta["train_steps"] == 4 and meta["ema"] is False
    state, file_meta = load_weights_file(out)
    assert file_meta["config"]["stages"][0]["name"] == "fusion" and file_meta["train_steps"] == 4
    assert _same(state, _weights(run))
    import mmfuse

    fuser = mmfuse.load("fusion-unet", weights=str(out))
    ir = read_image(IVIF / "ir" / "FLIR_04722.jpg", "gray")
    vis = read_image(IVIF / "vi" / "FLIR_04722.jpg")
    fused = fuser.fuse(ir, vis, gray=True)
    assert fused.shape == ir.shape
    # the same network run by hand (input padded to a multiple of 2, output cropped back)
    net = TorchFusionMethod.from_file(out).network
    h, w = ir.shape
    pad = lambda a: np.pad(a, ((0, (-h) % 2), (0, (-w) % 2)), mode="reflect")  # noqa: E731
    with torch.no_grad():
        y = net(torch.from_numpy(pad(ir))[None, None], torch.from_numpy(pad(rgb_to_ycbcr(vis)[..., 0]))[None, None])["fused"]
    np.testing.assert_allclose(fused, y[0, 0, :h, :w].numpy(), atol=1e-5)
    # a file whose tensors have the wrong shape for its architecture: a one-line InputError
    state, meta = load_weights_file(out)
    conv = next(k for k, v in state.items() if v.ndim == 4)
    bad = save_weights_file(tmp_path / "misshaped.safetensors", {**state, conv: torch.zeros(1, *state[conv].shape[1:])}, meta)
    with pytest.raises(InputError, match=r"misshaped.safetensors: weights do not fit architecture 'fusion-unet': size mismatch") as info:
        TorchFusionMethod.from_file(bad)
    assert "\n" not in str(info.value)
    with pytest.raises(OutputExistsError, match="exists"):
        export_run(run, out)
    export_run(run, out, overwrite=True)
    with pytest.raises(InputError, match="not a run folder"):
        export_run(tmp_path, tmp_path / "x.safetensors")


def test_run_folder_errors(tmp_path):
    run = tmp_path / "run"
    train(_cfg(stages=[dict(TWO_STAGES[0], steps=1)]), out=run)
    with pytest.raises(InputError, match="already exists; continue it with --resume"):
        train(_cfg(), out=run)
    with pytest.raises(InputError, match="not a run folder"):
        train(resume=tmp_path)
    with pytest.raises(InputError, match="different folders"):
        train(resume=run, out=tmp_path / "other")
    done = train(resume=run)  # nothing left to do
    assert done.step == 1 and done.start_step == 1 and done.completed
    # a run killed before its first checkpoint starts over in its folder
    before = _weights(run)
    import shutil

    shutil.rmtree(run / "checkpoints")
    again = train(resume=run)
    assert again.start_step == 0 and again.step == 1
    assert _same(_weights(run), before)
    assert [r["step"] for r in _rows(run)] == ["1"]


@pytest.mark.parametrize(
    "updates,needle",
    [
        ({"model": {"name": "fusion-unet", "chanels": 4}}, "unknown key 'model.chanels' for architecture 'fusion-unet'; did you mean 'channels'?"),
        ({"model": {"name": "fusion-unett"}}, "did you mean 'fusion-unet'"),
        ({"model": {"name": "fusion-unet", "channels": 0}}, "cannot build 'fusion-unet'"),
        ({"stages": [{"name": "f", "steps": 1, "loss_weights": {"ssmi": 1}}]}, "loss_weights.ssmi'; did you mean 'ssim'"),
        ({"stages": [{"name": "f", "steps": 1, "freeze": ["stme"]}]}, "prefix 'stme' matches no parameter"),
        ({"data": {"train": [{"root": "/nonexistent/folder"}]}}, "/nonexistent/folder: dataset folder not found"),
        ({"data": {"train": [{"root": str(IVIF)}], "degradation": {"preset": "no-such-preset"}}}, "data.degradation"),
        ({"data": {"train": [{"root": str(IVIF)}, {"root": str(IVIF / "vi"), "kind": "multi-focus"}]}}, "same kind"),
    ],
)
def test_config_errors_before_anything_is_written(tmp_path, updates, needle):
    with pytest.raises((ConfigError, InputError)) as info:
        train(_cfg(**updates), out=tmp_path / "run")
    assert needle in str(info.value)
    assert not (tmp_path / "run").exists()


def test_prepare_batch_luminance():
    rgb = torch.rand(2, 3, 4, 5)
    b = prepare_batch({"ir": torch.rand(2, 1, 4, 5), "vis": rgb, "vis_clean": rgb, "name": ["a", "b"]}, torch.device("cpu"), "y")
    expect = rgb_to_ycbcr(rgb[0].permute(1, 2, 0).numpy())[..., 0]
    assert b["vis"].shape == (2, 1, 4, 5) and b["vis_clean"].shape == (2, 1, 4, 5)
    np.testing.assert_allclose(b["vis"][0, 0].numpy(), expect, atol=1e-6)
    assert prepare_batch({"vis": rgb}, torch.device("cpu"), "rgb")["vis"].shape == (2, 3, 4, 5)


# --------------------------------------------------------------------------- contract probes


@pytest.fixture(scope="module", autouse=True)
def _probe_archs():
    """Register the probe architectures below for this module only (other tests see the real registry)."""
    registry.list_archs()  # import mmfuse.models first
    for name, cls in (("test-stage-probe", StageProbe), ("test-diverging", Diverging)):
        registry.register_arch(name)(cls)
    yield
    for name in ("test-stage-probe", "test-diverging"):
        registry._ARCHS.pop(name, None)  # no public unregister: the registry is append-only by design


class StageProbe(nn.Module):
    """Records how the engine calls it: stage names, the inputs each stage saw."""

    size_multiple = 4
    vis_mode = "rgb"
    default_loss_weights = {"l1": 1.0}
    calls: list[tuple[str, tuple[str, ...], int]] = []
    interrupt_at: int | None = None

    def __init__(self, width: int = 2) -> None:
        super().__init__()
        self.fuse = nn.Conv2d(4, 3, 3, padding=1)
        self.restore = nn.Conv2d(3, 3, 3, padding=1)
        self.n = 0

    def forward(self, ir: torch.Tensor, vis: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"fused": torch.sigmoid(self.fuse(torch.cat([ir, vis], 1)))}

    def forward_stage(self, stage: str, batch: dict) -> dict[str, torch.Tensor]:
        keys = tuple(sorted(k for k, v in batch.items() if isinstance(v, torch.Tensor)))
        if stage == "restore":
            StageProbe.calls.append((stage, keys, batch["a"].shape[1]))
            return {"restored": torch.sigmoid(self.restore(batch["a"]))}
        StageProbe.calls.append((stage, keys, batch["vis"].shape[1]))
        return self(batch["ir"], batch["vis"])

    def training_losses(self, batch: dict, outputs: dict, stage: str, weights: dict) -> dict[str, torch.Tensor]:
        self.n += 1
        if StageProbe.interrupt_at is not None and self.n == StageProbe.interrupt_at:
            os.kill(os.getpid(), signal.SIGINT)  # as Ctrl-C in the middle of a step
        if stage == "restore":
            l1 = (outputs["restored"] - batch["ref"]).abs().mean()
        else:
            l1 = (outputs["fused"] - batch["vis"]).abs().mean()
        return {"l1": l1, "total": weights["l1"] * l1}


def test_forward_stage_dispatch_and_synthetic_data(tmp_path):
    """Each stage reaches forward_stage with its own data: synthetic MEF pairs, then RGB IR/VIS pairs."""
    StageProbe.calls.clear()
    stages = [
        {"name": "restore", "steps": 2, "batch_size": 2, "crop_size": 16, "data": {"train": [{"root": str(IVIF / "vi"), "kind": "multi-exposure"}]}},
        {"name": "fusion", "steps": 2, "batch_size": 2, "crop_size": 16, "freeze": ["restore"]},
    ]
    res = train(_cfg(model={"name": "test-stage-probe"}, stages=stages), out=tmp_path / "run")
    assert res.completed
    assert [c[0] for c in StageProbe.calls] == ["restore", "restore", "fusion", "fusion"]
    assert StageProbe.calls[0][1] == ("a", "b", "ref") and StageProbe.calls[0][2] == 3
    assert StageProbe.calls[2][1] == ("ir", "vis") and StageProbe.calls[2][2] == 3  # vis_mode rgb: colour in


def test_stage_task_is_what_the_model_sees(tmp_path):
    """Two stages of the same task need distinct names; ``task`` is what reaches the model, the
    name labels the log and the stage weights."""
    StageProbe.calls.clear()
    stages = [
        {"name": "fusion", "steps": 1, "batch_size": 2, "crop_size": 16},
        {"name": "fusion-ft", "task": "fusion", "steps": 1, "batch_size": 2, "crop_size": 16, "lr": 1e-4},
    ]
    run = tmp_path / "run"
    assert train(_cfg(model={"name": "test-stage-probe"}, stages=stages), out=run).completed
    assert [c[0] for c in StageProbe.calls] == ["fusion", "fusion"]
    assert [r["stage"] for r in _rows(run)] == ["fusion", "fusion-ft"]
    assert (run / "checkpoints" / "fusion-ft.safetensors").is_file()


def test_sigint_checkpoints_and_stops(tmp_path):
    """Ctrl-C finishes the current step, writes a checkpoint and stops; resume completes the run."""
    run = tmp_path / "run"
    cfg = _cfg(model={"name": "test-stage-probe"}, stages=[{"name": "fusion", "steps": 5, "batch_size": 2, "crop_size": 16}])
    before = signal.getsignal(signal.SIGINT)  # default, or SIG_IGN when the suite runs as a background job
    StageProbe.interrupt_at = 2
    try:
        with pytest.raises(KeyboardInterrupt):
            train(cfg, out=run)
    finally:
        StageProbe.interrupt_at = None
    assert [int(r["step"]) for r in _rows(run)] == [1, 2]
    assert load_weights_file(run / "checkpoints" / "last.safetensors")[1]["step"] == 2
    assert train(resume=run).step == 5
    assert signal.getsignal(signal.SIGINT) is before  # the caller's handler is restored


class Diverging(nn.Module):
    size_multiple = 1
    vis_mode = "y"

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.ones(1))
        self.n = 0

    def forward(self, ir: torch.Tensor, vis: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"fused": ir * self.w}

    def training_losses(self, batch: dict, outputs: dict, stage: str, weights: dict) -> dict[str, torch.Tensor]:
        self.n += 1
        loss = outputs["fused"].mean() * (float("nan") if self.n == 3 else 1.0)
        return {"total": loss}


def test_non_finite_loss_stops_with_a_message(tmp_path):
    cfg = _cfg(model={"name": "test-diverging"}, checkpoint={"every": 1})
    with pytest.raises(TrainingDiverged, match=r"loss is not finite at step 3 \(stage 'fusion'\)"):
        train(cfg, out=tmp_path / "run")
    assert load_weights_file(tmp_path / "run" / "checkpoints" / "last.safetensors")[1]["step"] == 2


def test_on_the_fly_degradation_reaches_the_model(tmp_path):
    """Degraded training pairs carry their clean references and labels to the model; validation pairs are degraded too."""
    StageProbe.calls.clear()
    cfg = _cfg(
        model={"name": "test-stage-probe"},
        data={"train": [{"root": str(IVIF)}], "val": [{"root": str(IVIF)}], "degradation": {"preset": "demmi-rf"}},
        stages=[{"name": "fusion", "steps": 2, "batch_size": 2, "crop_size": 32}],
        validation={"metrics": ["EN", "Qabf"], "crop": 48, "max_items": 1},
    )
    res = train(cfg, out=tmp_path / "run")
    assert StageProbe.calls[0][1] == ("ir", "ir_clean", "label", "vis", "vis_clean")
    assert np.isfinite(res.last_val["val_Qabf"]) and np.isfinite(res.last_val["val_l1"])


def test_init_weights_start_the_run_from_a_weights_file(tmp_path):
    """``init_weights`` loads an exported file before the first step (fine-tuning); a file for
    another architecture is a one-line error naming the file."""
    first = tmp_path / "first"
    train(_cfg(), out=first)
    exported = tmp_path / "first.safetensors"
    export_run(first, exported)
    res = train(_cfg(init_weights=str(exported), stages=[{"name": "fusion", "steps": 1, "batch_size": 2, "crop_size": 32, "lr": 1e-12}]), out=tmp_path / "second")
    assert res.completed
    start, after = load_weights_file(exported)[0], _weights(tmp_path / "second")
    assert all(torch.allclose(after[k], start[k], atol=1e-6) for k in start)  # one step at lr 1e-12: the exported weights
    with pytest.raises(InputError, match="first.safetensors: init_weights does not fit"):
        train(_cfg(init_weights=str(exported), model={"name": "fusion-unet", "channels": 8, "depth": 1}), out=tmp_path / "third")


def test_init_partial_allows_only_missing_tensors(tmp_path, capsys):
    """``init_partial`` starts a model that has extra tensors from a file without them (they keep
    their initialisation and are named in the log); a file with tensors the model lacks still fails."""
    run = tmp_path / "run"
    train(_cfg(), out=run)
    full = _weights(run)
    partial = {k: v for k, v in full.items() if not k.startswith("head.")}
    assert partial and len(partial) < len(full)
    pfile = tmp_path / "partial.safetensors"
    save_file(partial, str(pfile))
    one_step = [{"name": "fusion", "steps": 1, "batch_size": 2, "crop_size": 32, "lr": 1e-12}]
    with pytest.raises(InputError, match="partial.safetensors: init_weights does not fit"):
        train(_cfg(init_weights=str(pfile), stages=one_step), out=tmp_path / "strict")
    res = train(_cfg(init_weights=str(pfile), init_partial=True, stages=one_step), out=tmp_path / "grown")
    assert res.completed and "keep their initialisation (head)" in capsys.readouterr().err
    after = _weights(tmp_path / "grown")
    assert all(torch.allclose(after[k], partial[k], atol=1e-6) for k in partial)
    extra = tmp_path / "extra.safetensors"
    save_file({**full, "not_in_model": torch.zeros(1)}, str(extra))
    with pytest.raises(InputError, match="unexpected"):
        train(_cfg(init_weights=str(extra), init_partial=True, stages=one_step), out=tmp_path / "extra")


def test_degradation_before_crop(tmp_path):
    """``degradation.before_crop`` degrades whole images, then crops: the items reaching the model
    are crops of the requested size with their clean references and labels."""
    from mmfuse.train.config import config_from_dict
    from mmfuse.train.datasets import build_train_stream

    cfg = config_from_dict(_cfg(data={"train": [{"root": str(IVIF)}], "degradation": {"preset": "demmi-rf", "before_crop": True, "weights": {"haze": 1.0}}}))
    stream = build_train_stream(cfg.data, 32, seed=0)
    item = stream.dataset[0]
    assert item["ir"].shape == (32, 32) and item["vis_clean"].shape == (32, 32, 3) and item["setting"] == "haze"
    # the haze of a crop of a whole hazed image differs from hazing the crop alone
    crop_first = build_train_stream(config_from_dict(_cfg(data={"train": [{"root": str(IVIF)}], "degradation": {"preset": "demmi-rf", "weights": {"haze": 1.0}}})).data, 32, seed=0)
    other = crop_first.dataset[0]
    assert np.array_equal(other["vis_clean"], item["vis_clean"])  # same crop window
    assert not np.allclose(other["vis"], item["vis"])
    StageProbe.calls.clear()
    res = train(_cfg(model={"name": "test-stage-probe"}, data={"train": [{"root": str(IVIF)}], "degradation": {"preset": "demmi-rf", "before_crop": True}},
                     stages=[{"name": "fusion", "steps": 1, "batch_size": 2, "crop_size": 32}]), out=tmp_path / "run")
    assert res.completed and StageProbe.calls[0][1] == ("ir", "ir_clean", "label", "vis", "vis_clean")
