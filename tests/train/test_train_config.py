"""Config files: strict validation, did-you-mean errors, --set overrides, round trip."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from mmfuse.errors import ConfigError
from mmfuse.train import build_model
from mmfuse.train.config import (
    DataConfig,
    TrainConfig,
    apply_overrides,
    config_from_dict,
    config_to_dict,
    load_config,
    parse_override,
    save_config,
)

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))

RAW = {
    "model": {"name": "fusion-unet", "channels": 4},
    "data": {"train": [{"root": "tests/data/ivif"}]},
    "stages": [{"name": "fusion", "steps": 10}],
}


def _raw(**updates):
    raw = copy.deepcopy(RAW)
    raw.update(updates)
    return raw


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_shipped_configs_validate(path, monkeypatch):
    monkeypatch.chdir(ROOT)  # data paths are relative to the repository root
    cfg = load_config(path)
    assert isinstance(cfg, TrainConfig) and cfg.total_steps > 0


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_shipped_configs_name_a_registered_architecture(path, monkeypatch):
    """Integration: the model module is imported by mmfuse.models and accepts the config's arguments."""
    monkeypatch.chdir(ROOT)
    build_model(load_config(path))


def test_defaults_and_paths(tmp_path):
    cfg = config_from_dict(_raw(), base_dir=tmp_path)
    st = cfg.stages[0]
    assert (st.optimizer, st.schedule, st.batch_size, st.ema, st.freeze) == ("adamw", "cosine", 4, None, [])
    assert cfg.arch == "fusion-unet" and cfg.arch_kwargs == {"channels": 4}
    assert cfg.data.train[0].root == str((tmp_path / "tests/data/ivif").resolve())  # made absolute
    assert isinstance(cfg.data, DataConfig) and cfg.validation.every == 0


def test_preset_files_are_made_absolute_names_are_kept(tmp_path):
    """A degradation preset given as a YAML path (run-level or a stage's) is resolved like the
    data paths, so the run's saved config works from any directory; preset names stay names."""
    raw = _raw(
        data={"train": [{"root": "d"}], "degradation": {"preset": "presets/p.yaml"}},
        stages=[{"name": "a", "steps": 1, "data": {"degradation": {"preset": "q.yml"}}}, {"name": "b", "steps": 1, "data": {"degradation": {"preset": "ems"}}}],
    )
    cfg = config_from_dict(raw, base_dir=tmp_path)
    assert cfg.data.degradation.preset == str((tmp_path / "presets/p.yaml").resolve())
    assert cfg.stages[0].data["degradation"]["preset"] == str((tmp_path / "q.yml").resolve())  # stage overrides stay mappings
    assert cfg.stages[1].data["degradation"]["preset"] == "ems"


@pytest.mark.parametrize(
    "update,needles",
    [
        ({"stages": [{"name": "f", "steps": 3, "lrr": 1e-3}]}, ["stages[0].lrr", "did you mean 'lr'", "valid keys: name, steps"]),
        ({"validaton": {"every": 3}}, ["'validaton'", "did you mean 'validation'"]),
        ({"data": {"train": [{"root": "x", "split_fle": "s.json"}]}}, ["data.train[0].split_fle", "'split_file'"]),
        ({"checkpoint": {"evry": 3}}, ["checkpoint.evry", "'every'"]),
        ({"stages": [{"name": "f", "steps": "ten"}]}, ["stages[0].steps", "expected an integer"]),
        ({"stages": [{"name": "f", "steps": 3, "optimizer": "sgd"}]}, ["stages[0].optimizer", "adam, adamw"]),
        ({"stages": [{"name": "f", "steps": 3, "betas": [0.9]}]}, ["stages[0].betas", "2 values"]),
        ({"stages": [{"name": "f", "steps": 3, "freeze": "stem"}]}, ["stages[0].freeze", "expected a list"]),
        ({"stages": [{"name": "f", "steps": 0}]}, ["steps", "at least 1"]),
        ({"stages": [{"name": "f", "steps": 3, "min_lr": 1.0}]}, ["min_lr"]),
        ({"stages": [{"name": "f", "steps": 3, "ema": 1.5}]}, ["ema"]),
        ({"stages": [{"name": "a", "steps": 1}, {"name": "a", "steps": 1}]}, ["unique", "a"]),
        ({"stages": [{"name": "last", "steps": 1}]}, ["invalid stage name"]),
        ({"stages": [{"steps": 1}]}, ["missing required key 'stages[0].name'"]),
        ({"stages": []}, ["at least one stage"]),
        ({"model": {"channels": 4}}, ["model.name"]),
        ({"data": {"train": []}}, ["data.train"]),
        ({"data": {"train": [{"root": "x", "kind": "stereo"}]}}, ["kind", "multi-exposure"]),
        ({"log": {"tensorboard": "yes"}}, ["log.tensorboard"]),
        ({"stages": [{"name": "f", "steps": 3, "data": {"flipp": True}}]}, ["flipp", "did you mean 'flip'"]),
        ({"threads": 0}, ["threads"]),
        ({"validation": {"stages": ["fuson"]}}, ["validation.stages", "did you mean 'fusion'"]),
    ],
)
def test_invalid_configs_name_the_key(update, needles):
    with pytest.raises(ConfigError) as info:
        config_from_dict(_raw(**update))
    msg = str(info.value)
    assert "\n" not in msg
    for n in needles:
        assert n in msg, (n, msg)


def test_yaml_number_forms_are_accepted():
    raw = _raw(stages=[{"name": "f", "steps": 2.0, "lr": "1e-3", "grad_clip": 1}])
    st = config_from_dict(raw).stages[0]
    assert st.steps == 2 and st.lr == 1e-3 and st.grad_clip == 1.0
    assert config_from_dict(_raw(log={"tensorboard": False})).log.tensorboard == "false"


def test_overrides():
    raw = apply_overrides(
        _raw(),
        ["stages.0.lr=2e-4", "stages.fusion.ema=0.99", "data.degradation.preset=demmi-rf", "seed=7", "model.channels=8", "stages.0.freeze=[stem]"],
    )
    cfg = config_from_dict(raw)
    st = cfg.stages[0]
    assert st.lr == 2e-4 and st.ema == 0.99 and st.freeze == ["stem"]
    assert cfg.seed == 7 and cfg.arch_kwargs == {"channels": 8}
    assert cfg.data.degradation is not None and cfg.data.degradation.preset == "demmi-rf"
    assert parse_override("a.b=") == (["a", "b"], None)
    assert parse_override("x=[1, 2]") == (["x"], [1, 2])
    for bad, needle in [
        ("stages.lr=1", "no item named 'lr'"),
        ("stages.3.lr=1", "out of range"),
        ("seed", "KEY=VALUE"),
        ("=1", "empty key"),
        ("model.name.x=1", "is a value"),
        ("seed=[1", "not valid YAML"),
    ]:
        with pytest.raises(ConfigError, match=needle):
            apply_overrides(_raw(), [bad])
    with pytest.raises(ConfigError, match="did you mean 'fusion'"):
        apply_overrides(_raw(), ["stages.fuson.lr=1"])
    with pytest.raises(ConfigError, match="unknown key 'stages\\[0\\].lrate'"):
        config_from_dict(apply_overrides(_raw(), ["stages.0.lrate=1"]))


def test_round_trip_and_file_errors(tmp_path):
    cfg = config_from_dict(_raw(stages=[{"name": "f", "steps": 3, "betas": [0.8, 0.9], "loss_weights": {"ssim": 2}}]))
    path = save_config(cfg, tmp_path / "run" / "config.yaml")
    again = load_config(path)
    assert config_to_dict(again) == config_to_dict(cfg)
    assert again.stages[0].betas == (0.8, 0.9)
    assert yaml.safe_load(path.read_text())["stages"][0]["loss_weights"] == {"ssim": 2.0}
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [unclosed\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_config(bad)
    bad.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping of sections"):
        load_config(bad)
    bad.write_text(yaml.safe_dump(_raw(seeed=1)))
    with pytest.raises(ConfigError, match=r"bad.yaml: unknown key 'seeed'; did you mean 'seed'\?"):
        load_config(bad)


def test_stage_data_override():
    cfg = config_from_dict(_raw(stages=[{"name": "a", "steps": 1}, {"name": "b", "steps": 1, "data": {"flip": False, "num_workers": 2}}]))
    assert cfg.stage_data(cfg.stages[0]).flip is True
    d = cfg.stage_data(cfg.stages[1])
    assert d.flip is False and d.num_workers == 2 and d.train == cfg.data.train


def test_end_stage_drops_the_later_stages(tmp_path):
    three = [
        {"name": n, "steps": 2, "batch_size": 1, "crop_size": 8, "task": "restore"} for n in ("restore", "refine", "fusion")
    ]
    cfg = config_from_dict(_raw(stages=three, start_stage="refine", end_stage="refine"), base_dir=tmp_path)
    assert [s.name for s in cfg.stages] == ["refine"]
    assert [s.name for s in config_from_dict(_raw(stages=three, end_stage="refine"), base_dir=tmp_path).stages] == ["restore", "refine"]
    with pytest.raises(ConfigError, match="end_stage: no stage named 'restore'"):  # before start_stage: not among the stages run
        config_from_dict(_raw(stages=three, start_stage="refine", end_stage="restore"), base_dir=tmp_path)


def test_start_stage_skips_the_earlier_stages(tmp_path):
    two = [{"name": "restore", "steps": 10}, {"name": "refine", "task": "restore", "steps": 5}, {"name": "fusion", "steps": 3}]
    cfg = config_from_dict(_raw(stages=two, start_stage="refine"), base_dir=tmp_path)
    assert [s.name for s in cfg.stages] == ["refine", "fusion"] and cfg.total_steps == 8
    assert cfg.stages[0].kind == "restore" and cfg.stages[1].kind == "fusion"
    again = config_from_dict(config_to_dict(cfg), base_dir=tmp_path)  # a saved run config resumes the same stages
    assert [s.name for s in again.stages] == ["refine", "fusion"]
    with pytest.raises(ConfigError, match="start_stage: no stage named 'refin'.*refine"):
        config_from_dict(_raw(stages=two, start_stage="refin"), base_dir=tmp_path)
