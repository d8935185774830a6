"""What a run starts from: concepts, photos (decoding), ImageNet labels and the suites of registry.toml."""
