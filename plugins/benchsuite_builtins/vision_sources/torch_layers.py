"""The default layers of a PyTorch classifier, found from its module tree: the model's blocks, in network order.

Blocks are the children of the model's block lists (``features.3``, ``layer2.1``, ``encoder.layers.encoder_layer_5``,
``stages.2``); a parameter-free activation right after a block stands in for it (VGG's ReLUs, not its convolutions);
``pool`` is the input of the classification head (the pooled features, whether or not a module pools them). The
order is the order the hooks fire in one forward pass on the ``meta`` device (no memory, no weights), which also
drops modules that never run in evaluation (Inception's auxiliary head).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

POOL = "pool"
INPUT_TAP = ":input"
LISTS = (nn.Sequential, nn.ModuleList)


def has_parameters(module: nn.Module) -> bool:
    return any(True for _ in module.parameters())


def is_activation(module: nn.Module) -> bool:
    return type(module).__module__ == "torch.nn.modules.activation" and not has_parameters(module)


def holds_block_list(module: nn.Module) -> bool:
    return any(isinstance(child, LISTS) and len(child) > 1 for child in module.children())


def blocks(module: nn.Module, path: str) -> list[str]:
    """Module paths of the blocks inside ``module`` (at ``path``), in registration order."""
    if isinstance(module, LISTS) and len(module) > 1:
        found: list[str] = []
        for name, child in module.named_children():
            if is_activation(child) and found:
                found[-1] = f"{path}.{name}"
            elif has_parameters(child):
                found.append(f"{path}.{name}")
        return found
    if holds_block_list(module):
        return [block for name, child in module.named_children() for block in blocks(child, f"{path}.{name}")]
    return [path] if has_parameters(module) else []


def head_name(network: nn.Module) -> str:
    """The classification head: the model's last child (``fc``, ``classifier``, ``heads``, ``head``)."""
    return list(network.named_children())[-1][0]


def candidate_taps(network: nn.Module) -> list[tuple[str, str]]:
    """(layer name, module path) for every block and ``pool`` (the inner layers of a several-layer head follow it
    once ordered by a forward pass)."""
    children = list(network.named_children())
    head, head_module = children[-1]
    paths = [block for name, child in children[:-1] for block in blocks(child, name)]
    if isinstance(head_module, nn.Sequential) and len(head_module) > 1:
        inner = nn.Sequential(*list(head_module.children())[:-1])
        paths += [f"{head}.{path.split('.', 1)[1]}" for path in blocks(inner, "_") if "." in path]
    return [*((path, path) for path in paths), (POOL, f"{head}{INPUT_TAP}")]


def fired_order(network: nn.Module, taps: Sequence[tuple[str, str]], input_size: int) -> list[tuple[str, str]]:
    """``taps`` in the order their hooks fire in one forward pass of a (1, 3, size, size) input; taps that never
    fire are dropped. Runs on the ``meta`` device when ``network`` lives there."""
    order: dict[str, int] = {}
    handles = []
    for name, path in taps:
        module = network.get_submodule(path.removesuffix(INPUT_TAP))

        def seen(*_args: object, _name: str = name) -> None:
            order.setdefault(_name, len(order))

        if path.endswith(INPUT_TAP):
            handles.append(module.register_forward_pre_hook(seen))
        else:
            handles.append(module.register_forward_hook(seen))
    device = next(network.parameters()).device
    try:
        with torch.inference_mode():
            network.eval()(torch.zeros(1, 3, input_size, input_size, device=device))
    finally:
        for handle in handles:
            handle.remove()
    return sorted((tap for tap in taps if tap[0] in order), key=lambda tap: order[tap[0]])


def default_taps(network: nn.Module, input_size: int) -> list[tuple[str, str]]:
    """The model's blocks and ``pool`` as (layer name, module path), in network order."""
    return fired_order(network, candidate_taps(network), input_size)


def every_tap(network: nn.Module, pool: str | None = None) -> list[tuple[str, str]]:
    """Every named module and ``pool`` (the head's input unless ``pool`` names another tap): what
    ``--set NAME.layers=`` patterns are matched against."""
    names = [name for name, _ in network.named_modules() if name]
    head = head_name(network)
    at = names.index(head) if head in names else len(names)
    pool_tap = (POOL, pool or f"{head}{INPUT_TAP}")
    return [*((name, name) for name in names[:at]), pool_tap, *((n, n) for n in names[at:])]


def chosen_taps(network: nn.Module, names: Sequence[str], input_size: int,
                pool: str | None = None) -> list[tuple[str, str]]:
    """The taps of ``names`` (module paths or ``pool``), in the order they fire."""
    paths = dict(every_tap(network, pool))
    return fired_order(network, [(name, paths[name]) for name in names], input_size)
