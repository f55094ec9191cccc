"""`spii demo`'s synthetic traffic has visits today at any hour it is started (its "Today" view
and the demo test need them), and nothing after the moment it is generated for."""

from datetime import UTC, datetime, timedelta

import pytest

from collector.commands.demo import synthetic_traffic


@pytest.mark.parametrize("clock", ["00:00:20", "00:07", "03:30", "12:00", "23:59:59"])
def test_today_has_visits_up_to_now_whatever_the_hour(clock):
    end = datetime.fromisoformat(f"2026-12-02T{clock}+00:00")
    events = list(synthetic_traffic(2, 15, 1, end))
    today = [t for t, _, _, event in events if t.date() == end.date() and event["n"] == "pageview" and not event.get("order")]
    assert len(today) >= 3 and all(t <= end for t, *_ in events)
    assert min(t for t, *_ in events).date() == (end - timedelta(days=2)).date()


def test_earlier_days_are_the_same_whatever_the_hour():
    def before_today(end: datetime) -> list:
        return [e for e in synthetic_traffic(3, 20, 5, end) if e[0] < end.replace(hour=0, minute=0, second=0)]

    assert before_today(datetime(2026, 12, 2, 0, 5, tzinfo=UTC)) == before_today(datetime(2026, 12, 2, 18, 0, tzinfo=UTC))
