"""The hooks a benchsuite plugin may implement.

Each hook receives a ``register`` callback (as simonw/llm does) so that one
plugin can register many items in a few lines. Registration must be cheap: it
records metadata and a loader; heavy imports happen inside the loader.
Plugins take ``hookimpl`` (and everything else) from ``benchsuite.plugin``.
"""

import pluggy

hookspec = pluggy.HookspecMarker("benchsuite")
hookimpl = pluggy.HookimplMarker("benchsuite")


@hookspec
def register_vision_models(register):
    """Call ``register(VisionModelMeta(...))`` for each vision model."""


@hookspec
def register_text_embeddings(register):
    """Call ``register(TextEmbeddingMeta(...))`` for each text embedding."""


@hookspec
def register_image_sources(register):
    """Call ``register(ImageSourceMeta(...))`` for each image source."""


@hookspec
def register_concept_sets(register):
    """Call ``register(ConceptSetMeta(...))`` for each concept set."""


@hookspec
def register_metrics(register):
    """Call ``register(MetricMeta(...))`` for each similarity-encoding metric."""


@hookspec
def register_model_sources(register):
    """Call ``register(ModelSourceMeta(...))`` for each model source (a library's models by ``PREFIX:NAME``)."""
