"""Vision models to layer matrices: image batches, streamed exact Gram products, the row store, the cache."""
