"""The page's own consistency (reports/overview.within_totals): one cell shown with one value,
no row above its total, no row of a kind with more visitors than the events it counts."""

from collector.reports.overview import within_totals

AGGREGATE = {"results": {"visitors": {"value": 1293}, "pageviews": {"value": 2652}, "events": {"value": 2900}, "transactions": {"value": 102},
                         "contacts": {"value": 8}, "fulfilments": {"value": 89}}}


def _rows(*rows):
    return {"k": 10, "results": [dict(zip(("name", "visitors", "events"), row)) for row in rows]}


def test_a_kinds_row_counts_its_totals_events_and_never_more_visitors_than_them():
    answer = within_totals(_rows(("pageview", 1293, 2650), ("transaction", 105, 104), ("Newsletter signup", 103, 110),
                                 ("fulfilment", None, 86)), AGGREGATE)
    rows = [(r["name"], r["visitors"], r["events"]) for r in answer["results"]]
    # the transaction row takes the card's 102 transactions, so 102 visitors at most; still in the order shown
    assert rows == [("pageview", 1293, 2652), ("Newsletter signup", 103, 110), ("transaction", 102, 102), ("fulfilment", None, 89)]


def test_a_total_under_k_leaves_the_rows_visitors_as_they_are():
    answer = within_totals(_rows(("contact", 10, 12)), AGGREGATE)  # (8 contacts: lowering would show a row under k)
    assert [(r["visitors"], r["events"]) for r in answer["results"]] == [(10, 8)]


def test_a_goal_on_a_kind_shows_its_cards_count_and_one_on_part_of_it_keeps_its_own():
    goals = {"k": 10, "results": [{"goal": "transaction", "visitors": 105, "events": 106}, {"goal": "Signup", "visitors": 40, "events": 41}]}
    assert [(r["goal"], r["visitors"], r["events"]) for r in within_totals(goals, AGGREGATE)["results"]] == [
        ("transaction", 102, 102), ("Signup", 40, 41)]
    one_currency = {"k": 10, "results": [{"goal": "transaction", "visitors": 60, "events": 61}]}  # (the GBP ones of 102)
    assert [(r["visitors"], r["events"]) for r in within_totals(one_currency, AGGREGATE)["results"]] == [(60, 61)]
