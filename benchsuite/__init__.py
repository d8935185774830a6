"""benchsuite: where does word meaning emerge inside vision networks?

Reproduces Dharmaretnam & Fyshe (NAACL 2018) as a pluggable benchmark suite.
"""

__version__ = "0.1.0"
