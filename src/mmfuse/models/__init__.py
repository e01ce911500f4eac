"""Fusion methods and trainable architectures.

Importing this package registers every method by explicit import (no scanning); the
registry itself lives in :mod:`mmfuse.models.registry`.
"""
from mmfuse.models import classical  # noqa: F401  (registers average, max, laplacian, gff)
from mmfuse.models.base import FusionMethod, TorchFusionMethod, load_weights_file, save_weights_file
from mmfuse.models.registry import (
    DEFAULT_METHOD,
    MethodSpec,
    get_arch,
    get_spec,
    list_archs,
    list_methods,
    load,
    register_arch,
    register_family,
    register_learned,
    register_method,
)

# --- model modules (one per system), imported explicitly to register them ---
from mmfuse.models import fusion_unet  # noqa: F401,E402  (fusion-unet: training-engine reference model)
from mmfuse.models import cascade  # noqa: F401,E402  (cascade:<restorers>+<fuser> family)
from mmfuse.models import moefusion  # noqa: F401,E402  (moefusion arch; moefusion-small method)
from mmfuse.models import tgecnet  # noqa: F401,E402  (tgecnet arch; tgecnet-small method)
# --- end of model modules ---

__all__ = [
    "DEFAULT_METHOD",
    "FusionMethod",
    "MethodSpec",
    "TorchFusionMethod",
    "get_arch",
    "get_spec",
    "list_archs",
    "list_methods",
    "load",
    "load_weights_file",
    "register_arch",
    "register_family",
    "register_learned",
    "register_method",
    "save_weights_file",
]
