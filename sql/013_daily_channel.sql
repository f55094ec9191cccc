-- The acquisition channel (sql/010_channel.sql) is a dimension of spii.daily too: a page that
-- showed Channels asked its visit columns' pass of the events (1.5 s instead of 0.1 at 10M
-- events). Days written before it lack its rows, so every closed day is written anew: the
-- tables are emptied here (their counts come from spii.events, which keeps them), and until a
-- day is written again its pages are counted from the events.
TRUNCATE TABLE IF EXISTS spii.daily;
TRUNCATE TABLE IF EXISTS spii.daily_visits;
TRUNCATE TABLE IF EXISTS spii.daily_days;
