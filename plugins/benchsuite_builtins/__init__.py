"""benchsuite's built-in plugins, one subpackage each, each registered by its own entry point (group
``benchsuite``) exactly as a third party's plugin is.

A built-in imports only the public plugin API (``benchsuite.plugin``), its own subpackage, and
``benchsuite_builtins._shared``: the private helpers the built-ins share (framework imports, the hooked torch
runner, the Hugging Face hub cache, vector files). No built-in imports another built-in.
"""
