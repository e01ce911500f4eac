"""The one registry of mmfuse: fusion methods (what users run) and trainable architectures.

* A **method** is something that fuses: a classical algorithm, a trained network with its
  weights, or a cascade of restorers and a fuser. Methods are registered with
  :func:`register_method` on a factory ``factory(weights=None, device="cpu") -> FusionMethod``,
  or with :func:`register_learned` for a trainable architecture plus (optionally) a weights
  file shipped in ``mmfuse/weights/``.
* An **architecture** is a trainable ``nn.Module`` class registered with :func:`register_arch`;
  training configs and weight files name it.
* A **method family** (:func:`register_family`) resolves names with a prefix, such as
  ``cascade:<restorers>+<fuser>``.

Registration happens by explicit imports in :mod:`mmfuse.models` (no scanning). The default
method is decided in exactly one place: :data:`DEFAULT_METHOD`.
"""
from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Literal

from mmfuse.errors import InputError

if TYPE_CHECKING:
    from mmfuse.models.base import FusionMethod

__all__ = [
    "DEFAULT_METHOD",
    "MethodSpec",
    "register_method",
    "register_learned",
    "register_family",
    "register_arch",
    "get_arch",
    "list_archs",
    "list_methods",
    "resolve_name",
    "get_spec",
    "bundled_weights_path",
    "load",
]

DEFAULT_METHOD = "gff"
"""The method used when none is named (and what the name ``"default"`` means)."""

MethodKind = Literal["classical", "learned", "cascade"]
Factory = Callable[..., "FusionMethod"]


@dataclass(frozen=True)
class MethodSpec:
    """What the registry knows about a method.

    Attributes:
        name: registered name (lower case, ``-`` separated).
        kind: ``"classical"``, ``"learned"`` or ``"cascade"``.
        description: one line for ``mmfuse methods``.
        factory: ``factory(weights=None, device="cpu") -> FusionMethod``.
        paper: short citation.
        weights: file name of the bundled weights in ``mmfuse/weights/`` (learned methods).
        arch: architecture name (learned methods).
        self_ensemble: learned methods: mirrored copies averaged at inference by default (1: off).
    """

    name: str
    kind: MethodKind
    description: str
    factory: Factory = field(repr=False)
    paper: str | None = None
    weights: str | None = None
    arch: str | None = None
    self_ensemble: int = 1

    @property
    def has_bundled_weights(self) -> bool:
        return self.weights is not None and bundled_weights_path(self.weights).is_file()


_METHODS: dict[str, MethodSpec] = {}
_FAMILIES: dict[str, tuple[Callable[[str], MethodSpec], str]] = {}
_ARCHS: dict[str, type] = {}


def register_method(
    name: str,
    *,
    kind: MethodKind,
    description: str,
    paper: str | None = None,
    weights: str | None = None,
    arch: str | None = None,
    self_ensemble: int = 1,
) -> Callable[[Factory], Factory]:
    """Decorator registering ``factory(weights=None, device="cpu") -> FusionMethod`` as ``name``
    (fields as in :class:`MethodSpec`; a learned method's factory also takes ``self_ensemble``)."""

    def deco(factory: Factory) -> Factory:
        if name in _METHODS:
            raise ValueError(f"method {name!r} is already registered")
        _METHODS[name] = MethodSpec(name, kind, description, factory, paper, weights, arch, self_ensemble)
        return factory

    return deco


def register_learned(
    name: str,
    *,
    arch: str,
    description: str,
    paper: str | None = None,
    weights: str | None = None,
    self_ensemble: int = 1,
) -> None:
    """Register a trained network as a method: architecture ``arch`` plus a weights file.

    ``weights`` is the file name of the bundled checkpoint in ``mmfuse/weights/`` (``None`` if
    none ships; the user must then pass ``weights=``). A weights file is self-describing (its
    metadata names the architecture and its constructor arguments, see
    :func:`mmfuse.models.base.save_weights_file`). ``self_ensemble`` is the method's default
    number of mirrored copies averaged at inference (see
    :class:`mmfuse.models.base.TorchFusionMethod`); :func:`load` can override it.
    """
    default_passes = self_ensemble  # the factory's own ``self_ensemble`` argument overrides it

    def factory(weights_file: str | os.PathLike | None = None, device: str = "cpu", self_ensemble: int | None = None) -> FusionMethod:
        from mmfuse.models.base import TorchFusionMethod

        path = weights_file
        if path is None:
            if weights is None or not bundled_weights_path(weights).is_file():
                raise InputError(f"{name}: no bundled weights for this method; pass --weights FILE")
            path = bundled_weights_path(weights)
        n = default_passes if self_ensemble is None else self_ensemble
        method = TorchFusionMethod.from_file(path, expected_arch=arch, device=device, self_ensemble=n)
        method.name = name
        return method

    register_method(name, kind="learned", description=description, paper=paper, weights=weights, arch=arch, self_ensemble=default_passes)(
        factory
    )


def register_family(prefix: str, resolver: Callable[[str], MethodSpec], *, help: str) -> None:
    """Register names that start with ``prefix`` (e.g. ``"cascade:"``), resolved on demand.

    ``resolver(full_name)`` returns the :class:`MethodSpec` or raises :class:`InputError`.
    ``help`` is shown by ``mmfuse methods``.
    """
    if prefix in _FAMILIES:
        raise ValueError(f"method family {prefix!r} is already registered")
    _FAMILIES[prefix] = (resolver, help)


def list_families() -> dict[str, str]:
    """Registered name prefixes and their help lines."""
    _ensure_registered()
    return {p: h for p, (_, h) in _FAMILIES.items()}


def register_arch(name: str) -> Callable[[type], type]:
    """Class decorator registering a trainable ``nn.Module`` architecture as ``name``."""

    def deco(cls: type) -> type:
        if name in _ARCHS and _ARCHS[name] is not cls:
            raise ValueError(f"architecture {name!r} is already registered")
        _ARCHS[name] = cls
        cls.arch_name = name
        return cls

    return deco


def _ensure_registered() -> None:
    import mmfuse.models  # noqa: F401  (explicit imports there register everything)


def _unknown(kind: str, name: str, known: list[str]) -> InputError:
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return InputError(f"unknown {kind} {name!r}{hint} (known: {', '.join(sorted(known))})")


def get_arch(name: str) -> type:
    """The architecture class registered as ``name``."""
    _ensure_registered()
    if name not in _ARCHS:
        raise _unknown("architecture", name, list(_ARCHS))
    return _ARCHS[name]


def list_archs() -> list[str]:
    """Names of the registered trainable architectures, sorted."""
    _ensure_registered()
    return sorted(_ARCHS)


def list_methods() -> list[MethodSpec]:
    """All registered methods (family members are resolved on demand and not listed)."""
    _ensure_registered()
    return [_METHODS[k] for k in sorted(_METHODS)]


def resolve_name(name: str | None) -> str:
    """Map ``None`` / ``"default"`` to :data:`DEFAULT_METHOD`; other names are returned as given."""
    return DEFAULT_METHOD if name in (None, "", "default") else name


def get_spec(name: str | None) -> MethodSpec:
    """The :class:`MethodSpec` of ``name`` (``"default"`` accepted, families resolved)."""
    _ensure_registered()
    name = resolve_name(name)
    if name in _METHODS:
        return _METHODS[name]
    for prefix, (resolver, _) in _FAMILIES.items():
        if name.startswith(prefix):
            return resolver(name)
    raise _unknown("method", name, list(_METHODS) + [p + "..." for p in _FAMILIES])


def bundled_weights_path(filename: str) -> Path:
    """Path of a weights file shipped inside the package (``mmfuse/weights/``)."""
    return Path(str(resources.files("mmfuse") / "weights" / filename))


def load(
    name: str | None = "default",
    weights: str | os.PathLike | None = None,
    device: str = "cpu",
    self_ensemble: int | None = None,
) -> FusionMethod:
    """Build a ready-to-use fusion method.

    Args:
        name: registered method name, ``"default"``, or a family name (``cascade:...``).
        weights: weights file for a learned method (default: the bundled one).
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"`` ...
        self_ensemble: learned methods only: mirrored copies averaged at inference (1, 2 or 4;
            default: the method's own, :attr:`MethodSpec.self_ensemble`).

    Returns:
        A :class:`mmfuse.models.base.FusionMethod` whose ``.fuse(ir, vis)`` fuses numpy images.
    """
    spec = get_spec(name)
    if weights is not None and spec.kind != "learned":
        raise InputError(f"{spec.name}: is a {spec.kind} method and takes no weights file")
    if self_ensemble is not None and spec.kind != "learned":
        raise InputError(f"{spec.name}: is a {spec.kind} method and has no self-ensemble")
    if weights is not None and not Path(weights).is_file():
        raise InputError(f"{weights}: weights file not found")
    _check_device(device)
    if spec.kind == "learned":
        method = spec.factory(weights, device, self_ensemble)
    else:
        method = spec.factory(device=device)
    return method


def _check_device(device: str) -> None:
    if device == "cpu":
        return
    import torch

    try:
        dev = torch.device(device)
    except RuntimeError:
        raise InputError(f"unknown device {device!r} (use cpu, cuda, cuda:N or mps)") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device {device!r} requested but CUDA is not available on this machine")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise InputError(f"device {device!r} requested but MPS is not available on this machine")


def describe(spec: MethodSpec) -> dict[str, Any]:
    """A row for ``mmfuse methods``."""
    return {
        "name": spec.name,
        "kind": spec.kind,
        "default": spec.name == DEFAULT_METHOD,
        "weights": "bundled" if spec.has_bundled_weights else ("-" if spec.kind != "learned" else "none (pass --weights)"),
        "self_ensemble": spec.self_ensemble,
        "description": spec.description,
    }
