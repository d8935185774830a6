"""Per layer and image group, the exact k×k Pearson correlation matrix of a vision model.

One forward pass over the group feeds every requested layer: each image's
activation is centred (about a float64 mean) into a float32 row as it arrives
and then dropped, and only those rows are kept (in memory or, beyond the memory
budget, in a spill file) until the layer's matrix is multiplied out. With
``members`` several images share a row, whose running sum gives the
correlation of per-concept mean activations. The
matrices and the top-1 ImageNet predictions are cached per layer under a key of
everything that changes them, so a second run reads no image.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import sys
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchsuite.contract.schemas import ImageRecord, PluginItemMeta, VisionModel, VisionModelMeta
from benchsuite.extraction.batches import check_rgb_uint8
from benchsuite.extraction.cache import ArrayCache, FileDigests, array_digest
from benchsuite.extraction.device_rows import first_bad_tensor_row, selected_rows, tensor_rows
from benchsuite.extraction.store import LayerGram, MemoryPlan, as_rows, gram_library
from benchsuite.inputs.images import decoder_version

# The per-layer numpy work runs between a network's OpenMP regions; spinning
# OpenMP workers would take the cores from it (2x slower on 2 cores). Effective
# only when set before torch loads, hence at import.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

CACHE_NAMESPACE = "vision"
COSMETIC_FIELDS = frozenset({"description", "license", "role", "twin"})
"""Metadata that changes no number: words, and what a model is on the leaderboard (a records key adds the roles)."""
SIZE_UNITS = {
    "": 1,
    "B": 1,
    "KB": 10**3,
    "MB": 10**6,
    "GB": 10**9,
    "TB": 10**12,
    "KIB": 2**10,
    "MIB": 2**20,
    "GIB": 2**30,
    "TIB": 2**40,
}
SIZE_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$")


def parse_size(text: str) -> int:
    """Bytes in a size such as ``"2GiB"``, ``"512 MiB"``, ``"1.5GB"`` or ``"4096"``."""
    match = SIZE_PATTERN.match(str(text))
    unit = match.group(2).upper() if match else ""
    if match is None or unit not in SIZE_UNITS:
        raise ValueError(
            f"cannot read {text!r} as a memory size; write a number and a unit, "
            "one of B, KiB, MiB, GiB, TiB, KB, MB, GB, TB (e.g. 2GiB or 512MiB)"
        )
    size = int(float(match.group(1)) * SIZE_UNITS[unit])
    if size <= 0:
        raise ValueError(f"memory size {text!r} must be more than zero bytes")
    return size


@dataclass
class GroupExtraction:
    """Each layer's correlation matrix (image order, or row order with members) and the per-image top-1 predictions.

    ``failures`` holds the layers the model broke (non-finite or ragged activations): they have no matrix.
    """

    matrices: dict[str, np.ndarray]
    predictions: np.ndarray | None
    failures: dict[str, LayerFailure] = field(default_factory=dict)


@dataclass(frozen=True)
class LayerFailure:
    """Why a layer has no matrix, and the position in the group of the image that showed it (when one did)."""

    reason: str
    image: int | None = None


def first_bad_row(rows: np.ndarray) -> tuple[int, str] | None:
    """The first row with a NaN or inf value, and which it is; None when every value is finite."""
    finite = np.isfinite(rows).all(axis=1)
    if finite.all():
        return None
    index = int(np.argmin(finite))
    return index, "NaN" if np.isnan(rows[index]).any() else "inf"


def requested_layers(model: VisionModel, layers: Sequence[str] | None) -> list[str]:
    """The layers to extract in network order; unknown names are an error listing the known ones."""
    available = list(model.layers)
    if layers is None:
        return available
    unknown = [layer for layer in layers if layer not in available]
    if unknown:
        raise ValueError(f"unknown layer(s) {unknown}; this model exposes: {', '.join(available)}")
    wanted = set(layers)
    return [layer for layer in available if layer in wanted]


def member_rows(members: Sequence[int] | None, n_images: int) -> int:
    """How many output rows ``members`` (one row index per image) fills; every row needs an image."""
    if members is None:
        return n_images
    if len(members) != n_images:
        raise ValueError(f"members has {len(members)} entries for {n_images} images; give one row index per image")
    used = sorted({int(row) for row in members})
    if used != list(range(len(used))):
        raise ValueError(f"members must number the rows 0..m-1 with every row used at least once, got rows {used[:10]}")
    return len(used)


def full_float32() -> None:
    """Keep GPU float32 work in float32: torch may run convolutions and products in TF32 (a 10-bit
    mantissa) on recent GPUs, which moves a layer's correlations by about 1e-4 from the CPU's. Only
    acts when torch is already imported (a model that uses it has been loaded)."""
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False


@dataclass(frozen=True)
class GroupPlan:
    """One group's share of a joint pass: its images' positions in the pass (increasing), its rows
    (``members``, see ``extract_group``) and the layers it needs."""

    positions: Sequence[int]
    members: Sequence[int] | None
    layers: Sequence[str]


def extract_group(
    model: VisionModel,
    images: Sequence[np.ndarray],
    layers: Sequence[str] | None = None,
    *,
    batch_size: int = 8,
    memory_budget: int | None = None,
    spill_dir: Path | None = None,
    progress: Callable[[int], None] | None = None,
    members: Sequence[int] | None = None,
    device_rows: bool = False,
) -> GroupExtraction:
    """Run the group through the model once; each requested layer's correlation matrix and the predictions.

    ``members[i]`` puts image ``i`` in output row ``members[i]`` (rows 0..m-1):
    the matrices are then m×m correlations of each row's mean activation. Activations a model reports as torch
    tensors on a GPU are centred and multiplied out there; ``device_rows`` does so for torch tensors on the CPU
    too (the tests of that path).
    """
    if len(images) == 0:
        raise ValueError("an image group needs at least one image")
    member_rows(members, len(images))
    plan = GroupPlan(range(len(images)), members, requested_layers(model, layers))
    return extract_groups(model, images, [plan], batch_size=batch_size, memory_budget=memory_budget,
                          spill_dir=spill_dir, progress=progress, device_rows=device_rows)[0]


def extract_groups(
    model: VisionModel,
    images: Sequence[np.ndarray],
    plans: Sequence[GroupPlan],
    *,
    batch_size: int = 8,
    memory_budget: int | None = None,
    spill_dir: Path | None = None,
    progress: Callable[[int], None] | None = None,
    device_rows: bool = False,
) -> list[GroupExtraction]:
    """Several groups from one pass over ``images``: every image goes through the model once, and each
    layer's activations go to every group that holds the image and needs the layer.

    Each group sees its images in its own order (``positions`` increase) and in the batches' arrival
    order, so its matrices are those ``extract_group`` gives it alone. A layer that breaks (non-finite
    or ragged activations) fails in the groups that hold the image that showed it.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    for position, image in enumerate(images):
        check_rgb_uint8(image, position)
    full_float32()
    memory = MemoryPlan(memory_budget, batch_size, spill_dir, device_rows)
    joint = JointPass(plans, len(images), memory)
    wanted = [name for name in model.layers if joint.wants(name)]
    try:
        predictions = joint.run(model, images, wanted, batch_size, progress)
        every = np.concatenate(predictions) if predictions else None
        return [joint.extraction(index, every, len(images)) for index in range(len(plans))]
    finally:
        memory.cleanup()


class JointPass:
    """One pass of ``extract_groups``: each group's Gram per layer it needs, which of the pass's images it
    holds (and where each sits in the group), the layers that failed in it, and the batch now running."""

    def __init__(self, plans: Sequence[GroupPlan], n_images: int, memory: MemoryPlan):
        self.plans = plans
        self.memory = memory
        self.holds = np.zeros((len(plans), n_images), dtype=bool)
        self.local: list[dict[int, int]] = []
        for index, plan in enumerate(plans):
            self.holds[index, list(plan.positions)] = True
            self.local.append({int(position): row for row, position in enumerate(plan.positions)})
        self.grams = {(index, name): LayerGram(name, member_rows(plan.members, len(plan.positions)), memory,
                                               plan.members)
                      for index, plan in enumerate(plans) for name in plan.layers}
        self.failures: list[dict[str, LayerFailure]] = [{} for _ in plans]
        self.start = 0

    def wants(self, name: str) -> bool:
        """Whether any group needs layer ``name``."""
        return any((index, name) in self.grams for index in range(len(self.plans)))

    def run(self, model: VisionModel, images: Sequence[np.ndarray], wanted: list[str], batch_size: int,
            progress: Callable[[int], None] | None) -> list[np.ndarray]:
        """Every batch of ``images`` through the model, its layers into the Grams; the batches' top-1 predictions."""
        predictions: list[np.ndarray] = []
        for start in range(0, len(images), batch_size):
            self.start = start
            chunk = images[start : start + batch_size]
            top1 = model.forward(model.preprocess(chunk), wanted, self.on_layer)
            if top1 is not None:
                predictions.append(np.asarray(top1, dtype=np.int64).reshape(-1))
            if progress is not None:
                progress(start + len(chunk))
        return predictions

    def on_layer(self, name: str, activations: Any) -> None:
        """One layer's batch into every Gram that wants it; a layer the model breaks fails alone, the others go on."""
        takers = [index for index in range(len(self.plans))
                  if (index, name) in self.grams and name not in self.failures[index]]
        if not takers:
            return
        rows: Any
        try:
            if self.memory.on_device(activations):  # torch tensors, checked and centred where they are
                rows = tensor_rows(activations)
                bad = first_bad_tensor_row(rows)
            else:
                rows = as_rows(activations)
                bad = first_bad_row(rows)
        except (RuntimeError, ValueError, TypeError) as error:
            for index in takers:
                self.failures[index][name] = LayerFailure(f"{type(error).__name__}: {error}")
            return
        for index in takers:
            self.add_rows(index, name, rows, bad)

    def add_rows(self, index: int, name: str, rows: Any, bad: tuple[int, str] | None) -> None:
        """Group ``index``'s share of a batch's rows into its Gram of layer ``name``, or that layer's failure
        when one of its images has a non-finite row (``bad``) or the Gram refuses the rows."""
        mine = self.holds[index, self.start : self.start + len(rows)]
        if not mine.any():
            return
        if bad is not None and mine[bad[0]]:
            self.failures[index][name] = LayerFailure(f"non-finite activations ({bad[1]})",
                                                      self.local[index][self.start + bad[0]])
            return
        try:
            self.grams[(index, name)].add(rows if mine.all() else selected_rows(rows, mine))
        except (RuntimeError, ValueError, TypeError) as error:
            self.failures[index][name] = LayerFailure(f"{type(error).__name__}: {error}")

    def extraction(self, index: int, every: np.ndarray | None, n_images: int) -> GroupExtraction:
        """Group ``index``'s result once every batch has run: its layers' matrices (a Gram that cannot give
        one fails its layer) and its images' predictions out of the pass's ``every`` (all of them when
        they do not cover every image)."""
        plan = self.plans[index]
        matrices = {}
        for name in plan.layers:
            if name in self.failures[index]:
                continue
            try:
                matrices[name] = self.grams.pop((index, name)).matrix()
            except RuntimeError as error:
                self.failures[index][name] = LayerFailure(str(error))
        chosen = None if every is None or len(every) != n_images else every[list(plan.positions)]
        return GroupExtraction(matrices, every if chosen is None else chosen, self.failures[index])


def merged_order(sequences: Sequence[Sequence[str]]) -> list[str] | None:
    """One order of every id in which each sequence's ids keep their order (first appearance breaks ties);
    None when the sequences disagree (then no single pass can serve them all)."""
    after: dict[str, set[str]] = {}
    waiting: dict[str, int] = {}
    first: dict[str, int] = {}
    for sequence in sequences:
        for position, item in enumerate(sequence):
            first.setdefault(item, len(first))
            after.setdefault(item, set())
            waiting.setdefault(item, 0)
            if position and item not in after[sequence[position - 1]]:
                after[sequence[position - 1]].add(item)
                waiting[item] += 1
    ready = sorted((first[item], item) for item, count in waiting.items() if count == 0)
    order = []
    while ready:
        _, item = ready.pop(0)
        order.append(item)
        for successor in after[item]:
            waiting[successor] -= 1
            if waiting[successor] == 0:
                ready.append((first[successor], successor))
        ready.sort()
    return order if len(order) == len(first) else None


def package_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def keras_backend() -> str:
    """The Keras backend in use (or that a Keras loader would pick)."""
    if "keras" in sys.modules:
        return sys.modules["keras"].backend.backend()
    return os.environ.get("KERAS_BACKEND", "torch")


def framework_versions(framework: str) -> dict[str, Any]:
    """Versions of every library whose numerics reach a layer's matrix."""
    versions: dict[str, Any] = {"numpy": package_version("numpy"), "pillow": package_version("pillow")}
    if framework == "torch":
        versions["torch"] = package_version("torch")
    if framework == "keras":
        backend = keras_backend()
        versions.update(keras=package_version("keras"), keras_backend=backend)
        versions[backend] = package_version(backend) or package_version(f"{backend}-cpu")
    return versions


def numeric_meta(meta: PluginItemMeta, *, drop: Collection[str] = ()) -> dict[str, Any]:
    """An item's metadata for a cache key: every field but the cosmetic ones (``COSMETIC_FIELDS``) and ``drop``."""
    return {name: value for name, value in meta.public().items() if name not in COSMETIC_FIELDS and name not in drop}


def content_digests(source: Any, records: Sequence[ImageRecord], files: FileDigests) -> list[str]:
    """Each image's content digest, what its numbers are made of (never its name).

    A source may define ``digest(record) -> str`` (covering everything ``read``
    returns); otherwise the bytes of the file at ``record.path`` are hashed
    (remembered in ``files``, so a rerun only stats the files), and where there is
    no such file, the pixels ``source.read(record)`` decodes.
    """
    own = getattr(source, "digest", None)
    if callable(own):
        return [f"source:{own(record)}" for record in records]
    return [
        f"file:{decoder_version(record.path)}:{files.digest(record.path)}" if Path(record.path).is_file()
        else pixel_digest(source.read(record))
        for record in records
    ]


def pixel_digest(image: np.ndarray) -> str:
    """The digest of decoded pixels (dtype, shape and values)."""
    return f"pixels:{array_digest(image)}"


def cache_key(
    meta: VisionModelMeta,
    weights_hash: str,
    image_digests: Sequence[str],
    layer: str | None,
    members: Sequence[int] | None = None,
    context: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The cache key of one layer's matrix (``layer=None``: the predictions) for one image group.

    ``image_digests`` identify the group's images by content, in group order;
    ``context`` holds whatever else reaches the numbers (the model's loader
    options and device, the image source and its options, the run's seed).
    Cosmetic metadata and the list of the model's other layers stay out.
    """
    key: dict[str, Any] = {
        "item": "predictions" if layer is None else "layer",
        "layer": layer,
        "model": numeric_meta(meta, drop={"layers"}),
        "weights_hash": weights_hash,
        "versions": framework_versions(meta.framework),
        "images": list(image_digests),
        "context": dict(context or {}),
    }
    if members is not None and layer is not None:
        key["members"] = [int(row) for row in members]
    if layer is not None and gram_library() != "torch":  # numpy's BLAS rounds the last bits its own way
        key["gram"] = gram_library()
    return key


def loaded_images(load_images: Callable[[], Sequence[np.ndarray]], image_ids: Sequence[str]) -> Sequence[np.ndarray]:
    """``load_images()``, checked to give one image per id."""
    images = load_images()
    if len(images) != len(image_ids):
        raise ValueError(f"load_images gave {len(images)} images for {len(image_ids)} image ids")
    return images


@dataclass(frozen=True)
class CachedGroup:
    """One group for ``extract_groups_cached``: its image ids (unique), rows (``members``), the images'
    content digests (see ``content_digests``; None: hash the pixels) and the cache ``context`` (see ``cache_key``)."""

    image_ids: Sequence[str]
    members: Sequence[int] | None = None
    image_digests: Sequence[str] | None = None
    context: Mapping[str, Any] | None = None


def extract_group_cached(
    cache: ArrayCache,
    meta: VisionModelMeta,
    model: VisionModel,
    image_ids: Sequence[str],
    load_images: Callable[[], Sequence[np.ndarray]],
    layers: Sequence[str] | None = None,
    *,
    members: Sequence[int] | None = None,
    image_digests: Sequence[str] | None = None,
    context: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> GroupExtraction:
    """``extract_group`` through the cache: only missing layers (or predictions) run a forward pass.

    Entries are keyed on ``image_digests`` (see ``content_digests``) and ``context``
    (see ``cache_key``); without digests the images are loaded and their pixels hashed.
    """
    loaded: dict[str, np.ndarray] = {}

    def read(image_id: str) -> np.ndarray:
        if not loaded:
            loaded.update(zip(image_ids, loaded_images(load_images, image_ids), strict=True))
        return loaded[image_id]

    group = CachedGroup(image_ids, members, image_digests, context)
    return extract_groups_cached(cache, meta, model, [group], read, layers, **kwargs)[0]


def extract_groups_cached(
    cache: ArrayCache,
    meta: VisionModelMeta,
    model: VisionModel,
    groups: Sequence[CachedGroup],
    read: Callable[[str], np.ndarray],
    layers: Sequence[str] | None = None,
    **kwargs: Any,
) -> list[GroupExtraction]:
    """Every group's ``extract_group_cached`` result, the missing entries of all of them from one pass
    (``extract_groups``) over the images they hold, each image read (``read(image_id)``) and run once.

    Groups whose image orders disagree (no ``merged_order``) get a pass each.
    """
    names = requested_layers(model, layers)
    image = remembered(read)
    keys: list[dict[str | None, Mapping[str, Any]]] = []
    found: list[dict[str | None, Any]] = []
    for group in groups:
        key = group_keys(meta, model.weights_hash, group, names, image)
        keys.append(key)
        found.append({item: cache.get(CACHE_NAMESPACE, item_key) for item, item_key in key.items()})
    needing = [index for index, entries in enumerate(found) if any(entry is None for entry in entries.values())]
    order = merged_order([list(groups[index].image_ids) for index in needing])
    passes = [needing] if order is not None else [[index] for index in needing]
    failures: list[dict[str, LayerFailure]] = [{} for _ in groups]
    for members_of_pass in passes:
        ids = order if order is not None and len(passes) == 1 else list(groups[members_of_pass[0]].image_ids)
        plans = missing_plans(groups, found, members_of_pass, ids)
        fresh = extract_groups(model, [image(image_id) for image_id in ids], plans, **kwargs)
        for index, result in zip(members_of_pass, fresh, strict=True):
            store_fresh(cache, meta, keys[index], found[index], result)
            failures[index] = result.failures
    return [
        GroupExtraction({name: entries[name]["matrix"] for name in names if name not in failures[index]},
                        entries[None]["predictions"].astype(np.int64) if meta.predicts_imagenet else None,
                        failures[index])
        for index, entries in enumerate(found)
    ]


def remembered(read: Callable[[str], np.ndarray]) -> Callable[[str], np.ndarray]:
    """``read``, calling it at most once per image id (the pixels are kept for the rest of the extraction)."""
    pixels: dict[str, np.ndarray] = {}

    def image(image_id: str) -> np.ndarray:
        if image_id not in pixels:
            pixels[image_id] = read(image_id)
        return pixels[image_id]

    return image


def group_keys(meta: VisionModelMeta, weights_hash: str, group: CachedGroup, names: Sequence[str],
               image: Callable[[str], np.ndarray]) -> dict[str | None, Mapping[str, Any]]:
    """The cache key of each of a group's layers (and, for an ImageNet classifier, of its predictions, under
    None), after checking its ids and digests; without digests its images are read and their pixels hashed."""
    ids = list(group.image_ids)
    if len(set(ids)) != len(ids):
        raise ValueError("image ids within a group must be unique")
    member_rows(group.members, len(ids))
    digests = group.image_digests
    if digests is None:
        digests = [pixel_digest(image(image_id)) for image_id in ids]
    elif len(digests) != len(ids):
        raise ValueError(f"{len(digests)} image digests for {len(ids)} image ids; give one per image")
    key: dict[str | None, Mapping[str, Any]] = {
        name: cache_key(meta, weights_hash, digests, name, group.members, group.context) for name in names
    }
    if meta.predicts_imagenet:
        key[None] = cache_key(meta, weights_hash, digests, None, context=group.context)
    return key


def missing_plans(groups: Sequence[CachedGroup], found: Sequence[Mapping[str | None, Any]],
                  members_of_pass: Sequence[int], ids: Sequence[str]) -> list[GroupPlan]:
    """Each group of one pass over ``ids`` with the layers the cache lacks for it (predictions ride along)."""
    position = {image_id: index for index, image_id in enumerate(ids)}
    return [GroupPlan([position[i] for i in groups[index].image_ids], groups[index].members,
                      [item for item, entry in found[index].items() if entry is None and item is not None])
            for index in members_of_pass]


def store_fresh(cache: ArrayCache, meta: VisionModelMeta, keys: Mapping[str | None, Mapping[str, Any]],
                found: dict[str | None, Any], result: GroupExtraction) -> None:
    """A group's freshly extracted entries into ``found`` and the cache, but for its broken layers, never
    cached so that the next run tries them again; a classifier that gave no predictions is an error."""
    for item in [item for item, entry in found.items() if entry is None]:
        if item is None:
            if result.predictions is None:
                raise RuntimeError(
                    f"vision model {meta.name!r} is registered with predicts_imagenet=True "
                    "but its forward returned no predictions"
                )
            found[None] = {"predictions": result.predictions}
        elif item in result.failures:
            continue  # a broken layer is never cached: the next run tries it again
        else:
            found[item] = {"matrix": result.matrices[item]}
        cache.put(CACHE_NAMESPACE, keys[item], found[item])
