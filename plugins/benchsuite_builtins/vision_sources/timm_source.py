"""``timm:NAME``: any timm model (``convnext_tiny.fb_in1k``), its data config, and its weights from the caches.

Default layers are the model's ``feature_info`` stages/blocks, then ``pool`` (the classifier's input). Weights
are read from the Hugging Face hub cache (``HF_HUB_CACHE``/``HF_HOME``) for hub-hosted weights, else torch
hub's cache (``TORCH_HOME``), or ``--set NAME.weights=PATH``; timm's own loader reads the file (with the
model's checkpoint filter), never the network.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

from benchsuite.plugin import ResourceMissing, VisionModelMeta, file_sha256, import_extra
from benchsuite_builtins._shared.torchvision_import import import_torchvision

from .layer_choice import choose_layers
from .source_names import checked_name, item_version
from .weights_files import download_hub_file, download_url, local_weights, missing_weights, torch_hub_checkpoint

PREFIX = "timm"
SOURCE_VERSION = "1"
HUB_FILES = ("model.safetensors", "pytorch_model.bin")


def import_timm() -> Any:
    """timm, imported after torchvision (which timm imports, and which needs the CPU-torch workaround)."""
    import_torchvision()
    return import_extra("timm", "timm")


def offered() -> list[str]:
    """Every timm model name with pretrained weights (``architecture.tag``)."""
    return list(import_timm().list_pretrained())


def check_name(rest: str) -> str:
    """``rest`` when timm knows the architecture (and the tag, when one is given); else a one-line ValueError."""
    checked_name(PREFIX, rest, r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)?", "ARCHITECTURE[.TAG]", "convnext_tiny.fb_in1k")
    timm = import_timm()
    architecture, _, tag = rest.partition(".")
    if not timm.is_model(architecture):
        close = timm.list_models(f"*{architecture[:6]}*")[:5]
        raise ValueError(f"timm has no model {architecture!r}" + (f"; close: {', '.join(close)}" if close else "")
                         + f" (`benchsuite list vision --source {PREFIX}`)")
    if tag and rest not in timm.list_pretrained(f"{architecture}.*"):
        tags = [name.partition(".")[2] for name in timm.list_pretrained(f"{architecture}.*")]
        raise ValueError(f"timm {architecture} has no pretrained tag {tag!r}; tags: {', '.join(tags) or 'none'}")
    return rest


def pool_path(network: Any) -> str:
    """The classifier module's input: the pooled (pre-logits) features."""
    classifier = network.get_classifier()
    return next(f"{name}:input" for name, module in network.named_modules() if module is classifier)


def default_taps(network: Any, size: int) -> list[tuple[str, str]]:
    """The model's ``feature_info`` modules and ``pool``, in the order they run; the generic blocks without it."""
    from .torch_layers import POOL, fired_order
    from .torch_layers import default_taps as generic

    info = getattr(network, "feature_info", None)
    modules = [entry["module"] for entry in info] if isinstance(info, list) else []
    if not modules:
        return generic(network, size)
    return fired_order(network, [*((m, m) for m in modules), (POOL, pool_path(network))], size)


def data_transform(timm: Any, network: Any) -> Any:
    """timm's evaluation transform from the model's own data config."""
    config = timm.data.resolve_data_config({}, model=network)
    return timm.data.create_transform(**config), int(config["input_size"][-1])


def cached_weights(name: str, network: Any) -> Path:
    """The weights file of ``network``'s pretrained config in the hub or torch hub cache; ``ResourceMissing``
    naming where it looked and the fetch command when absent."""
    from benchsuite_builtins._shared.hub_cache import local_snapshot, repo_folder

    config = network.pretrained_cfg
    if config.get("hf_hub_id"):
        snapshot = local_snapshot(config["hf_hub_id"])
        files = [snapshot.path / file for file in HUB_FILES] if snapshot is not None else []
        found = next((file for file in files if file.is_file()), None)
        if found is None:
            raise missing_weights(name, repo_folder(config["hf_hub_id"]),
                                  "the Hugging Face hub cache: HF_HUB_CACHE or HF_HOME, default ~/.cache/huggingface")
        return found
    if config.get("url"):
        path = torch_hub_checkpoint(config["url"])
        if not path.is_file():
            raise missing_weights(name, path, "torch hub's cache: TORCH_HOME, default ~/.cache/torch")
        return path
    raise ValueError(f"{name}: timm has no pretrained weights for this model; pass --set {name}.weights=PATH")


def resolve(rest: str) -> VisionModelMeta:
    """The record of ``timm:REST``: layers from a shape-only pass, preprocessing from timm's data config."""
    from .torch_networks import describe_transform, on_meta

    timm = import_timm()
    check_name(rest)
    network: Any = on_meta(partial(timm.create_model, rest, pretrained=False))  # a timm model (pretrained_cfg...)
    transform, size = data_transform(timm, network)
    config = network.pretrained_cfg
    where = (f"the Hugging Face hub cache (repo {config['hf_hub_id']})" if config.get("hf_hub_id")
             else f"{torch_hub_checkpoint(config['url'])} (TORCH_HOME)" if config.get("url") else "no published file")
    return VisionModelMeta(
        name=f"{PREFIX}:{rest}",
        framework="torch",
        input_size=size,
        preprocessing=f"timm create_transform(resolve_data_config(model)) on the PIL image: "
                      f"{describe_transform(transform)}; NCHW float32",
        weights_source=f"timm {rest}: {where}, downloaded by `benchsuite fetch`; or --set NAME.weights=PATH",
        layers=tuple(name for name, _ in default_taps(network, size)),
        predicts_imagenet=network.num_classes == 1000,
        license=str(config.get("license") or "unknown"),
        version=item_version(SOURCE_VERSION, "timm"),
        description=f"timm {rest}",
        loader=partial(load, rest),
    )


def load(rest: str, weights: str | None = None, layers: list[str] | str | None = None, device: str = "cpu") -> Any:
    """The model with its cached pretrained weights (or ``weights``, a local file) through timm's loader."""
    from benchsuite_builtins._shared.torch_hooks import HookedTorchModel

    from .torch_layers import chosen_taps, every_tap
    from .torch_networks import transformed_batch

    timm = import_timm()
    name = f"{PREFIX}:{rest}"
    check_name(rest)
    if weights is None:
        path = cached_weights(name, timm.create_model(rest, pretrained=False, device="meta"))
    else:
        path = local_weights(name, weights)
    try:
        network = timm.create_model(rest, pretrained=True, pretrained_cfg_overlay={"file": str(path)})
    except RuntimeError as error:
        raise ValueError(f"{path} does not hold {name} weights: {' '.join(str(error).split())[:300]}") from None
    transform, size = data_transform(timm, network)
    taps = default_taps(network, size)
    if layers is not None:
        available = [layer for layer, _ in every_tap(network, pool_path(network))]
        chosen = choose_layers(name, available, [t for t, _ in taps], layers)
        taps = chosen_taps(network, chosen, size, pool_path(network))
    return HookedTorchModel(network, taps, partial(transformed_batch, transform=transform), file_sha256(path),
                            network.num_classes == 1000, device)


def fetch(rest: str) -> str:
    """Download ``timm:REST``'s pretrained weights into the hub cache (or torch hub's); returns the file's path."""
    from benchsuite_builtins._shared.hub_cache import hub_cache_dir

    timm = import_timm()
    check_name(rest)
    network = timm.create_model(rest, pretrained=False, device="meta")
    try:
        return str(cached_weights(f"{PREFIX}:{rest}", network))
    except ResourceMissing:  # absent: download it to where cached_weights looks
        pass
    config = network.pretrained_cfg
    if config.get("hf_hub_id"):
        filename = config.get("hf_hub_filename") or HUB_FILES[0]
        return str(download_hub_file(config["hf_hub_id"], filename, hub_cache_dir()))
    return str(download_url(config["url"], torch_hub_checkpoint(config["url"])))
