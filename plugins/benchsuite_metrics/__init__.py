"""Built-in similarity-encoding metrics: 2 vs 2, RSA, CKA, mutual k-NN."""

from benchsuite.hookspecs import hookimpl


@hookimpl
def register_metrics(register):
    """Registered in a later change."""
