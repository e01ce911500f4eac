"""Metrics outside the oracles, checked against independently derived values: exact identities,
hand-computed small cases, independent library implementations, symmetry in the two sources."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage

import mmfuse.metrics as M

LN2 = math.log(2.0)


# ---------------------------------------------------------------- no-reference metrics


def test_en_hand_cases() -> None:
    assert M.EN(np.full((8, 8), 77.0)) == 0.0
    all_levels = np.arange(256, dtype=np.float64).reshape(16, 16)
    assert M.EN(all_levels) == pytest.approx(8.0, abs=1e-12)
    # Non-integer values: half the pixels 3.6, half 4.4 -> floor gives levels {3, 4} (1 bit),
    # rounding gives {4, 4} (0 bits).
    x = np.tile([3.6, 4.4], (4, 4))
    assert M.EN(x, quantization="floor") == pytest.approx(1.0)
    assert M.EN(x, quantization="round") == 0.0


def test_en_matches_scikit_image(small_triplet) -> None:
    from skimage.measure import shannon_entropy

    f = small_triplet[0]
    assert M.EN(f) == pytest.approx(shannon_entropy(f.astype(np.uint8), base=2), abs=1e-12)
    assert M.EN(f / 255.0, data_range=1.0) == pytest.approx(M.EN(f), abs=1e-12)


def test_sd_sf_ag_hand_cases() -> None:
    board = np.indices((6, 6)).sum(axis=0) % 2 * 255.0
    assert M.SD(board) == pytest.approx(127.5)
    x = np.array([[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]])
    # 4 horizontal differences of 1, 3 vertical differences of 3.
    assert M.SF(x) == pytest.approx(math.sqrt(1.0 + 9.0))
    assert M.SF(x, normalization="MN") == pytest.approx(math.sqrt((4 * 1.0 + 3 * 9.0) / 6))
    # A linear ramp has the exact gradient (a, b) everywhere (central and one-sided differences).
    m, n, a, b = 7, 9, 3.0, -2.0
    ramp = a * np.arange(n)[None, :] + b * np.arange(m)[:, None] + 50.0
    s = math.sqrt((a * a + b * b) / 2.0)
    assert M.AG(ramp) == pytest.approx(s * m * n / ((m - 1) * (n - 1)))
    assert M.AG(ramp, divisor="MN") == pytest.approx(s)


def test_ei_hand_case() -> None:
    # x(i, j) = c*i: interior Sobel response 4*(x(i-1) - x(i+1)) = -8c, first/last row -4c
    # (replicated border), no response along the other axis.
    m, n, c = 6, 5, 3.0
    ramp = c * np.arange(m, dtype=np.float64)[:, None] * np.ones((1, n))
    expected = ((m - 2) * 8 * c + 2 * 4 * c) / m
    assert M.EI(ramp) == pytest.approx(expected)


# ---------------------------------------------------------------- information metrics


def test_ce_hand_case() -> None:
    a = np.array([[0.0, 1.0], [0.0, 1.0]])  # p_A = (1/2, 1/2)
    f = np.array([[0.0, 1.0], [1.0, 1.0]])  # p_F = (1/4, 3/4)
    kl_af = 0.5 * math.log2(0.5 / 0.25) + 0.5 * math.log2(0.5 / 0.75)
    assert M.CE(f, a, f) == pytest.approx(0.5 * kl_af)
    assert M.CE(f, f, f) == 0.0


def _mi_by_pairs(x: np.ndarray, y: np.ndarray) -> float:
    """Σ p(x,y) log2(p(x,y)/(p(x)p(y))) from explicit pair counts (a different algorithm)."""
    pairs, counts = np.unique(np.stack([x.ravel(), y.ravel()]), axis=1, return_counts=True)
    n = x.size
    vx, cx = np.unique(x, return_counts=True)
    vy, cy = np.unique(y, return_counts=True)
    px = dict(zip(vx.tolist(), (cx / n).tolist()))
    py = dict(zip(vy.tolist(), (cy / n).tolist()))
    return sum(c / n * math.log2((c / n) / (px[a] * py[b])) for (a, b), c in zip(pairs.T.tolist(), counts))


def test_mi_exact_against_pair_counts_and_units(small_triplet) -> None:
    f, a, b = small_triplet
    bits = M.MI(f, a, b)
    assert bits == pytest.approx(_mi_by_pairs(a, f) + _mi_by_pairs(b, f), rel=1e-12)
    # MI in nats = MI in bits x ln 2 (CDDFuse's sklearn value vs Tang's bits).
    assert M.MI(f, a, b, base=math.e) == pytest.approx(bits * LN2, rel=1e-12)
    # MI(X;X) = H(X): a source fused with itself.
    assert M.MI(a, a, a) == pytest.approx(2 * M.EN(a), rel=1e-12)
    assert M.MI(f, a, b) == pytest.approx(M.MI(f, b, a), rel=1e-14)


def test_mi_tang_saturation_hand_case() -> None:
    # Half 254, half 255: exact MI(A;A) = H(A) = 1 bit. Tang's Hab adds 1 to uint8 data, which
    # saturates, so the joint histogram has a single bin (H = 0) while the marginals keep
    # 1 bit each: MI = 1 + 1 - 0 = 2 bits per source.
    x = np.tile([254.0, 255.0], (4, 4))
    assert M.MI(x, x, x) == pytest.approx(2.0)
    assert M.MI(x, x, x, variant="tang") == pytest.approx(4.0)


def test_mi_variants_agree_without_saturation_or_collisions(small_triplet) -> None:
    f, a, b = (np.minimum(v, 254.0) for v in small_triplet)
    assert M.MI(f, a, b, variant="tang") == pytest.approx(M.MI(f, a, b), rel=1e-12)
    # VIFB's min-max stretch relabels the levels of an image spanning 0..254 one-to-one.
    stretched = [np.round((v - v.min()) / (v.max() - v.min()) * 254.0) for v in (f, a, b)]
    assert M.MI(*stretched, variant="vifb") == pytest.approx(M.MI(*stretched), rel=1e-12)


def _nmi_reference(f: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    def norm(v: np.ndarray) -> np.ndarray:
        t = (v - v.min()) / (v.max() - v.min()) * 255.0
        return np.floor(t + 0.5)  # positive values: half away from zero

    def h(v: np.ndarray) -> float:
        _, c = np.unique(v, return_counts=True)
        p = c / v.size
        return float(-(p * np.log2(p)).sum())

    nf, na, nb = norm(f), norm(a), norm(b)
    return 2.0 * (_mi_by_pairs(na, nf) / (h(na) + h(nf)) + _mi_by_pairs(nb, nf) / (h(nb) + h(nf)))


def test_nmi(small_triplet) -> None:
    f, a, b = small_triplet
    assert M.NMI(f, a, b) == pytest.approx(_nmi_reference(f, a, b), rel=1e-12)
    assert M.NMI(a, a, a) == pytest.approx(2.0, rel=1e-12)
    assert M.NMI(f, a, b) == pytest.approx(M.NMI(f, b, a), rel=1e-14)
    assert math.isnan(M.NMI(f, np.full_like(a, 7.0), b))  # normalize1 of a constant: 0/0


# ---------------------------------------------------------------- FMI


def _fmi_loop(a: np.ndarray, b: np.ndarray, f: np.ndarray, w: int = 3) -> float:
    """A literal loop transliteration of fmi.m (one window and one (i, j) pair at a time)."""

    def norm(s: np.ndarray) -> np.ndarray:
        return np.ones_like(s) if s.max() == s.min() else (s - s.min()) / (s.max() - s.min())

    def fmi_one(x: np.ndarray, y: np.ndarray) -> float:  # x: source window, y: fused window
        px = x.flatten(order="F") / x.sum()
        py = y.flatten(order="F") / y.sum()
        l = len(px)
        cx, cy = np.cumsum(px), np.cumsum(py)
        tx, ty = px - px.mean(), py - py.mean()
        num = sum(tx[i] * ty[i] for i in range(l))
        c = 0.0 if num == 0 else num / math.sqrt(sum(tx * tx) * sum(ty * ty))
        idx = np.arange(1, l + 1)
        sx = math.sqrt(max(sum(idx * idx * px) - sum(idx * px) ** 2, 0.0))
        sy = math.sqrt(max(sum(idx * idx * py) - sum(idx * py) ** 2, 0.0))
        if c >= 0:
            bound = lambda i, j: min(cy[i], cx[j]) if i >= 0 and j >= 0 else 0.0  # noqa: E731
        else:
            bound = lambda i, j: max(cy[i] + cx[j] - 1.0, 0.0) if i >= 0 and j >= 0 else 0.0  # noqa: E731
        if sx == 0 or sy == 0 or c == 0:
            mix = 0.0
        else:
            cov = sum(bound(i, j) - cy[i] * cx[j] for i in range(l) for j in range(l))
            mix = c / (cov / (sy * sx))
        hj = 0.0
        for i in range(l):
            for j in range(l):
                d = bound(i, j) - bound(i - 1, j) - bound(i, j - 1) + bound(i - 1, j - 1)
                p = mix * d + (1 - mix) * py[i] * px[j]
                if p != 0:
                    hj += -p * math.log2(abs(p))
        hx = -sum(p * math.log2(p) for p in px if p != 0)
        hy = -sum(p * math.log2(p) for p in py if p != 0)
        mi = hx + hy - hj
        return 0.0 if mi == 0 else 2 * mi / (hx + hy)

    r = w // 2
    vals = []
    for p in range(r, a.shape[0] - r):
        for q in range(r, a.shape[1] - r):
            sa, sb, sf = (v[p - r : p + r + 1, q - r : q + r + 1] for v in (a, b, f))
            if np.array_equal(sa, sf):
                fa = 1.0
                fcur = sf
            else:
                fa = fmi_one(norm(sa), norm(sf))
                fcur = norm(sf)
            fb = 1.0 if np.array_equal(sb, fcur) else fmi_one(norm(sb), norm(sf))
            vals.append((fa + fb) / 2)
    return float(np.mean(vals))


def test_fmi_against_loop_transliteration(small_triplet) -> None:
    f, a, b = (v[40:52, 60:71] for v in small_triplet)
    a = a.copy()
    a[:4, :4] = f[:4, :4]  # identical windows take the fmi = 1 branch
    assert M.FMI_pixel(f, a, b) == pytest.approx(_fmi_loop(a, b, f), rel=1e-9)
    from scipy.fft import dctn

    d = [dctn(v, type=2, norm="ortho") for v in (a, b, f)]
    assert M.FMI_dct(f, a, b) == pytest.approx(_fmi_loop(d[0], d[1], d[2]), rel=1e-9)
    # FMI_w: the [cA cH; cV cD] mosaic of a one-level DWT, min-max rescaled (Haar here, so that
    # the mosaic stays as small as the image; the default is PyWavelets' dmey).
    import pywt

    def mosaic(v: np.ndarray) -> np.ndarray:
        ca, (ch, cv, cd) = pywt.dwt2(v, "haar", mode="symmetric")
        m = np.vstack([np.hstack([ca, ch]), np.hstack([cv, cd])])
        return (m - m.min()) / (m.max() - m.min())

    w = [mosaic(v) for v in (a, b, f)]
    assert M.FMI_w(f, a, b, wavelet="haar") == pytest.approx(_fmi_loop(w[0], w[1], w[2]), rel=1e-9)


def test_fmi_identities(small_triplet) -> None:
    f, a, b = (v[:40, :50] for v in small_triplet)
    assert M.FMI_pixel(a, a, a) == 1.0
    assert M.FMI_w(a, a, a) == 1.0
    assert 0.0 < M.FMI_pixel(f, a, b) < 1.0
    assert 0.0 < M.FMI_w(f, a, b) < 1.0


# ---------------------------------------------------------------- correlation and errors


def test_scd_cc_hand_cases(small_triplet) -> None:
    _, a, b = small_triplet
    # F = A + B: F - B = A and F - A = B, so both correlations are 1.
    assert M.SCD(a + b, a, b) == pytest.approx(2.0, abs=1e-12)
    assert M.CC(a, a, a) == pytest.approx(1.0, abs=1e-12)
    assert M.CC(a, a, 255.0 - a) == pytest.approx(0.0, abs=1e-12)
    assert M.SCD(a + b, a, b) == pytest.approx(M.SCD(a + b, b, a), abs=1e-14)


def test_error_metrics_hand_case() -> None:
    m, n = 4, 5
    a, b, f = np.zeros((m, n)), np.full((m, n), 10.0), np.full((m, n), 5.0)
    assert M.MSE(f, a, b) == pytest.approx(25.0)
    assert M.MSE(f, a, b, unit_range=True) == pytest.approx(25.0 / 65025.0)
    assert M.RMSE(f, a, b) == pytest.approx(5.0)
    assert M.PSNR(f, a, b) == pytest.approx(10 * math.log10(65025.0 / 25.0))
    assert M.PSNR(f, a, b, variant="cddfuse") == pytest.approx(0.0, abs=1e-12)  # peak max(F) = 5
    e = math.sqrt(25.0 * m * n) / (m * n)  # VIFB's e = sqrt(sum d^2)/(MN)
    assert M.RMSE(f, a, b, variant="vifb") == pytest.approx(e)
    assert M.PSNR(f, a, b, variant="vifb") == pytest.approx(20 * math.log10(255.0 / math.sqrt(e)))


def test_psnr_identities(small_triplet) -> None:
    f, a, b = small_triplet
    std = M.PSNR(f, a, b)
    # Tang's PSNR = standard + 20 log10(255) = standard + 48.1308 dB.
    assert M.PSNR(f, a, b, variant="tang") - std == pytest.approx(48.1308036087, abs=1e-9)
    assert M.PSNR(f, a, b) == pytest.approx(20 * math.log10(255.0 / M.RMSE(f, a, b)), rel=1e-12)
    g = f.copy()
    g[0, 0] = 255.0  # CDDFuse's peak max(F) equals 255 here
    assert M.PSNR(g, a, b, variant="cddfuse") == pytest.approx(M.PSNR(g, a, b), rel=1e-12)
    assert M.PSNR(a, a, a) == math.inf


# ---------------------------------------------------------------- VIF


def test_vif_identities(small_triplet) -> None:
    f, a, b = small_triplet
    assert M.VIF(a, a, a) == pytest.approx(2.0, abs=1e-6)  # vifp(X, X) = 1 for each source
    assert M.VIF(np.full_like(f, 128.0), a, b) == 0.0  # a flat image carries no information
    assert M.VIF(f, a, b) == pytest.approx(M.VIF(f, b, a), rel=1e-14)
    assert M.VIF(f, a, b, aggregate="mean") == pytest.approx(M.VIF(f, a, b) / 2)


# ---------------------------------------------------------------- Petrović family


def test_qabf_self_fusion_hand_value(small_triplet) -> None:
    a = small_triplet[1]
    # F = A = B: A_AF = 1 and G_AF takes the equal-strength branch (G = g_F), so per pixel
    # Q = 0.9994/(1+exp(-15(g-0.5))) * 0.9879/(1+exp(-22*0.2)) and Qabf = Σ g Q / Σ g.
    sx = ndimage.convolve(a, np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], float), mode="constant")
    sy = ndimage.convolve(a, np.array([[1, 2, 1], [0, 0, 0], [-1, -2, -1]], float), mode="constant")
    g = np.hypot(sx, sy)
    q = 0.9994 / (1 + np.exp(-15 * (g - 0.5))) * 0.9879 / (1 + np.exp(-22 * 0.2))
    assert M.Qabf(a, a, a) == pytest.approx(float((g * q).sum() / g.sum()), rel=1e-12)


def _kumar_loop(f: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Loop transliteration of objective_fusion_perform_fn.m: (NABF modified, NABF1)."""

    def sobel(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p = np.pad(x, 1, mode="reflect")
        gv = np.zeros_like(x)
        gh = np.zeros_like(x)
        kv = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]) / 8
        kh = np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]]) / 8
        for i in range(x.shape[0]):
            for j in range(x.shape[1]):
                gv[i, j] = (p[i : i + 3, j : j + 3] * kv).sum()
                gh[i, j] = (p[i : i + 3, j : j + 3] * kh).sum()
        return gv, gh

    def angle(gv: float, gh: float) -> float:
        if gv == 0 and gh == 0:
            return 0.0
        return math.pi / 2 * math.copysign(1, gv) if gh == 0 else math.atan(gv / gh)

    (va, ha), (vb, hb), (vf, hf) = sobel(a), sobel(b), sobel(f)
    num_mod = num_p = wsum = 0.0
    for i in range(f.shape[0]):
        for j in range(f.shape[1]):
            g = {k: math.hypot(v[i, j], h[i, j]) for k, (v, h) in {"a": (va, ha), "b": (vb, hb), "f": (vf, hf)}.items()}
            al = {k: angle(v[i, j], h[i, j]) for k, (v, h) in {"a": (va, ha), "b": (vb, hb), "f": (vf, hf)}.items()}
            q, w = {}, {}
            for s in "ab":
                gr = 0.0 if g[s] == 0 or g["f"] == 0 else min(g[s], g["f"]) / max(g[s], g["f"])
                ar = abs(abs(al[s] - al["f"]) - math.pi / 2) * 2 / math.pi
                qg = 0.9999 / (1 + math.exp(-19 * (gr - 0.5)))
                qa = 0.9995 / (1 + math.exp(-22 * (ar - 0.5)))
                q[s] = math.sqrt(qg * qa)
                w[s] = g[s] ** 1.5 if g[s] >= 2 else 0.001
            wsum += w["a"] + w["b"]
            if g["f"] > g["a"] and g["f"] > g["b"]:
                num_mod += (1 - q["a"]) * w["a"] + (1 - q["b"]) * w["b"]
                num_p += (2 - q["a"] - q["b"]) * (w["a"] + w["b"])
    return num_mod / wsum, num_p / wsum


def test_nabf_against_loop_transliteration(small_triplet) -> None:
    f, a, b = (v[30:52, 40:70] for v in small_triplet)
    mod, petrovic = _kumar_loop(f, a, b)
    assert M.Nabf(f, a, b) == pytest.approx(mod, rel=1e-12)
    assert M.Nabf_petrovic(f, a, b) == pytest.approx(petrovic, rel=1e-12)
    assert M.Nabf(a, a, a) == 0.0 and M.Nabf_petrovic(a, a, a) == 0.0


# ---------------------------------------------------------------- perceptual


def test_qcb_qcv_self_fusion(small_triplet) -> None:
    f, a, b = small_triplet
    assert M.Qcb(a, a, a) == pytest.approx(1.0, abs=1e-12)
    assert M.Qcv(a, a, a) == 0.0
    assert M.Qcb(f, a, b) == pytest.approx(M.Qcb(f, b, a), rel=1e-12)
    assert M.Qcv(f, a, b) == pytest.approx(M.Qcv(f, b, a), rel=1e-12)
    assert math.isnan(M.Qcb(f, np.full_like(a, 9.0), b))  # normalize1 of a constant: 0/0


# ---------------------------------------------------------------- SSIM family


def test_ssim_wang_equals_scikit_image(small_triplet) -> None:
    from skimage.metrics import structural_similarity

    f, a, b = small_triplet

    def sk(x: np.ndarray, y: np.ndarray, data_range: float) -> float:
        return structural_similarity(
            x, y, data_range=data_range, gaussian_weights=True, sigma=1.5, use_sample_covariance=False
        )

    # skimage crops the 5-pixel border of its map: exactly the 'valid' region of Wang's code.
    assert M.SSIM(f, a, b) == pytest.approx((sk(f, a, 255) + sk(f, b, 255)) / 2, rel=1e-12)
    assert M.SSIM(f, a, b, aggregate="sum") == pytest.approx(sk(f, a, 255) + sk(f, b, 255), rel=1e-12)
    # MATLAB's ssim (replicated borders, full map): its interior is the same map.
    from mmfuse.metrics._ssim import ssim_maps

    _, full = structural_similarity(
        f, a, data_range=1.0, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, full=True
    )
    mine, _ = ssim_maps(f, a, variant="matlab", dynamic_range=1.0)
    # With L = 1, C2 = 9e-4 while the moments are ~1e4: in flat patches the map is a ratio of
    # differences of large numbers, whose rounding (~1e-12) is amplified to ~1e-9.
    np.testing.assert_allclose(mine[5:-5, 5:-5], full[5:-5, 5:-5], rtol=0, atol=1e-8)
    assert mine[5:-5, 5:-5].mean() == pytest.approx(full[5:-5, 5:-5].mean(), rel=1e-10)
    assert M.SSIM(a, a, a) == pytest.approx(1.0) and M.SSIM(a, a, a, variant="matlab") == pytest.approx(1.0)


def test_ms_ssim_offset_closed_form() -> None:
    """For F = A + c (and B = A) every contrast-structure term is 1, so
    MS-SSIM = mean(l_5)^0.1333 with l_5 the luminance map at the 5th scale."""
    from scipy.signal import convolve2d
    from skimage.measure import block_reduce

    rng = np.random.default_rng(0)
    a = ndimage.gaussian_filter(rng.uniform(0, 200, (256, 256)), 2.0)
    f = a + 20.0
    x, y = a, f
    for _ in range(4):  # 2x2 means on even sizes = the reference downsampling
        x, y = block_reduce(x, (2, 2), np.mean), block_reduce(y, (2, 2), np.mean)
    t = np.arange(-5, 6)
    g = np.exp(-(t**2) / (2 * 1.5**2))
    w = np.outer(g, g) / np.outer(g, g).sum()
    mx, my = convolve2d(x, w, mode="valid"), convolve2d(y, w, mode="valid")
    c1 = (0.01 * 255) ** 2
    lum = ((2 * mx * my + c1) / (mx**2 + my**2 + c1)).mean()
    assert M.MS_SSIM(f, a, a) == pytest.approx(lum**0.1333, rel=1e-9)
    assert M.MS_SSIM(a, a, a) == pytest.approx(1.0, abs=1e-12)


def test_mef_ssim_self_and_symmetry(small_triplet) -> None:
    f, a, b = small_triplet
    # Identical sources fused into themselves: the desired structure is the patch itself
    # (rescaled by (||x - μ|| + 0.001)/||x - μ||), so the score is 1 up to that 0.001.
    assert M.MEF_SSIM(a, a, a) == pytest.approx(1.0, abs=1e-6)
    assert M.MEF_SSIM(f, a, b) == pytest.approx(M.MEF_SSIM(f, b, a), rel=1e-12)
    assert 0.0 < M.MEF_SSIM(f, a, b) < 1.0


# ---------------------------------------------------------------- symmetry, scaling, errors

TWO_SOURCE = [n for n in M.METRICS if n not in M.NO_REFERENCE_METRICS and not n.startswith("FMI")]


@pytest.mark.parametrize("name", TWO_SOURCE)
def test_symmetric_in_the_sources(name: str, small_triplet) -> None:
    f, a, b = small_triplet
    fn = M.METRIC_FUNCTIONS[name]
    kwargs = {"variant": "tang"} if name == "MI" else {}
    assert fn(f, a, b, **kwargs) == pytest.approx(fn(f, b, a, **kwargs), rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("name", [n for n in M.METRICS if not n.startswith("FMI")])
def test_data_range_means_the_same_image(name: str, small_triplet) -> None:
    """[0, 1] floats with data_range=1 give the 0-255 result."""
    f, a, b = small_triplet
    fn = M.METRIC_FUNCTIONS[name]
    args255 = (f,) if name in M.NO_REFERENCE_METRICS else (f, a, b)
    args1 = tuple(v / 255.0 for v in args255)
    assert fn(*args1, data_range=1.0) == pytest.approx(fn(*args255), rel=1e-9, abs=1e-12)


def test_bad_inputs_raise_one_line_errors(small_triplet) -> None:
    from mmfuse.errors import InputError, ShapeError

    f, a, b = small_triplet
    with pytest.raises(ShapeError, match="single-channel"):
        M.EN(np.zeros((4, 4, 3)))
    with pytest.raises(ShapeError, match="shape"):
        M.CC(f, a[:-1], b)
    bad = f.copy()
    bad[0, 0] = np.nan
    with pytest.raises(InputError, match="NaN"):
        M.SD(bad)
    with pytest.raises(ShapeError, match="176x176"):
        M.MS_SSIM(f[:100], a[:100], b[:100])
    with pytest.raises(InputError, match="unknown PSNR variant"):
        M.PSNR(f, a, b, variant="nope")  # type: ignore[arg-type]
