"""Named degradation steps and chains such as ``haze+defocus+noise50``.

A **step** is a token (``noise50``, ``haze``, ``stripe``) bound to an operator of
:data:`mmfuse.degrade.registry.OPERATORS` and to parameter specifications. A specification is
either a fixed value (number, string, list) or a distribution drawn anew for every image:

- ``{"uniform": [lo, hi]}``: float uniform in ``[lo, hi)``;
- ``{"randint": [lo, hi]}``: integer uniform in ``[lo, hi]`` (both ends included);
- ``{"choice": [a, b, ...]}``: one of the listed values, equally likely.

A **chain** is written as tokens joined by ``+`` and is applied **left to right, exactly as
written**: ``haze+defocus+noise50`` first hazes, then blurs, then adds noise (the physical
order: scene, optics, sensor). The empty string is the empty chain (identity).

Presets define their own steps (:mod:`mmfuse.degrade.presets`); :data:`BUILTIN_STEPS` is the
vocabulary for ad-hoc chains, plus the parametric tokens ``noise<σ>`` (Gaussian noise, σ on the
0–255 scale), ``sr<k>`` (×k down- and up-sampling) and ``jpeg<q>`` (JPEG quality q).
"""
from __future__ import annotations

import inspect
import math
import numbers
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Optional, Union

import numpy as np

from mmfuse.degrade._common import RngLike, as_rng, check_image, jsonable
from mmfuse.degrade.registry import OPERATORS, get_operator
from mmfuse.errors import ConfigError, InputError

__all__ = ["Step", "BUILTIN_STEPS", "sample_param", "check_param_spec", "parse_chain", "apply_chain", "chain_text"]

_DISTRIBUTIONS = ("uniform", "randint", "choice")
_TOKEN_RE = re.compile(r"^[a-z][a-z0-9_.-]*$")


def check_param_spec(spec: Any, where: str) -> None:
    """Validate a parameter specification (fixed value or distribution), raising :class:`ConfigError`."""
    if isinstance(spec, Mapping):
        if len(spec) != 1 or next(iter(spec)) not in _DISTRIBUTIONS:
            raise ConfigError(
                f"{where}: a distribution must be one of {{uniform|randint|choice: [...]}}, got {dict(spec)}")
        kind, args = next(iter(spec.items()))
        if not isinstance(args, Sequence) or isinstance(args, str):
            raise ConfigError(f"{where}: {kind} needs a list, got {args!r}")
        if kind == "choice":
            if len(args) == 0:
                raise ConfigError(f"{where}: choice needs at least one value")
            return
        if len(args) != 2 or not all(isinstance(a, numbers.Real) and not isinstance(a, bool) for a in args):
            raise ConfigError(f"{where}: {kind} needs [lo, hi] numbers, got {list(args)}")
        lo, hi = args
        if not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi:
            raise ConfigError(f"{where}: {kind} needs finite lo <= hi, got {list(args)}")
        if kind == "randint" and not all(float(a) == int(a) for a in args):
            raise ConfigError(f"{where}: randint needs integer bounds, got {list(args)}")


def sample_param(spec: Any, rng: np.random.Generator) -> Any:
    """Draw one value from a (validated) parameter specification; fixed values are returned as is."""
    if isinstance(spec, Mapping):
        kind, args = next(iter(spec.items()))
        if kind == "uniform":
            return float(rng.uniform(float(args[0]), float(args[1])))
        if kind == "randint":
            return int(rng.integers(int(args[0]), int(args[1]), endpoint=True))
        return args[int(rng.integers(0, len(args)))]
    return spec


@dataclass(frozen=True)
class Step:
    """One named degradation step: ``token`` → ``op(img, rng, **sampled(params))``.

    Attributes:
        token: Name used in chains (lower case, e.g. ``"noise50"``).
        op: Operator name in :data:`~mmfuse.degrade.registry.OPERATORS`.
        params: Parameter specifications (fixed values or distributions), by keyword.
        source: Where the numbers come from (paper section, script), for docs and manifests.
    """

    token: str
    op: str
    params: Mapping[str, Any] = field(default_factory=dict)
    source: str = ""

    def __post_init__(self) -> None:
        where = f"step {self.token!r}"
        if not isinstance(self.token, str) or not _TOKEN_RE.match(self.token):
            raise ConfigError(f"{where}: a step name must be lower case letters, digits, '_', '.', '-'")
        if self.op not in OPERATORS:
            raise ConfigError(f"{where}: unknown operator {self.op!r}; known: {', '.join(OPERATORS)}")
        if not isinstance(self.params, Mapping):
            raise ConfigError(f"{where}: params must be a mapping, got {type(self.params).__name__}")
        allowed = [
            p.name for p in inspect.signature(get_operator(self.op)).parameters.values()
            if p.kind is inspect.Parameter.KEYWORD_ONLY
        ]
        for key, spec in self.params.items():
            if key not in allowed:
                raise ConfigError(
                    f"{where}: operator {self.op!r} has no parameter {key!r}; known: {', '.join(allowed)}")
            check_param_spec(spec, f"{where} parameter {key!r}")
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))

    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        """Draw concrete parameter values (in declaration order, so results are reproducible)."""
        return {key: sample_param(spec, rng) for key, spec in self.params.items()}

    def apply(self, img: np.ndarray, rng: RngLike) -> tuple[np.ndarray, dict[str, Any]]:
        """Sample the parameters and run the operator.

        Args:
            img: ``(H, W)`` or ``(H, W, 3)`` float image in ``[0, 1]``.
            rng: Generator or int seed; parameters are drawn first, then the operator's noise.

        Returns:
            ``(out, record)`` with ``record = {"step", "op", "params"}`` (JSON-serialisable,
            ``params`` as returned by the operator).
        """
        gen = as_rng(rng)
        params = self.sample(gen)
        out, used = OPERATORS[self.op](img, gen, **params)
        return out, {"step": self.token, "op": self.op, "params": jsonable(used)}

    def describe(self) -> str:
        """``op(key=spec, ...)`` in one line, for tables."""
        parts = []
        for key, spec in self.params.items():
            if isinstance(spec, Mapping):
                kind, args = next(iter(spec.items()))
                text = f"U({args[0]}, {args[1]})" if kind == "uniform" else (
                    f"randint[{args[0]}, {args[1]}]" if kind == "randint" else "{" + ", ".join(map(str, args)) + "}")
            else:
                text = str(spec)
            parts.append(f"{key}={text}")
        return f"{self.op}(" + ", ".join(parts) + ")"


def _builtin(token: str, op: str, source: str, **params: Any) -> tuple[str, Step]:
    return token, Step(token=token, op=op, params=params, source=source)


#: Vocabulary for ad-hoc chains (``parse_chain("haze+defocus+noise25")``). Presets do not use it.
BUILTIN_STEPS: Mapping[str, Step] = MappingProxyType(dict([
    _builtin("noise15", "gaussian_noise", "TG-ECNet §4.1", sigma=15.0),
    _builtin("noise25", "gaussian_noise", "TG-ECNet §4.1", sigma=25.0),
    _builtin("noise50", "gaussian_noise", "TG-ECNet §4.1", sigma=50.0),
    _builtin("poisson", "poisson_noise", "EMS main_vis_random_noise.py", peak={"randint": [70, 90]}),
    _builtin("saltpepper", "salt_pepper_noise", "mmfuse", amount=0.004, salt_ratio=0.5),
    _builtin("defocus", "defocus_blur", "tg-ecnet.md §7.4", radius={"uniform": [2.0, 5.0]}),
    _builtin("blur", "gaussian_blur", "DRMF IR_degraded.py", sigma={"uniform": [0.5, 3.0]}),
    _builtin("motion", "motion_blur", "mmfuse", length={"uniform": [8.0, 20.0]}, angle={"uniform": [0.0, 180.0]}),
    _builtin("haze", "haze", "TG-ECNet A.1 + EMS main_vis_haze.m", beta={"uniform": [0.04, 0.12]},
             airlight="mean", depth="radial"),
    _builtin("rain", "rain", "EMS main_vis_rain.py (re-implemented)", density={"uniform": [0.003, 0.008]},
             length={"uniform": [15.0, 35.0]}, angle={"uniform": [-20.0, 20.0]}, weight={"uniform": [0.5, 0.8]}),
    _builtin("snow", "snow", "mmfuse", density={"uniform": [3.0, 6.0]}, size={"uniform": [1.2, 2.0]},
             angle={"uniform": [-20.0, 20.0]}, veil={"uniform": [0.1, 0.25]}),
    _builtin("lowlight", "low_light", "DRMF pairs fit (lure preset)", gain={"uniform": [0.25, 0.7]},
             gamma={"uniform": [1.4, 2.5]}, sigma={"uniform": [2.0, 6.0]}),
    _builtin("overexposure", "over_exposure", "mmfuse", ev={"uniform": [1.0, 1.5]}),
    _builtin("stripe", "stripe_noise", "EMS main_vis_strikp_noise.py", column_sigma={"uniform": [3.0, 8.0]},
             pixel_sigma={"uniform": [3.0, 5.0]}),
    _builtin("lowcontrast", "low_contrast", "lure preset", factor={"uniform": [0.55, 0.9]},
             shift={"uniform": [0.05, 0.25]}),
    _builtin("thermal", "thermal_noise", "mmfuse", sigma={"uniform": [4.0, 10.0]},
             lowfreq_sigma={"uniform": [2.0, 6.0]}),
]))

_PARAMETRIC = (
    (re.compile(r"^noise(\d+(?:\.\d+)?)$"), "gaussian_noise", "sigma", float),
    (re.compile(r"^sr(\d+)$"), "downsample", "factor", int),
    (re.compile(r"^jpeg(\d+)$"), "jpeg", "quality", int),
)


def _builtin_step(token: str) -> Optional[Step]:
    if token in BUILTIN_STEPS:
        return BUILTIN_STEPS[token]
    for pattern, op, key, cast in _PARAMETRIC:
        m = pattern.match(token)
        if m:
            return Step(token=token, op=op, params={key: cast(m.group(1))}, source="parametric token")
    return None


def parse_chain(
    text: Union[str, Sequence[str], None],
    steps: Optional[Mapping[str, Step]] = None,
    *,
    where: str = "chain",
) -> tuple[Step, ...]:
    """Parse ``"haze+defocus+noise50"`` into steps (applied left to right).

    Args:
        text: Tokens joined by ``+`` (spaces around tokens are ignored), a list of tokens, or
            ``""``/``None``/``"none"`` for the empty chain.
        steps: Vocabulary (token → :class:`Step`), e.g. ``preset.steps``. ``None`` uses
            :data:`BUILTIN_STEPS` and the parametric tokens ``noise<σ>``, ``sr<k>``, ``jpeg<q>``.
        where: Context for error messages.

    Returns:
        Tuple of steps.

    Raises:
        InputError: An empty or unknown token (the message lists the known tokens).
    """
    if text is None:
        return ()
    tokens = [t.strip() for t in text.split("+")] if isinstance(text, str) else [str(t).strip() for t in text]
    if tokens in ([""], ["none"]) or not tokens:
        return ()
    out = []
    for tok in tokens:
        if not tok:
            raise InputError(f"{where}: empty step in {text!r}")
        step = steps.get(tok) if steps is not None else _builtin_step(tok)
        if step is None:
            known = list(steps) if steps is not None else list(BUILTIN_STEPS) + ["noise<sigma>", "sr<k>", "jpeg<q>"]
            raise InputError(f"{where}: unknown step {tok!r}; known: {', '.join(known)}")
        out.append(step)
    return tuple(out)


def chain_text(chain: Sequence[Step]) -> str:
    """The chain written back as ``token+token+...`` (``""`` for the empty chain)."""
    return "+".join(s.token for s in chain)


def apply_chain(
    img: np.ndarray,
    chain: Union[str, Sequence[Step]],
    rng: RngLike,
    *,
    steps: Optional[Mapping[str, Step]] = None,
) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Apply a chain of steps to one image, left to right.

    Args:
        img: ``(H, W)`` or ``(H, W, 3)`` float image in ``[0, 1]``.
        chain: A chain string (parsed with ``steps``) or a sequence of :class:`Step`.
        rng: Generator or int seed; all steps draw from it in order.
        steps: Vocabulary for a chain string (default: :data:`BUILTIN_STEPS`).

    Returns:
        ``(out, records)``: ``out`` float32 of the same shape in ``[0, 1]`` (a float32 copy of
        ``img`` for the empty chain); one record per step (see :meth:`Step.apply`).
    """
    chain_steps = parse_chain(chain, steps) if isinstance(chain, str) else tuple(chain)
    gen = as_rng(rng)
    out = check_image(img, "apply_chain").copy()
    records = []
    for step in chain_steps:
        out, rec = step.apply(out, gen)
        records.append(rec)
    return out, records
