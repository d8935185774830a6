"""Built-in similarity-encoding metrics: 2 vs 2, RSA, CKA, mutual k-NN."""

from benchsuite.plugin import METRICS, STATISTICS, MetricMeta, hookimpl


@hookimpl
def register_metrics(register):
    """Register every built-in statistic; loading one returns its scalar function f(A, B)."""
    for name, spec in METRICS.items():
        register(
            MetricMeta(
                name=name,
                description=spec.description,
                chance=spec.chance,
                higher_is_better=spec.higher_is_better,
                heldout_summary=spec.heldout_summary,
                loader=lambda _name=name: STATISTICS[_name],
            )
        )
