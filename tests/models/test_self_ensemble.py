"""Self-ensemble of learned methods (``TorchFusionMethod(self_ensemble=...)``, ``load(...,
self_ensemble=...)``, ``mmfuse fuse --self-ensemble``)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from mmfuse.errors import InputError
from mmfuse.models import registry
from mmfuse.models.base import TorchFusionMethod


class Skewed(torch.nn.Module):
    """A fusion network that is not mirror-symmetric: an asymmetric 3x3 kernel and a ramp that
    depends on the row and column index, so a copy that is not mirrored back shows."""

    size_multiple = 1
    vis_mode = "y"

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(2, 1, 3, padding=1, bias=False)
        with torch.no_grad():
            self.conv.weight.copy_(torch.arange(18, dtype=torch.float32).reshape(1, 2, 3, 3) / 40)

    def forward(self, ir: torch.Tensor, vis: torch.Tensor) -> dict:
        h, w = ir.shape[-2:]
        ramp = torch.linspace(0, 0.2, w)[None, None, None, :] + torch.linspace(0, 0.1, h)[None, None, :, None]
        return {"fused": torch.sigmoid(self.conv(torch.cat([ir, vis], 1)) - 1) + ramp}

    def describe(self, outputs: dict) -> dict:
        return {"mean": float(outputs["fused"].mean())}


def _by_hand(net: torch.nn.Module, ir: np.ndarray, vis: np.ndarray, flips: list[tuple[int, ...]]) -> np.ndarray:
    a, b = torch.from_numpy(ir)[None, None], torch.from_numpy(vis)[None, None]
    outs = []
    with torch.no_grad():
        for d in flips:
            f = net(a.flip(d), b.flip(d))["fused"] if d else net(a, b)["fused"]
            outs.append(f.flip(d) if d else f)
    return torch.stack(outs).mean(0)[0, 0].clamp(0, 1).numpy()


@pytest.mark.parametrize("n, flips", [(1, [()]), (2, [(), (-1,)]), (4, [(), (-1,), (-2,), (-2, -1)])])
def test_self_ensemble_averages_the_mirrored_copies_mirrored_back(n, flips):
    rng = np.random.default_rng(0)
    ir, vis = rng.random((2, 13, 17), dtype=np.float32)
    net = Skewed()
    fused, info = TorchFusionMethod(net, self_ensemble=n).fuse(ir, vis, return_info=True)
    np.testing.assert_allclose(fused, _by_hand(net, ir, vis, flips), atol=1e-6)
    # the report is the unmirrored pass's; the number of copies is named when > 1
    assert info["mean"] == pytest.approx(_by_hand_mean(net, ir, vis))
    assert info.get("self_ensemble") == (n if n > 1 else None)
    if n > 1:  # the copies differ for this network: the ensemble is not the plain pass
        assert np.abs(fused - _by_hand(net, ir, vis, [()])).max() > 1e-3


def _by_hand_mean(net: torch.nn.Module, ir: np.ndarray, vis: np.ndarray) -> float:
    with torch.no_grad():
        return float(net(torch.from_numpy(ir)[None, None], torch.from_numpy(vis)[None, None])["fused"].mean())


@pytest.mark.parametrize("bad", [0, 3, 8, -1])
def test_self_ensemble_rejects_other_counts(bad):
    with pytest.raises(InputError, match="self-ensemble must be one of"):
        TorchFusionMethod(Skewed(), self_ensemble=bad)


def test_load_self_ensemble_default_override_and_classical():
    spec = registry.get_spec("tgecnet-small")
    method = registry.load("tgecnet-small")
    assert method.self_ensemble == spec.self_ensemble
    assert registry.load("tgecnet-small", self_ensemble=1).self_ensemble == 1
    assert registry.load("moefusion-small", self_ensemble=2).self_ensemble == 2
    import mmfuse

    assert mmfuse.load("moefusion-small", self_ensemble=4).self_ensemble == 4  # the top-level API passes it on
    assert mmfuse.load("moefusion-small").self_ensemble == 1
    with pytest.raises(InputError, match="gff: is a classical method and has no self-ensemble"):
        registry.load("gff", self_ensemble=2)
