"""Steps, chains, YAML presets and apply_setting: every shipped setting on real pairs."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mmfuse import degrade as D
from mmfuse.degrade.presets import PRESET_FILES
from mmfuse.errors import ConfigError, InputError

PRESETS_DIR = Path(D.__file__).parent / "presets"

# TG-ECNet's 17 multi-degradation combinations (tg-ecnet.md sec. 1.4), as mmfuse names them.
DEMMI_COMBOS = [
    "noise15+haze", "noise25+haze", "noise50+haze", "noise15+defocus", "noise25+defocus", "noise50+defocus",
    "noise15+stripe", "noise25+stripe", "noise50+stripe", "haze+defocus", "haze+stripe", "defocus+stripe",
    "haze+defocus+stripe", "noise50+haze+stripe", "noise50+haze+defocus", "noise50+defocus+stripe",
    "noise50+haze+defocus+stripe",
]


def all_settings():
    return [(p, s.name) for p in D.list_presets() for s in D.load_preset(p).settings]


def test_shipped_preset_files_are_exactly_the_registered_ones():
    assert sorted(p.name for p in PRESETS_DIR.glob("*.yaml")) == sorted(PRESET_FILES.values())
    assert D.list_presets() == ["demmi-rf", "ems", "weather", "lure", "drmf"]


def test_demmi_rf_settings():
    p = D.load_preset("demmi-rf")
    assert p.names[:7] == ["clean", "noise15", "noise25", "noise50", "haze", "defocus", "stripe"]
    assert p.names[7:] == DEMMI_COMBOS
    four = p.setting("noise50+haze+defocus+stripe")
    assert four.vis_chain == "haze+defocus+noise50" and four.ir_chain == "stripe"
    # single settings degrade exactly one modality (TG-ECNet stage-2 pairing)
    for name in ("noise15", "noise25", "noise50", "haze", "defocus"):
        assert p.setting(name).vis and not p.setting(name).ir
    assert p.setting("stripe").ir and not p.setting("stripe").vis
    # every combination is made of the single degradations its name lists
    for name in DEMMI_COMBOS:
        tokens = {s.token for s in (*p.setting(name).vis, *p.setting(name).ir)}
        assert tokens == set(name.split("+")), name
    assert p.steps["noise25"].params["sigma"] == 25
    assert p.steps["haze"].params["airlight"] == "mean"


def test_other_presets_have_the_issue_settings():
    assert {"rain", "snow", "haze"} <= set(D.load_preset("weather").names)
    assert {"lowlight", "overexposure", "ir-lowcontrast", "sr4", "sr8"} <= set(D.load_preset("lure").names)
    ems = D.load_preset("ems")
    assert {"rain", "haze", "blur", "vis-noise", "stripe", "ir-noise"} <= set(ems.names)
    assert ems.setting("ir-noise").ir_chain == "ir-noise+ir-shot+ir-impulse"
    assert D.load_preset("lure").setting("sr8").ir[0].params["factor"] == 8


@pytest.mark.parametrize("preset,setting", all_settings())
def test_every_preset_setting_runs_on_a_real_pair(preset, setting, pair):
    ir, vi = pair
    s = D.load_preset(preset).setting(setting)
    ir_d, vi_d, rec = D.apply_setting(ir, vi, s, 0)
    for clean, deg, chain in ((ir, ir_d, s.ir), (vi, vi_d, s.vis)):
        assert deg.shape == clean.shape and deg.dtype == np.float32
        assert 0.0 <= deg.min() and deg.max() <= 1.0
        if chain:
            assert np.abs(deg - clean).mean() > 1e-3, (preset, setting)
        else:
            np.testing.assert_array_equal(deg, clean)  # an unaffected modality stays clean
    assert rec["setting"] == setting and rec["seed"] == 0
    assert [r["step"] for r in rec["vis"]] == [t.token for t in s.vis]
    assert [r["step"] for r in rec["ir"]] == [t.token for t in s.ir]
    json.dumps(rec)


def test_settings_on_gray_visible_and_rgb_infrared(msrs_pair):
    ir, vi = msrs_pair
    gray_vi = vi.mean(axis=2)
    rgb_ir = np.repeat(ir[..., None], 3, axis=2)
    for preset in D.list_presets():
        for s in D.load_preset(preset).settings:
            ir_d, vi_d, _ = D.apply_setting(rgb_ir[:96, :128], gray_vi[:96, :128], s, 1)
            assert ir_d.shape == (96, 128, 3) and vi_d.shape == (96, 128)


def test_clean_is_the_identity(pair):
    ir, vi = pair
    for preset in D.list_presets():
        p = D.load_preset(preset)
        if "clean" in p.names:
            ir_d, vi_d, rec = D.apply_setting(ir, vi, p.setting("clean"), 5)
            np.testing.assert_array_equal(ir_d, ir)
            np.testing.assert_array_equal(vi_d, vi)
            assert rec["vis"] == [] and rec["ir"] == []
            assert ir_d is not ir and vi_d is not vi  # copies, not views of the input


def test_apply_setting_reproducible_from_the_record_seed(pair):
    ir, vi = pair
    s = D.load_preset("demmi-rf").setting("noise50+haze+defocus+stripe")
    a = D.apply_setting(ir, vi, s, 2024)
    b = D.apply_setting(ir, vi, s, a[2]["seed"])
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert a[2] == b[2]
    c = D.apply_setting(ir, vi, s, 2025)
    assert not np.array_equal(a[1], c[1]) and not np.array_equal(a[0], c[0])
    # the IR result does not depend on whether VIS is degraded too
    ir_only, none, _ = D.apply_setting(ir, None, s, 2024)
    assert none is None
    np.testing.assert_array_equal(ir_only, a[0])
    # a Generator is accepted; the record then has no seed
    _, _, rec = D.apply_setting(ir, vi, s, np.random.default_rng(1))
    assert rec["seed"] is None


def test_sampled_parameters_stay_in_their_ranges(pair):
    ir, vi = pair
    p = D.load_preset("demmi-rf")
    betas, radii, cols = [], [], []
    for seed in range(40):
        _, _, rec = D.apply_setting(ir[:32, :32], vi[:32, :32], p.setting("haze+defocus+stripe"), seed)
        betas.append(rec["vis"][0]["params"]["beta"])
        radii.append(rec["vis"][1]["params"]["radius"])
        cols.append(rec["ir"][0]["params"]["column_sigma"])
    assert 0.04 <= min(betas) and max(betas) < 0.12 and np.ptp(betas) > 0.04
    assert 2.0 <= min(radii) and max(radii) < 5.0
    assert 3.0 <= min(cols) and max(cols) < 8.0


def test_parse_chain_builtin_and_parametric():
    chain = D.parse_chain("haze + defocus+noise50")
    assert [s.token for s in chain] == ["haze", "defocus", "noise50"]
    assert D.parse_chain("noise7.5")[0].params == {"sigma": 7.5}
    assert D.parse_chain("sr3")[0].op == "downsample" and D.parse_chain("sr3")[0].params == {"factor": 3}
    assert D.parse_chain("jpeg40")[0].params == {"quality": 40}
    assert D.parse_chain("") == () and D.parse_chain("none") == () and D.parse_chain(None) == ()
    assert D.chain_text(chain) == "haze+defocus+noise50"
    with pytest.raises(InputError, match="unknown step 'fog'"):
        D.parse_chain("haze+fog")
    with pytest.raises(InputError, match="empty step"):
        D.parse_chain("haze++noise25")
    steps = dict(D.load_preset("demmi-rf").steps)
    with pytest.raises(InputError, match="known: noise15"):
        D.parse_chain("rain", steps)


def test_chain_is_applied_left_to_right(pair):
    vi = pair[1]
    # noise then blur smooths the noise away; blur then noise keeps it: the order matters
    nb, _ = D.apply_chain(vi, "noise50+blur", 3)
    bn, recs = D.apply_chain(vi, "blur+noise50", 3)
    assert [r["step"] for r in recs] == ["blur", "noise50"]
    hf = lambda x: np.abs(np.diff(x, axis=1)).mean()  # noqa: E731
    assert hf(bn) > 2 * hf(nb)
    # the chain equals applying the steps one by one on one generator
    gen = np.random.default_rng(3)
    x, _ = D.BUILTIN_STEPS["blur"].apply(vi, gen)
    x, _ = D.parse_chain("noise50")[0].apply(x, gen)
    np.testing.assert_array_equal(x, bn)


def test_step_validation():
    with pytest.raises(ConfigError, match="unknown operator 'fog'"):
        D.Step("fog", "fog")
    with pytest.raises(ConfigError, match="has no parameter 'radius'"):
        D.Step("x", "gaussian_noise", {"radius": 3})
    with pytest.raises(ConfigError, match="lo <= hi"):
        D.Step("x", "gaussian_noise", {"sigma": {"uniform": [5, 1]}})
    with pytest.raises(ConfigError, match="distribution"):
        D.Step("x", "gaussian_noise", {"sigma": {"normal": [0, 1]}})
    with pytest.raises(ConfigError, match="integer bounds"):
        D.Step("x", "downsample", {"factor": {"randint": [2, 4.5]}})
    s = D.Step("x", "downsample", {"factor": {"randint": [2, 4]}, "down": {"choice": ["area", "cubic"]}})
    draws = [tuple(s.sample(np.random.default_rng(i)).values()) for i in range(60)]
    assert {d[0] for d in draws} == {2, 3, 4} and {d[1] for d in draws} == {"area", "cubic"}
    assert "U(" in D.BUILTIN_STEPS["haze"].describe()


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "custom.yaml"
    p.write_text(text)
    return p


def test_user_preset_from_yaml(tmp_path, pair):
    path = _write(tmp_path, """
name: night
description: dark visible + noisy IR
steps:
  dark: {op: low_light, params: {gain: 0.3, gamma: 2.0, sigma: {uniform: [1, 3]}}}
  hot: {op: thermal_noise, params: {sigma: 8}}
settings:
  - {name: clean}
  - {name: dark+hot, vis: dark, ir: hot}
""")
    p = D.load_preset(path)
    assert p.names == ["clean", "dark+hot"] and p.path == str(path)
    ir_d, vi_d, rec = D.apply_setting(*pair, p.setting("dark+hot"), 0)
    assert vi_d.mean() < 0.5 * pair[1].mean() and rec["ir"][0]["params"]["sigma"] == 8.0
    assert p.select("dark+hot, clean") == p.settings  # preset order, whatever the order asked


@pytest.mark.parametrize("text,match", [
    ("name: x\nsettings: []\n", "non-empty list"),
    ("name: x\nfoo: 1\nsettings: [{name: a}]\n", "unknown key"),
    ("name: x\nsteps: {a: {op: fog}}\nsettings: [{name: a, vis: a}]\n", "unknown operator"),
    ("name: x\nsteps: {a: {op: haze, params: {beta: -1}}}\nsettings: [{name: a, vis: a}]\n", "beta must be >= 0"),
    ("name: x\nsettings: [{name: a, vis: rain}]\n", "unknown step 'rain'"),
    ("name: x\nsettings: [{name: a}, {name: a}]\n", "duplicate setting"),
    ("name: x\nsettings: [{name: ../a}]\n", "invalid name"),
    ("name: x\nsettings: [{name: a, vis: [1]}]\n", "chain string"),
    ("- just a list\n", "mapping"),
    ("name: [unclosed\n", "cannot read preset"),
])
def test_bad_user_presets(tmp_path, text, match):
    with pytest.raises(ConfigError, match=match) as info:
        D.load_preset(_write(tmp_path, text))
    assert "custom.yaml" in str(info.value) and "\n" not in str(info.value)


def test_unknown_preset_and_setting():
    with pytest.raises(InputError, match="unknown preset 'demi'; known: demmi-rf"):
        D.load_preset("demi")
    with pytest.raises(InputError, match="preset file not found"):
        D.load_preset("/nonexistent/p.yaml")
    with pytest.raises(InputError, match="unknown setting 'noise30'"):
        D.load_preset("demmi-rf").select("noise25,noise30")
    with pytest.raises(InputError, match="empty setting name"):
        D.load_preset("demmi-rf").select("noise25,")
