"""Importing torchvision beside the CPU build of torch that benchsuite pins.

torchvision 0.28.0's compiled extension (``_C.so``) links CUDA libraries, so on the CPU torch it does not
load, and ``import torchvision`` then dies registering fake kernels for operators that were never defined
(``RuntimeError: operator torchvision::nms does not exist``). Its models and transforms are pure Python:
defining the two operator schemas first (without kernels) lets it import, and everything benchsuite uses
works; only the compiled detection operators (``nms``, ``roi_align``...) stay unavailable.
"""

from __future__ import annotations

import sys
from types import ModuleType

from benchsuite.plugin import import_extra

_SCHEMAS = (
    "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
)
_LIBRARIES: list[object] = []  # the torch.library.Library holding the schemas must outlive the import


def import_torchvision() -> ModuleType:
    """``torchvision``, imported (with the schema workaround only when the plain import fails that way);
    ``ResourceMissing`` naming ``pip install 'benchsuite[timm]'`` when it is not installed."""
    try:
        return import_extra("torchvision", "timm")
    except RuntimeError as error:
        if "torchvision::" not in str(error):
            raise
    import torch

    for name in [name for name in sys.modules if name == "torchvision" or name.startswith("torchvision.")]:
        del sys.modules[name]
    library = torch.library.Library("torchvision", "DEF")
    for schema in _SCHEMAS:
        library.define(schema)
    _LIBRARIES.append(library)
    return import_extra("torchvision", "timm")
