-- Timestamps are INTEGER microseconds since the Unix epoch, UTC. Money and odds are exact
-- scaled integers: `stake` in cents, `odds` in thousandths. Ids below 2^62 are assigned by the
-- api, ids from 2^62 up by producers.

CREATE TABLE users (
    id                INTEGER PRIMARY KEY,
    birth_year        INTEGER NOT NULL,
    country           TEXT    NOT NULL, -- ISO 3166-1 alpha-2
    currency          TEXT    NOT NULL, -- ISO 4217
    gender            TEXT    NOT NULL, -- M, F or X
    registration_date INTEGER NOT NULL
) STRICT;

CREATE TABLE events (
    id              INTEGER PRIMARY KEY,
    begin_timestamp INTEGER NOT NULL,
    end_timestamp   INTEGER NOT NULL,
    country         TEXT    NOT NULL,
    league          TEXT    NOT NULL,
    sport           TEXT    NOT NULL, -- as the client wrote it
    sport_key       TEXT    NOT NULL, -- lower case: what groups sports
    participant_1   TEXT    NOT NULL,
    participant_2   TEXT    NOT NULL
) STRICT;

CREATE INDEX events_by_sport_key ON events (sport_key);

CREATE TABLE coupons (
    id        INTEGER PRIMARY KEY,
    user_id   INTEGER NOT NULL REFERENCES users (id),
    stake     INTEGER NOT NULL, -- cents
    timestamp INTEGER NOT NULL
) STRICT;

-- A user's coupons, in the order they are listed.
CREATE INDEX coupons_by_user ON coupons (user_id, timestamp);

CREATE TABLE selections (
    coupon_id INTEGER NOT NULL REFERENCES coupons (id),
    position  INTEGER NOT NULL, -- 0-based order within the coupon
    event_id  INTEGER NOT NULL REFERENCES events (id),
    odds      INTEGER NOT NULL, -- thousandths
    PRIMARY KEY (coupon_id, position)
) STRICT, WITHOUT ROWID;

CREATE INDEX selections_by_event ON selections (event_id);
