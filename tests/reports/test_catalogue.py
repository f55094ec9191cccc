"""The catalogue is the one place metrics are declared: everything else follows it."""

from collector.reports.catalogue import COLUMNS, METRICS, available_for_visits, columns_for
from collector.reports.overview import KPIS
from collector.reports.periods import Period
from collector.reports.protect import PERTURBED_COUNTS
from collector.reports.stats import StatsRequest
from collector.reports.suppression import COUNT_METRICS


def test_every_metric_is_computed_from_declared_columns():
    for metric in METRICS.values():
        assert set(metric.needs) <= set(COLUMNS), metric.name
        # no division by zero; an average of no one's values is no value
        assert metric.compute({name: 0 for name in COLUMNS}) in ((None,) if metric.support else (0, 0.0)), metric.name
        assert metric.support is None or metric.support in metric.needs


def test_the_rest_of_the_code_reads_the_catalogue():
    assert [m for m, _ in KPIS] == [m for m in METRICS if METRICS[m].kpi]
    assert COUNT_METRICS == {m for m in METRICS if METRICS[m].count}
    assert set(PERTURBED_COUNTS) == {c for c in COLUMNS if COLUMNS[c].perturbed}
    assert all(m in PERTURBED_COUNTS for m in COUNT_METRICS)  # every shown count is perturbed
    StatsRequest(period=Period.__new__(Period), metrics=list(METRICS))  # every metric is accepted by the API


def test_visit_level_rows_give_the_visit_metrics():
    assert [m for m in METRICS if available_for_visits(m)] == ["visitors", "visits", "pageviews", "views_per_visit", "bounce_rate",
                                                             "visit_duration"]
    assert columns_for(["bounce_rate"], perturbed=True) == ["visitors", "people", "visits", "engaged_visits", "cell_key"]
