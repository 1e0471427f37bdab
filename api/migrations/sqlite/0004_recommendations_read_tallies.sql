-- A rebuild of the recommendations reads what they need already counted: each event's
-- popularity and one tally per user, kept in the transaction that stores each coupon. That is
-- ~110 k small rows at data set M instead of ~2.85 M selections, and each selection no longer
-- carries its coupon's user and time nor writes an index entry of its own.

-- Selections on each event: its popularity (SPEC §6). A table of its own rather than a column
-- of `events`: a group of coupons touches most events, and a narrow table is a few dozen
-- pages for the commit to write, where the events' rows are hundreds. No row: no selection.
CREATE TABLE event_popularity (
    event_id   INTEGER PRIMARY KEY REFERENCES events (id),
    selections INTEGER NOT NULL
) STRICT;

INSERT INTO event_popularity (event_id, selections)
SELECT event_id, count(*) FROM selections GROUP BY event_id;

-- What the recommender counts of a user's coupons, as JSON:
-- {"events": [every event bet on, ascending], "sports": [[sport_key, selections, latest
-- coupon time], … by sport_key]}. No row for a user without coupons.
CREATE TABLE user_bets (
    user_id INTEGER PRIMARY KEY REFERENCES users (id),
    tally   TEXT NOT NULL
) STRICT;

INSERT INTO user_bets (user_id, tally)
SELECT bets.user_id, json_object('events', json(bets.events), 'sports', json(sports.sports))
FROM (SELECT user_id, json_group_array(event_id) AS events
      FROM (SELECT DISTINCT user_id, event_id FROM selections ORDER BY user_id, event_id)
      GROUP BY user_id) AS bets
JOIN (SELECT user_id, json_group_array(json_array(sport_key, selections, latest)) AS sports
      FROM (SELECT s.user_id, e.sport_key, count(*) AS selections, max(s.placed_at) AS latest
            FROM selections s JOIN events e ON e.id = s.event_id
            GROUP BY s.user_id, e.sport_key
            ORDER BY s.user_id, e.sport_key)
      GROUP BY user_id) AS sports USING (user_id);

DROP INDEX selections_by_user;
ALTER TABLE selections DROP COLUMN user_id;
ALTER TABLE selections DROP COLUMN placed_at;
