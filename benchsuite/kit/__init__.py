"""The plugin author's kit: conformance checks and the generated plugin docs (public as benchsuite.testing)."""
