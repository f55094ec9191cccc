"""Small-count suppression rules, on crafted rows and as properties over any rows."""

from hypothesis import given
from hypothesis import strategies as st

from collector.reports.suppression import round_counts, suppress


def rows(*counts):
    return [{"label": f"r{n}", "visitors": c} for n, c in enumerate(counts)]


def labels(group):
    return [r["label"] for r in group]


def test_rows_under_k_are_hidden_and_folded_into_other():
    cut = suppress(rows(50, 30, 6, 5), k=10)
    assert labels(cut.shown) == ["r0", "r1"]
    assert labels(cut.hidden) == ["r2", "r3"] and cut.other_visitors == 11 and cut.other_shown(10)


def test_complementary_suppression_hides_the_next_smallest_row():
    # one hidden row of 3 visitors could be rebuilt as total - shown: the 12-row goes too
    cut = suppress(rows(40, 12, 3), k=10)
    assert labels(cut.shown) == ["r0"]
    assert labels(cut.hidden) == ["r1", "r2"] and cut.other_visitors == 15


def test_complementary_suppression_uses_distinct_visitors_not_the_sum():
    # the hidden rows sum to 12 but are the same 4 people: keep hiding until 10 distinct
    people = {"r0": set(range(100)), "r1": set(range(100, 120)), "r2": {1001, 1002, 1003, 1004}, "r3": {1001, 1002, 1003, 1004},
              "r4": {1001, 1002, 1003, 1004}}
    distinct = lambda group: len(set().union(*(people[r["label"]] for r in group)))  # noqa: E731
    cut = suppress(rows(100, 20, 4, 4, 4), k=10, distinct_visitors=distinct)
    assert labels(cut.shown) == ["r0"] and cut.other_visitors == 24


def test_other_is_not_shown_when_even_everything_hidden_is_under_k():
    cut = suppress(rows(4, 3), k=10)
    assert cut.shown == [] and not cut.other_shown(10)


def test_nothing_hidden_means_no_other_row():
    cut = suppress(rows(12, 10), k=10)
    assert labels(cut.shown) == ["r0", "r1"] and cut.hidden == [] and not cut.other_shown(10)


def test_rounding_to_five_touches_counts_only():
    assert round_counts({"visitors": 12, "pageviews": 13, "bounce_rate": 33, "revenue": 12.34}, 5) == {
        "visitors": 10, "pageviews": 15, "bounce_rate": 33, "revenue": 12.34}
    assert round_counts({"visitors": 12}, 0) == {"visitors": 12}


@given(st.lists(st.integers(min_value=0, max_value=60), max_size=30), st.integers(min_value=5, max_value=20))
def test_no_shown_row_under_k_and_hidden_total_never_under_k_unless_all_hidden(counts, k):
    cut = suppress(rows(*counts), k=k)
    assert all(r["visitors"] >= k for r in cut.shown)
    assert len(cut.shown) + len(cut.hidden) == len(counts)
    if cut.hidden and cut.shown:
        assert cut.other_visitors >= k  # total - shown rows reveals a group of at least k
    if cut.other_shown(k):
        assert cut.other_visitors >= k
    # the shown rows are the largest ones
    if cut.shown and cut.hidden:
        assert min(r["visitors"] for r in cut.shown) >= max(r["visitors"] for r in cut.hidden)
