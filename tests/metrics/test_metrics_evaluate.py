"""evaluate(): input conversion, profiles, colour handling, degraded-fusion references."""
from __future__ import annotations

import math

import numpy as np
import pytest

import mmfuse.metrics as M
from metrics_testdata import triplet
from mmfuse.errors import InputError, ShapeError
from mmfuse.metrics.profiles import PROFILES


@pytest.fixture(scope="module")
def rgb_triplet() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fused RGB, IR grey, VI RGB) uint8, 200x240 crops of VIFB 'manWalking' / ADF."""
    f, ir, vi = triplet("manWalking", "ADF")
    crop = (slice(20, 220), slice(40, 280))
    return f[crop], ir[crop], vi[crop]


def test_uint8_and_float_inputs_agree(rgb_triplet) -> None:
    f, ir, vi = rgb_triplet
    for name in PROFILES:
        a = M.evaluate(f, ir, vi, profile=name)
        b = M.evaluate(*(x.astype(np.float32) / np.float32(255) for x in (f, ir, vi)), profile=name)
        assert a == b, name


def cv2_grey(x: np.ndarray) -> np.ndarray:
    import cv2

    return x.astype(np.float32) if x.ndim == 2 else cv2.cvtColor(x[..., ::-1].astype(np.float32), cv2.COLOR_BGR2GRAY)


@pytest.mark.parametrize("profile", list(PROFILES))
def test_every_supported_metric_runs(profile: str, rgb_triplet) -> None:
    """The profile's options are accepted by the metric functions and give finite values.
    (FMI is slow and has no options: it runs on a small crop in the mmfuse case only.)"""
    f, ir, vi = rgb_triplet
    prof = M.get_profile(profile)
    names = [m for m in prof.supported() if not m.startswith("FMI")]
    vals, meta = M.evaluate(f, ir, vi, profile=profile, metrics=names, return_meta=True)
    assert list(vals) == names == meta["metrics"]
    if profile == "mmfuse":
        fmi = M.evaluate(f[:48, :64], ir[:48, :64], vi[:48, :64], metrics="FMI_pixel,FMI_dct,FMI_w")
        assert all(0 < v < 1 for v in fmi.values()), fmi
    assert all(math.isfinite(v) for v in vals.values()), vals
    assert meta["errors"] == {}
    # the informational fields agree with the options actually used
    assert prof.options["MI"]["base"] == prof.log_base
    assert prof.options["SSIM"]["aggregate"] == prof.aggregation


def test_profile_conventions_show_in_the_numbers(rgb_triplet) -> None:
    f, ir, vi = rgb_triplet
    t = M.evaluate(f, ir, vi, profile="tang", metrics="MI,PSNR,MSE,SSIM")
    c = M.evaluate(f, ir, vi, profile="cddfuse", metrics="MI,PSNR,MSE,SSIM")
    m = M.evaluate(f, ir, vi, profile="mmfuse", metrics="MI,PSNR,MSE,SSIM")
    assert 50 < t["PSNR"] < 75 and 5 < m["PSNR"] < 30  # +48.13 dB in Tang's toolbox
    assert t["MSE"] < 1 < c["MSE"]  # [0, 1] vs 0-255
    assert c["MI"] < m["MI"]  # nats vs bits
    from skimage.metrics import structural_similarity

    g = [np.round(cv2_grey(x)).astype(np.float32) for x in (f, ir, vi)]
    sk = sum(structural_similarity(g[0], s, data_range=2.0) for s in g[1:])  # CDDFuse: summed
    assert c["SSIM"] == pytest.approx(sk, rel=1e-12)


def test_grey_conversions() -> None:
    from mmfuse.metrics._evaluate import _to_grey

    px = np.array([[[10.0, 200.0, 30.0]]])
    # MATLAB rgb2gray weights: 2.98936 + 117.40861 + 3.42063 = 123.81860 -> 124
    assert _to_grey(px, "matlab_uint8")[0, 0] == 124.0
    assert _to_grey(px, "matlab_double")[0, 0] == pytest.approx(123.8186036)
    assert _to_grey(px, "bt601")[0, 0] == np.rint(0.299 * 10 + 0.587 * 200 + 0.114 * 30)
    import cv2

    rgb = np.random.default_rng(1).integers(0, 256, (5, 7, 3)).astype(np.uint8)
    expect = np.round(cv2.cvtColor(rgb[..., ::-1].astype(np.float32), cv2.COLOR_BGR2GRAY))
    np.testing.assert_array_equal(_to_grey(rgb.astype(np.float64), "opencv_float32"), expect)


def test_colour_handling(rgb_triplet) -> None:
    f, ir, vi = rgb_triplet
    # mmfuse: BT.601 luma, rounded to 8-bit levels, then grey metrics
    grey = lambda x: np.rint(0.299 * x[..., 0] + 0.587 * x[..., 1] + 0.114 * x[..., 2])  # noqa: E731
    m = M.evaluate(f, ir, vi, metrics="SD,SSIM")
    assert m["SD"] == pytest.approx(M.SD(grey(f.astype(float))), rel=1e-12)
    assert m["SSIM"] == pytest.approx(M.SSIM(grey(f.astype(float)), ir.astype(float), grey(vi.astype(float))), rel=1e-12)
    # vifb: per-channel scores averaged (the grey IR is compared with every channel) ...
    v = M.evaluate(f, ir, vi, profile="vifb", metrics="SD,SSIM,SF")
    chans = [f[..., k].astype(float) for k in range(3)]
    assert v["SD"] == pytest.approx(np.mean([M.SD(c) for c in chans]), rel=1e-12)
    ssim = [M.SSIM(c, ir.astype(float), vi[..., k].astype(float), aggregate="sum") for k, c in enumerate(chans)]
    assert v["SSIM"] == pytest.approx(np.mean(ssim), rel=1e-12)
    # ... except SF, computed on the R|G|B planes side by side (VIFB's size() quirk)
    assert v["SF"] == pytest.approx(M.SF(np.hstack(chans), normalization="MN"), rel=1e-12)
    # a grey fused image: the colour source goes through rgb2gray (double, no rounding)
    g = M.evaluate(f[..., 1], ir, vi, profile="vifb", metrics="SSIM")
    vi_grey = 0.298936021293775 * vi[..., 0] + 0.587043074451121 * vi[..., 1] + 0.114020904255103 * vi[..., 2]
    assert g["SSIM"] == pytest.approx(M.SSIM(f[..., 1].astype(float), ir.astype(float), vi_grey, aggregate="sum"), rel=1e-12)


def test_degraded_fusion_protocol(rgb_triplet) -> None:
    f, ir, vi = rgb_triplet
    rng = np.random.default_rng(0)
    noisy = [np.clip(x.astype(float) + rng.normal(0, 20, x.shape), 0, 255).astype(np.uint8) for x in (ir, vi)]
    clean, meta_c = M.evaluate(f, ir, vi, return_meta=True)
    with_refs, meta_r = M.evaluate(f, noisy[0], noisy[1], ir_ref=ir, vi_ref=vi, return_meta=True)
    degraded, meta_d = M.evaluate(f, noisy[0], noisy[1], return_meta=True)
    assert with_refs == clean  # reference-based metrics use the clean references
    assert meta_r["references"] == {"ir": "clean", "vi": "clean"}
    assert meta_d["references"] == meta_c["references"] == {"ir": "input", "vi": "input"}
    for name in with_refs:
        if name in M.NO_REFERENCE_METRICS:
            assert degraded[name] == with_refs[name]  # the fused image alone
        else:
            assert degraded[name] != with_refs[name], name
    assert set(meta_r["no_reference"]) == {"EN", "SD", "SF", "AG", "EI"}
    only_vi = M.evaluate(f, noisy[0], noisy[1], vi_ref=vi, return_meta=True)[1]
    assert only_vi["references"] == {"ir": "input", "vi": "clean"}


def test_input_errors(rgb_triplet) -> None:
    f, ir, vi = rgb_triplet
    with pytest.raises(ShapeError, match="ir has size"):
        M.evaluate(f, ir[:-1], vi)
    with pytest.raises(ShapeError, match="vi_ref has size"):
        M.evaluate(f, ir, vi, vi_ref=vi[:, :-2])
    with pytest.raises(InputError, match=r"expected \[0, 1\]"):
        M.evaluate(f.astype(np.float32), ir, vi)
    with pytest.raises(ShapeError, match="expected"):
        M.evaluate(np.zeros((10, 10, 5), np.uint8), ir[:10, :10], vi[:10, :10])
    with pytest.raises(InputError, match="unknown metric"):
        M.evaluate(f, ir, vi, metrics="EN,QQ")
    with pytest.raises(InputError, match="not available in profile tang"):
        M.evaluate(f, ir, vi, profile="tang", metrics=["FMI_pixel"])
    with pytest.raises(InputError, match="unknown metric profile"):
        M.evaluate(f, ir, vi, profile="matlab")


def test_other_dtypes(rgb_triplet) -> None:
    f, ir, vi = rgb_triplet
    ref = M.evaluate(f, ir, vi, metrics="EN,SSIM")
    as16 = [x.astype(np.uint16) * 257 for x in (f, ir, vi)]  # 16-bit with the same levels
    assert M.evaluate(*as16, metrics="EN,SSIM") == ref
    rgba = np.dstack([f, np.full(f.shape[:2], 255, np.uint8)])
    assert M.evaluate(rgba, ir, vi, metrics="EN,SSIM") == ref


def test_resolve_metrics() -> None:
    assert M.resolve_metrics(None, "vifb") == list(M.get_profile("vifb").default_metrics)
    assert len(M.get_profile("vifb").default_metrics) == 13
    assert M.resolve_metrics("ssim, en", "mmfuse") == ["EN", "SSIM"]  # case-insensitive, METRICS order
    assert M.resolve_metrics(["PSNR", "psnr"]) == ["PSNR"]
    assert M.resolve_metrics("all", "tang") == list(M.get_profile("tang").supported())
    assert "FMI_pixel" not in M.resolve_metrics("all", "tang")
    with pytest.raises(InputError):
        M.resolve_metrics("", "mmfuse")


def test_metric_too_large_for_the_image_gives_nan_and_a_note() -> None:
    rng = np.random.default_rng(3)
    f, a, b = (rng.integers(0, 256, (64, 80)).astype(np.uint8) for _ in range(3))
    vals, meta = M.evaluate(f, a, b, metrics="EN,MS_SSIM", return_meta=True)
    assert math.isfinite(vals["EN"]) and math.isnan(vals["MS_SSIM"])
    assert "176x176" in meta["errors"]["MS_SSIM"]


def test_evaluate_many_equals_evaluate() -> None:
    """Sharing the source-side work changes nothing (all profiles, colour and grey fused)."""
    fused = [triplet("carWhite", m)[0][40:240, 60:300] for m in ("CNN", "GFF", "Hybrid_MSD")]
    fused.append(fused[0][..., 1])  # a grey fused image among colour ones
    _, ir, vi = triplet("carWhite", "CNN")
    ir, vi = ir[40:240, 60:300], vi[40:240, 60:300]
    for name, prof in PROFILES.items():
        names = [m for m in prof.supported() if not m.startswith("FMI")]
        many = M.evaluate_many(fused, ir, vi, profile=name, metrics=names)
        for f, got in zip(fused, many):
            assert got == M.evaluate(f, ir, vi, profile=name, metrics=names), name


def test_every_metric_has_a_direction() -> None:
    """``METRIC_DIRECTION`` covers every metric name (+1 higher is better, -1 lower is better),
    and the error-type metrics are the lower-is-better ones."""
    from mmfuse.metrics import METRIC_DIRECTION, METRICS

    assert set(METRICS) <= set(METRIC_DIRECTION)
    assert set(METRIC_DIRECTION.values()) == {1, -1}
    assert {m for m, d in METRIC_DIRECTION.items() if d < 0} == {"CE", "Qcv", "Nabf", "Nabf_petrovic", "MSE", "RMSE"}
