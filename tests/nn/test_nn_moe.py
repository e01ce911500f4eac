"""Tests of the mixture-of-experts layer (Shazeer et al. 2017) and its gating."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from mmfuse.errors import InputError, ShapeError
from mmfuse.nn import MoE, Mlp, NoisyTopKGate, cv_squared, load_balancing_loss, noisy_top_k_gating
from mmfuse.nn.moe import combine_expert_outputs, prob_in_top_k


def test_cv_squared_values() -> None:
    assert cv_squared(torch.tensor([1.0, 3.0])) == pytest.approx(0.5)  # unbiased var 2 / mean^2 4
    assert cv_squared(torch.tensor([2.0, 2.0, 2.0])) == 0.0
    assert cv_squared(torch.tensor([5.0])) == 0.0


def test_load_balancing_loss_zero_iff_uniform() -> None:
    assert load_balancing_loss(torch.full((4,), 3.0), torch.full((4,), 7.0)) == 0.0
    assert load_balancing_loss(torch.tensor([4.0, 0.0]), torch.tensor([1.0, 1.0])) > 0.0


def test_top_k_keeps_exactly_k_largest_and_normalises() -> None:
    logits = torch.randn(50, 7)
    out = noisy_top_k_gating(logits, 3)
    assert torch.equal((out.gates > 0).sum(1), torch.full((50,), 3))
    assert torch.allclose(out.gates.sum(1), torch.ones(50))
    expected_idx = logits.topk(3, dim=1).indices
    assert torch.equal(out.top_indices, expected_idx)
    assert torch.allclose(out.top_gates, torch.softmax(logits.gather(1, expected_idx), dim=1))
    assert torch.equal(out.load, (out.gates > 0).sum(0).float())  # no noise: hard count
    assert torch.allclose(out.importance, out.gates.sum(0))
    with pytest.raises(InputError, match="k must be"):
        noisy_top_k_gating(logits, 8)


def test_k_equal_n_gives_dense_softmax() -> None:
    logits = torch.randn(10, 4)
    out = noisy_top_k_gating(logits, 4)
    assert torch.allclose(out.gates, torch.softmax(logits, dim=1), atol=1e-6)


def test_prob_in_top_k_matches_monte_carlo() -> None:
    # Shazeer's estimate: P(expert i stays in the top k when only its own noise is re-drawn)
    torch.manual_seed(1)
    clean = torch.tensor([[0.3, -0.2, 0.1, 0.5, -1.0]])
    std = torch.tensor([[0.7, 0.4, 1.0, 0.3, 0.9]])
    noisy = clean + torch.randn_like(clean) * std
    k = 2
    p = prob_in_top_k(clean, noisy, std, k)[0]
    n = 20000
    for i in range(5):
        samples = noisy.repeat(n, 1)
        samples[:, i] = clean[0, i] + torch.randn(n) * std[0, i]
        in_top = (samples.topk(k, dim=1).indices == i).any(dim=1).float().mean()
        assert abs(float(in_top) - float(p[i])) < 0.015, i


def dense_reference(moe: MoE, tokens: torch.Tensor, combine: str) -> torch.Tensor:
    gate = moe.routers[0]
    g = torch.softmax(tokens @ gate.w_gate, dim=1)  # k = N, no noise
    outs = torch.stack([e(tokens) for e in moe.experts], dim=1)  # (T, N, C)
    if combine == "linear":
        return (g[..., None] * outs).sum(1)
    return torch.log((g[..., None] * outs.exp()).sum(1))


@pytest.mark.parametrize("combine", ["linear", "logspace"])
def test_k_equal_n_reduces_to_dense_mixture(combine: str) -> None:
    moe = MoE(lambda i: Mlp(6, 12), k=4, num_experts=4, gate_dim=6, combine=combine, gate_init="normal").eval()
    x = torch.randn(3, 5, 6)  # (B, L, C) tokens
    out = moe(x)
    ref = dense_reference(moe, x.reshape(-1, 6), combine).reshape(3, 5, 6)
    assert torch.allclose(out.output, ref, atol=1e-5)


def test_sparse_output_matches_hand_mixture_and_each_unit_runs_k_experts() -> None:
    calls = []
    experts = [nn.Linear(4, 3) for _ in range(5)]
    for e in experts:
        e.register_forward_hook(lambda m, inp, out: calls.append(inp[0].shape[0]))
    moe = MoE(experts, k=2, gate_dim=4, gate_init="normal").eval()
    x = torch.randn(2, 4, 3, 2)  # feature map, tokens = pixels
    out = moe(x)
    assert out.output.shape == (2, 3, 3, 2)
    assert sum(calls) == 2 * 3 * 2 * 2  # T tokens x k experts
    tokens = x.permute(0, 2, 3, 1).reshape(-1, 4)
    logits = tokens @ moe.routers[0].w_gate
    top = logits.topk(2, dim=1)
    g = torch.softmax(top.values, dim=1)
    ref = torch.stack([
        sum(g[t, j] * experts[int(top.indices[t, j])](tokens[t]) for j in range(2)) for t in range(tokens.shape[0])
    ])
    assert torch.allclose(out.output.permute(0, 2, 3, 1).reshape(-1, 3), ref, atol=1e-5)
    assert torch.equal((out.gates > 0).sum(1), torch.full((tokens.shape[0],), 2))


def test_uniform_routing_gives_zero_loss() -> None:
    moe = MoE([nn.Linear(1, 1), nn.Linear(1, 1)], k=1, gate_dim=1, noisy=False).eval()
    with torch.no_grad():
        moe.routers[0].w_gate.copy_(torch.tensor([[1.0, -1.0]]))
    x = torch.tensor([1.0, -1.0, 2.0, -2.0]).reshape(4, 1)  # half the tokens to each expert, gate 1
    out = moe(x)
    assert torch.equal(out.importance, torch.tensor([2.0, 2.0]))
    assert torch.equal(out.load, torch.tensor([2.0, 2.0]))
    assert out.loss == 0.0
    x_skew = torch.tensor([1.0, 1.0, 2.0, -2.0]).reshape(4, 1)
    assert moe(x_skew).loss > 0.1


def test_training_noise_smooth_load_and_all_gradients(grads) -> None:
    moe = MoE(lambda i: Mlp(8, 16), k=2, num_experts=3, gate_dim=8, combine="logspace").train()
    x = torch.randn(2, 8, 6, 5)
    out = moe(x)
    assert out.output.shape == x.shape and torch.isfinite(out.output).all()
    assert not torch.equal(out.load, out.load.round())  # smooth (differentiable) estimate
    assert out.load.requires_grad
    assert (out.gates > 0).any(0).all()  # every expert used, so every parameter must get a gradient
    grads(moe, out.output.square().mean() + out.loss)


def test_eval_is_deterministic_and_training_noise_uses_generator() -> None:
    moe = MoE(lambda i: Mlp(4, 8), k=1, num_experts=4, gate_dim=4)
    x = torch.randn(20, 4)
    moe.eval()
    assert torch.equal(moe(x).gates, moe(x).gates)
    moe.train()
    with torch.no_grad():  # non-zero logits spread, so the noise changes the routing
        moe.routers[0].w_noise.fill_(1.0)
    a = moe(x, generator=torch.Generator().manual_seed(3)).gates
    b = moe(x, generator=torch.Generator().manual_seed(3)).gates
    c = moe(x, generator=torch.Generator().manual_seed(4)).gates
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_external_per_image_gate_input_routes_all_tokens_of_an_image_alike() -> None:
    moe = MoE(lambda i: Mlp(6, 8), k=2, num_experts=5, gate_dim=3, gate_init="normal").eval()
    x = torch.randn(2, 6, 4, 4)
    prompt = torch.randn(2, 3)  # e.g. a degradation prompt per image
    gates = moe(x, gate_input=prompt).gates.reshape(2, 16, 5)
    assert torch.allclose(gates, gates[:, :1].expand_as(gates))
    assert not torch.allclose(gates[0, 0], gates[1, 0])


def test_tg_ecnet_style_gate_on_token_and_prompt(grads) -> None:
    c = 8
    proj = nn.Linear(16, c)  # TaskMoE's per-level projection of the 16-d prompt
    moe = MoE(lambda i: Mlp(c, 2 * c), k=3, num_experts=5, gate_dim=2 * c, gate_with_input=True,
              combine="logspace", gate_init="normal", noise_epsilon=1e-2).train()
    x = torch.randn(2, c, 5, 3)
    out = moe(x, gate_input=proj(torch.randn(2, 16)))
    y = x + out.output  # TaskMoE residual
    assert y.shape == x.shape
    loss = y.square().mean() + 0.1 * out.loss
    loss.backward()
    assert proj.weight.grad is not None and proj.weight.grad.abs().sum() > 0
    with pytest.raises(ShapeError, match="gate_dim"):
        moe(x, gate_input=torch.randn(2, 4))


def test_per_token_gate_input_layout() -> None:
    moe = MoE(lambda i: nn.Linear(4, 4), k=1, num_experts=2, gate_dim=3, gate_init="normal").eval()
    x = torch.randn(2, 4, 3, 3)
    g = torch.randn(2, 3, 3, 3)
    out = moe(x, gate_input=g)
    ref = (g.permute(0, 2, 3, 1).reshape(-1, 3) @ moe.routers[0].w_gate).argmax(1)
    assert torch.equal(out.gates.argmax(1), ref)
    with pytest.raises(ShapeError, match="does not match"):
        moe(x, gate_input=torch.randn(2, 3, 2, 3))


def test_image_granularity_with_conv_experts_and_flattened_gate(grads) -> None:
    experts = [nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 1, 3, padding=1)) for _ in range(4)]
    moe = MoE(experts, k=2, gate_dim=4 * 6 * 6, granularity="image", noise_epsilon=1e-2).train()
    x = torch.randn(8, 4, 6, 6)
    out = moe(x)
    assert out.output.shape == (8, 1, 6, 6)
    assert out.gates.shape == (8, 4)
    assert torch.equal((out.gates > 0).sum(1), torch.full((8,), 2))
    # MoE-Fusion's gate sees down-sampled features: any (B, ...) gate input is flattened
    small = torch.nn.functional.interpolate(x, scale_factor=0.5)
    moe2 = MoE(experts, k=2, gate_dim=4 * 3 * 3, granularity="image").eval()
    assert moe2(x, gate_input=small).output.shape == (8, 1, 6, 6)


def test_shared_experts_with_several_routers() -> None:
    moe = MoE(lambda i: nn.Linear(4, 4), k=1, num_experts=3, gate_dim=4, num_routers=3, gate_init="normal").eval()
    x = torch.randn(30, 4)
    assert len(moe.experts) == 3 and len(moe.routers) == 3
    assert not torch.equal(moe(x, router=0).gates, moe(x, router=2).gates)
    with pytest.raises(InputError, match="router 3"):
        moe(x, router=3)


def test_expert_without_tokens_is_skipped() -> None:
    moe = MoE(lambda i: nn.Linear(2, 2), k=1, num_experts=3, gate_dim=2, noisy=False).eval()
    with torch.no_grad():
        moe.routers[0].w_gate.copy_(torch.tensor([[5.0, 0.0, -5.0], [0.0, 0.0, 0.0]]))
    out = moe(torch.ones(4, 2))
    assert torch.equal(out.load, torch.tensor([4.0, 0.0, 0.0]))
    assert out.loss > 0


def test_constructor_errors() -> None:
    with pytest.raises(InputError, match="num_experts is required"):
        MoE(lambda i: nn.Linear(2, 2), k=1, gate_dim=2)
    with pytest.raises(InputError, match="k must be"):
        NoisyTopKGate(4, 3, 4)
    with pytest.raises(InputError, match="combine"):
        MoE([nn.Linear(2, 2)], k=1, gate_dim=2, combine="max")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="combine"):
        combine_expert_outputs(torch.zeros(1, 1, 1), torch.ones(1, 1), "max")  # type: ignore[arg-type]
    with pytest.raises(ShapeError, match="token input"):
        MoE([nn.Linear(2, 2)], k=1, gate_dim=2)(torch.zeros(2, 2, 2, 2, 2))


@pytest.mark.parametrize("granularity", ["token", "image"])
@pytest.mark.parametrize("combine", ["linear", "logspace"])
def test_dense_dispatch_equals_sparse(granularity: str, combine: str) -> None:
    """Dense dispatch (for ``linear``: weighted experts accumulated one by one; for ``logspace``:
    stacked outputs + top-k gather) gives the sparse mixture and its gradients."""
    if granularity == "token":
        def make(i: int) -> nn.Module:
            return Mlp(4, 8)
        x = torch.randn(2, 4, 5, 3)
        gate_dim = 4
    else:
        def make(i: int) -> nn.Module:
            return nn.Conv2d(4, 2, 3, padding=1)
        x = torch.randn(6, 4, 5, 3)
        gate_dim = 4 * 5 * 3
    sparse = MoE(make, k=2, num_experts=4, gate_dim=gate_dim, granularity=granularity, combine=combine,
                 gate_init="normal").train()
    dense = MoE(make, k=2, num_experts=4, gate_dim=gate_dim, granularity=granularity, combine=combine,
                gate_init="normal", dispatch="dense").train()
    dense.load_state_dict(sparse.state_dict())
    a = sparse(x, generator=torch.Generator().manual_seed(5))
    b = dense(x, generator=torch.Generator().manual_seed(5))
    assert torch.allclose(a.output, b.output, atol=1e-6) and torch.equal(a.gates, b.gates)
    (a.output.square().mean() + a.loss).backward()
    (b.output.square().mean() + b.loss).backward()
    for (name, p), q in zip(sparse.named_parameters(), dense.parameters()):
        ga = p.grad if p.grad is not None else torch.zeros_like(p)
        gb = q.grad if q.grad is not None else torch.zeros_like(q)
        assert torch.allclose(ga, gb, atol=1e-6), name
    with pytest.raises(InputError, match="dispatch"):
        MoE(make, k=1, num_experts=2, gate_dim=gate_dim, dispatch="all")  # type: ignore[arg-type]
