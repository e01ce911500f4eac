"""Sparsely-gated mixture of experts with noisy top-k gating and load balancing.

Shazeer, Mirhoseini, Maziarz, Davis, Le, Hinton, Dean, "Outrageously Large Neural Networks: The
Sparsely-Gated Mixture-of-Experts Layer", ICLR 2017 (arXiv:1701.06538), Sec. 2.1 and App. A.
Used by TG-ECNet (TaskMoE: per-pixel tokens gated on ``[token ; projected degradation
prompt]``, 6 of 11 MLP experts, log-space combine), MoE-Fusion (MoLE/MoGE: per-image gating on
flattened features, 2 of 4 conv experts) and TC-MoA (per-token, task-specific routers over 4
shared adapters, top-2).

Functional core:

* :func:`noisy_top_k_gating`: ``H = x W_g + eps * (softplus(x W_noise) + eps0)`` (noise in
  training only), keep the top ``k`` logits, softmax over them; importance ``sum gates`` and load
  (the smooth estimate :func:`prob_in_top_k` when noisy and ``k < N``, otherwise the count of
  units per expert).
* :func:`cv_squared` (``Var / (Mean^2 + 1e-10)``, unbiased variance as the reference code) and
  :func:`load_balancing_loss` ``= cv^2(importance) + cv^2(load)``.
* :func:`combine_expert_outputs`: ``sum_i g_i E_i(x)`` (``"linear"``, paper eq.) or
  ``log sum_i g_i exp(E_i(x))`` (``"logspace"``, the reference dispatcher used by the TG-ECNet,
  MoE-Fusion and TC-MoA code), evaluated stably as a log-sum-exp.

Modules: :class:`NoisyTopKGate` and :class:`MoE` (experts given as modules or as a factory;
gating per token or per image; the gate input can come from outside, e.g. a degradation prompt,
optionally concatenated to the token features; several routers sharing one set of experts).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from mmfuse.errors import InputError, ShapeError

__all__ = [
    "GateOutput",
    "MoEOutput",
    "cv_squared",
    "load_balancing_loss",
    "prob_in_top_k",
    "noisy_top_k_gating",
    "combine_expert_outputs",
    "NoisyTopKGate",
    "MoE",
]

Combine = Literal["linear", "logspace"]
Granularity = Literal["token", "image"]


@dataclass
class GateOutput:
    """Result of noisy top-k gating over ``T`` routing units and ``N`` experts.

    Attributes:
        gates: ``(T, N)`` gate weights; exactly ``k`` non-zero entries per row, summing to 1.
        top_indices: ``(T, k)`` selected experts, by decreasing logit.
        top_gates: ``(T, k)`` their weights.
        importance: ``(N,)`` sum of the gates over the units.
        load: ``(N,)`` (smooth estimate of the) number of units routed to each expert.
        logits: ``(T, N)`` logits used for the selection (noisy in training).
    """

    gates: torch.Tensor
    top_indices: torch.Tensor
    top_gates: torch.Tensor
    importance: torch.Tensor
    load: torch.Tensor
    logits: torch.Tensor


@dataclass
class MoEOutput:
    """Result of :class:`MoE`.

    Attributes:
        output: expert mixture, same layout as the input (channels/features may differ).
        loss: scalar ``cv^2(importance) + cv^2(load)`` (un-weighted; the weight comes from the
            config, e.g. 0.1 in TG-ECNet, 1e-2 in MoE-Fusion, 1e-3 in TC-MoA).
        importance: ``(N,)``.
        load: ``(N,)``.
        gates: ``(T, N)`` per routing unit (``T = B*H*W`` or ``B*N`` tokens, or ``B`` images).
    """

    output: torch.Tensor
    loss: torch.Tensor
    importance: torch.Tensor
    load: torch.Tensor
    gates: torch.Tensor


def cv_squared(x: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    """Squared coefficient of variation ``Var(x) / (Mean(x)^2 + eps)`` of a 1-D tensor.

    The variance is the unbiased one (``torch.var``), as in Shazeer's reference code; a tensor
    with a single element gives 0.

    Args:
        x: ``(N,)``.
        eps: stabiliser.

    Returns:
        scalar tensor.
    """
    if x.numel() <= 1:
        return x.new_zeros(())
    x = x.float()
    return x.var() / (x.mean() ** 2 + eps)


def load_balancing_loss(importance: torch.Tensor, load: torch.Tensor) -> torch.Tensor:
    """Shazeer's auxiliary loss ``cv^2(importance) + cv^2(load)`` (App. A, without the weight).

    It is 0 for perfectly uniform routing.

    Args:
        importance: ``(N,)`` sum of gates per expert.
        load: ``(N,)`` units per expert (or its smooth estimate).

    Returns:
        scalar tensor.
    """
    return cv_squared(importance) + cv_squared(load)


def prob_in_top_k(
    clean_logits: torch.Tensor, noisy_logits: torch.Tensor, noise_std: torch.Tensor, k: int
) -> torch.Tensor:
    """Probability that each expert is in the top ``k`` under re-sampled noise (Shazeer App. A).

    For expert ``i`` the threshold is the ``k``-th largest noisy logit of the *other* experts:
    the ``(k+1)``-th largest noisy logit if ``i`` is currently in the top ``k``, else the
    ``k``-th. ``P = Phi((clean_i - threshold) / std_i)``.

    Args:
        clean_logits: ``(T, N)``.
        noisy_logits: ``(T, N)``.
        noise_std: ``(T, N)`` positive.
        k: top-k, ``k < N``.

    Returns:
        ``(T, N)`` probabilities; their sum over units is the smooth load.
    """
    top = noisy_logits.topk(k + 1, dim=-1).values
    threshold_if_in = top[:, k : k + 1]
    threshold_if_out = top[:, k - 1 : k]
    is_in = noisy_logits > threshold_if_in
    normal = torch.distributions.Normal(
        torch.zeros((), device=clean_logits.device, dtype=clean_logits.dtype),
        torch.ones((), device=clean_logits.device, dtype=clean_logits.dtype),
    )
    prob_if_in = normal.cdf((clean_logits - threshold_if_in) / noise_std)
    prob_if_out = normal.cdf((clean_logits - threshold_if_out) / noise_std)
    return torch.where(is_in, prob_if_in, prob_if_out)


def noisy_top_k_gating(
    clean_logits: torch.Tensor,
    k: int,
    noise_std: torch.Tensor | None = None,
    noise: torch.Tensor | None = None,
) -> GateOutput:
    """Noisy top-k softmax gating (Shazeer eqs. 3-5) with importance and load.

    Args:
        clean_logits: ``(T, N)`` gate logits ``x W_g``.
        k: experts kept per unit, ``1 <= k <= N``.
        noise_std: ``(T, N)`` noise scale (``softplus(x W_noise) + eps0``), or ``None`` for no
            noise (evaluation).
        noise: ``(T, N)`` standard normal sample; drawn with ``torch.randn_like`` when omitted.

    Returns:
        :class:`GateOutput`.

    Raises:
        InputError: if ``k`` is out of range.
    """
    if clean_logits.ndim != 2:
        raise ShapeError(f"noisy_top_k_gating: logits must have shape (T, N), got {tuple(clean_logits.shape)}")
    n = clean_logits.shape[1]
    if not 1 <= k <= n:
        raise InputError(f"noisy_top_k_gating: k must be in [1, {n}], got {k}")
    if noise_std is not None:
        if noise is None:
            noise = torch.randn_like(clean_logits)
        logits = clean_logits + noise * noise_std
    else:
        logits = clean_logits
    top_values, top_indices = logits.topk(min(k + 1, n), dim=-1)
    top_k_indices = top_indices[:, :k]
    top_k_gates = torch.softmax(top_values[:, :k], dim=-1)
    gates = torch.zeros_like(logits).scatter(1, top_k_indices, top_k_gates)
    importance = gates.sum(0)
    if noise_std is not None and k < n:
        load = prob_in_top_k(clean_logits, logits, noise_std, k).sum(0)
    else:
        load = (gates > 0).sum(0).to(gates.dtype)
    return GateOutput(gates, top_k_indices, top_k_gates, importance, load, logits)


def combine_expert_outputs(
    expert_outputs: torch.Tensor, top_gates: torch.Tensor, combine: Combine = "linear"
) -> torch.Tensor:
    """Mix the outputs of the selected experts of every routing unit.

    Args:
        expert_outputs: ``(T, k, *F)`` output of the ``j``-th selected expert of unit ``t``.
        top_gates: ``(T, k)`` gate weights.
        combine: ``"linear"``: ``sum_j g_j y_j``; ``"logspace"``: ``log sum_j g_j exp(y_j)``,
            computed as ``logsumexp(y_j + log g_j)`` (gates are clamped to the smallest normal
            float before the log, as the reference code replaces exact zeros by ``eps``).

    Returns:
        ``(T, *F)``.
    """
    g = top_gates.reshape(top_gates.shape + (1,) * (expert_outputs.ndim - 2)).to(expert_outputs.dtype)
    if combine == "linear":
        return (g * expert_outputs).sum(1)
    if combine == "logspace":
        tiny = torch.finfo(expert_outputs.dtype).tiny
        return torch.logsumexp(expert_outputs + torch.log(g.clamp_min(tiny)), dim=1)
    raise InputError(f"MoE combine {combine!r} is unknown; valid: 'linear', 'logspace'")


class NoisyTopKGate(nn.Module):
    """Noisy top-k router: ``H = x W_g + N(0, 1) * (softplus(x W_noise) + noise_epsilon)``.

    Noise is added only in training mode and only if ``noisy``.

    Args:
        in_features: size ``D`` of the gate input.
        num_experts: ``N``.
        k: experts per unit.
        noisy: add the learned noise in training.
        noise_epsilon: ``eps0`` added to the noise scale (TG-ECNet and MoE-Fusion ``1e-2``,
            TC-MoA ``1e-1``).
        init: ``"zeros"`` (Shazeer, MoE-Fusion, TC-MoA) or ``"normal"`` (standard normal
            ``W_g``, TG-ECNet's TaskMoE). ``W_noise`` always starts at zero.

    Shape:
        ``(T, D)`` -> :class:`GateOutput` with ``(T, N)`` gates.
    """

    def __init__(
        self,
        in_features: int,
        num_experts: int,
        k: int,
        noisy: bool = True,
        noise_epsilon: float = 1e-2,
        init: Literal["zeros", "normal"] = "zeros",
    ) -> None:
        super().__init__()
        if not 1 <= k <= num_experts:
            raise InputError(f"NoisyTopKGate: k must be in [1, num_experts={num_experts}], got {k}")
        if init not in ("zeros", "normal"):
            raise InputError(f"NoisyTopKGate: init {init!r} is unknown; valid: 'zeros', 'normal'")
        self.in_features, self.num_experts, self.k = in_features, num_experts, k
        self.noisy, self.noise_epsilon = noisy, noise_epsilon
        w = torch.randn(in_features, num_experts) if init == "normal" else torch.zeros(in_features, num_experts)
        self.w_gate = nn.Parameter(w)
        self.w_noise = nn.Parameter(torch.zeros(in_features, num_experts)) if noisy else None

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> GateOutput:
        if x.ndim != 2 or x.shape[1] != self.in_features:
            raise ShapeError(f"NoisyTopKGate: gate input must have shape (T, {self.in_features}), got {tuple(x.shape)}")
        clean = x @ self.w_gate
        if self.training and self.w_noise is not None:
            std = F.softplus(x @ self.w_noise) + self.noise_epsilon
            noise = torch.randn(clean.shape, generator=generator, device=clean.device, dtype=clean.dtype)
            return noisy_top_k_gating(clean, self.k, std, noise)
        return noisy_top_k_gating(clean, self.k)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, num_experts={self.num_experts}, k={self.k}, noisy={self.noisy}"


class MoE(nn.Module):
    """Mixture-of-experts layer with noisy top-k gating (Shazeer et al., ICLR 2017).

    Routing units:

    * ``granularity="token"``: every token is routed on its own. ``x`` is a feature map
      ``(B, C, H, W)`` (tokens = pixels, as TG-ECNet's TaskMoE), a token tensor ``(B, L, C)``
      (TC-MoA) or a flat ``(T, C)``. Experts map ``(n, C) -> (n, C_out)`` (e.g.
      :class:`mmfuse.nn.vit.Mlp`, :class:`mmfuse.nn.adapter.BottleneckAdapter`). The output has
      the input layout with ``C_out`` channels.
    * ``granularity="image"``: every sample is routed as a whole (MoE-Fusion's MoLE/MoGE).
      Experts map ``(n, *S) -> (n, *S_out)`` (e.g. small conv nets) and see the whole sample.

    Gate input: by default the gate sees the unit itself (the token vector, or the flattened
    sample). ``gate_input`` replaces it: for tokens, ``(B, D)`` per sample (broadcast to that
    sample's tokens) or per token in the layout of ``x`` (``(B, D, H, W)`` / ``(B, L, D)`` /
    ``(T, D)``); for images, any ``(B, ...)`` tensor, flattened per sample (e.g. MoE-Fusion's
    down-sampled features).
    With ``gate_with_input=True`` the gate sees ``[unit ; gate_input]`` (TG-ECNet: token
    features concatenated with the projected degradation prompt, ``gate_dim = 2C``).

    Args:
        experts: a sequence of ``N`` modules, or a factory ``f(i) -> module`` together with
            ``num_experts``.
        k: experts used per unit.
        gate_dim: size ``D`` of the vector the gate sees (after any concatenation).
        num_experts: ``N`` when ``experts`` is a factory.
        granularity: ``"token"`` or ``"image"``.
        combine: ``"linear"`` (papers' equations) or ``"logspace"`` (reference code).
        noisy: learned gating noise in training.
        noise_epsilon: minimum noise scale.
        gate_init: ``"zeros"`` or ``"normal"`` initial ``W_g``.
        num_routers: routers sharing the experts (TC-MoA's task-specific routers); pick one
            with ``forward(..., router=i)``.
        gate_with_input: concatenate the unit to the external ``gate_input``.
        dispatch: ``"sparse"`` runs each expert on the units routed to it only; ``"dense"``
            runs every expert on every unit and keeps the selected outputs. Both give the same
            mixture (the gradients of unselected outputs are zero); dense avoids gathers and
            scatters and is faster on a CPU for small widths, sparse wins when ``k << N`` or
            the experts are large.

    Shape:
        token: ``(B, C, H, W)`` / ``(B, L, C)`` / ``(T, C)`` -> same layout with ``C_out``.
        image: ``(B, *S)`` -> ``(B, *S_out)``.
        Returns :class:`MoEOutput` with ``(T, N)`` gates.
    """

    def __init__(
        self,
        experts: Sequence[nn.Module] | Callable[[int], nn.Module],
        k: int,
        gate_dim: int,
        num_experts: int | None = None,
        granularity: Granularity = "token",
        combine: Combine = "linear",
        noisy: bool = True,
        noise_epsilon: float = 1e-2,
        gate_init: Literal["zeros", "normal"] = "zeros",
        num_routers: int = 1,
        gate_with_input: bool = False,
        dispatch: Literal["sparse", "dense"] = "sparse",
    ) -> None:
        super().__init__()
        if callable(experts) and not isinstance(experts, nn.Module) and not isinstance(experts, Sequence):
            if num_experts is None:
                raise InputError("MoE: num_experts is required when experts is a factory")
            expert_list = [experts(i) for i in range(num_experts)]
        else:
            expert_list = list(experts)  # type: ignore[arg-type]
            if num_experts is not None and num_experts != len(expert_list):
                raise InputError(f"MoE: num_experts={num_experts} but {len(expert_list)} experts were given")
        if not expert_list:
            raise InputError("MoE: at least one expert is required")
        if granularity not in ("token", "image"):
            raise InputError(f"MoE: granularity {granularity!r} is unknown; valid: 'token', 'image'")
        if combine not in ("linear", "logspace"):
            raise InputError(f"MoE: combine {combine!r} is unknown; valid: 'linear', 'logspace'")
        if num_routers < 1:
            raise InputError(f"MoE: num_routers must be >= 1, got {num_routers}")
        if dispatch not in ("sparse", "dense"):
            raise InputError(f"MoE: dispatch {dispatch!r} is unknown; valid: 'sparse', 'dense'")
        self.dispatch = dispatch
        self.experts = nn.ModuleList(expert_list)
        self.num_experts = len(expert_list)
        self.k, self.gate_dim = k, gate_dim
        self.granularity, self.combine = granularity, combine
        self.gate_with_input = gate_with_input
        self.routers = nn.ModuleList(
            NoisyTopKGate(gate_dim, self.num_experts, k, noisy, noise_epsilon, gate_init) for _ in range(num_routers)
        )

    # -- layout helpers -------------------------------------------------------------------
    def _units(self, x: torch.Tensor) -> tuple[torch.Tensor, Callable[[torch.Tensor], torch.Tensor], int]:
        """Flatten ``x`` into routing units; return them, the inverse reshaping and ``B``."""
        if self.granularity == "image":
            return x, (lambda y: y), x.shape[0]
        if x.ndim == 4:
            b, c, h, w = x.shape
            units = x.permute(0, 2, 3, 1).reshape(b * h * w, c)
            return units, (lambda y: y.reshape(b, h, w, -1).permute(0, 3, 1, 2)), b
        if x.ndim == 3:
            b, n, c = x.shape
            return x.reshape(b * n, c), (lambda y: y.reshape(b, n, -1)), b
        if x.ndim == 2:
            return x, (lambda y: y), x.shape[0]
        raise ShapeError(f"MoE: token input must have shape (B, C, H, W), (B, L, C) or (T, C), got {tuple(x.shape)}")

    def _gate_vectors(self, x: torch.Tensor, units: torch.Tensor, gate_input: torch.Tensor | None) -> torch.Tensor:
        t = units.shape[0]
        own = units.reshape(t, -1)
        if gate_input is None:
            g = own
        else:
            if gate_input.shape[0] != x.shape[0]:
                raise ShapeError(
                    f"MoE: gate_input batch {gate_input.shape[0]} differs from input batch {x.shape[0]}"
                )
            if self.granularity == "image":
                g = gate_input.reshape(t, -1)
            elif gate_input.ndim == 2 and x.ndim > 2:
                g = gate_input.repeat_interleave(t // x.shape[0], dim=0)
            elif gate_input.ndim == x.ndim:
                g, _, _ = self._units(gate_input)
                if g.shape[0] != t:
                    raise ShapeError(
                        f"MoE: per-token gate_input {tuple(gate_input.shape)} does not match input {tuple(x.shape)}"
                    )
            else:
                raise ShapeError(
                    f"MoE: gate_input {tuple(gate_input.shape)} must be (B, D) or per token like input {tuple(x.shape)}"
                )
            if self.gate_with_input:
                g = torch.cat([own, g.to(own.dtype)], dim=1)
        if g.shape[1] != self.gate_dim:
            raise ShapeError(f"MoE: gate sees vectors of size {g.shape[1]}, but gate_dim is {self.gate_dim}")
        return g

    def _sparse(self, units: torch.Tensor, gate: GateOutput) -> torch.Tensor:
        """``(T, k, *F)`` outputs of the selected experts, each expert run on its units only."""
        rows: list[torch.Tensor] = []
        slots: list[torch.Tensor] = []
        outs: list[torch.Tensor] = []
        for e, expert in enumerate(self.experts):
            sel = (gate.top_indices == e).nonzero(as_tuple=False)
            if sel.numel() == 0:
                continue
            rows.append(sel[:, 0])
            slots.append(sel[:, 1])
            outs.append(expert(units[sel[:, 0]]))
        y = torch.cat(outs, dim=0)
        buf = y.new_zeros((units.shape[0], self.k) + tuple(y.shape[1:]))
        return buf.index_put((torch.cat(rows), torch.cat(slots)), y)

    def _dense_linear(self, units: torch.Tensor, gate: GateOutput) -> torch.Tensor:
        """``sum_e g_e E_e(x)`` over every expert (``(T, *F)``): the dense ``"linear"`` mixture,
        accumulated expert by expert (``g_e = 0`` for unselected experts). Same result as
        :meth:`_dense` + :func:`combine_expert_outputs` without stacking the ``N`` outputs and
        gathering the top-``k`` (about 25 % faster on a CPU for TG-ECNet's small experts)."""
        out: torch.Tensor | None = None
        for e, expert in enumerate(self.experts):
            y = expert(units)
            y = gate.gates[:, e].to(y.dtype).reshape((-1,) + (1,) * (y.ndim - 1)) * y
            out = y if out is None else out + y
        assert out is not None
        return out

    def _dense(self, units: torch.Tensor, gate: GateOutput) -> torch.Tensor:
        """``(T, k, *F)`` outputs of the selected experts, every expert run on every unit."""
        every = torch.stack([expert(units) for expert in self.experts], dim=1)  # (T, N, *F)
        rows = torch.arange(units.shape[0], device=units.device)[:, None]
        return every[rows, gate.top_indices]

    def forward(
        self,
        x: torch.Tensor,
        gate_input: torch.Tensor | None = None,
        router: int = 0,
        generator: torch.Generator | None = None,
    ) -> MoEOutput:
        """Route, run the selected experts and mix their outputs.

        Args:
            x: input (see the class docstring for the layouts).
            gate_input: optional external gate input.
            router: index of the router to use.
            generator: optional RNG for the gating noise.

        Returns:
            :class:`MoEOutput`.
        """
        if not 0 <= router < len(self.routers):
            raise InputError(f"MoE: router {router} out of range [0, {len(self.routers)})")
        units, restore, _ = self._units(x)
        gate = self.routers[router](self._gate_vectors(x, units, gate_input), generator=generator)
        if self.dispatch == "dense" and self.combine == "linear":
            mixed = self._dense_linear(units, gate)
        else:
            buf = self._dense(units, gate) if self.dispatch == "dense" else self._sparse(units, gate)
            mixed = combine_expert_outputs(buf, gate.top_gates, self.combine)
        loss = load_balancing_loss(gate.importance, gate.load)
        return MoEOutput(restore(mixed), loss, gate.importance, gate.load, gate.gates)
