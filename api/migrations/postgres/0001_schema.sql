-- The schema SQLite reached with its migrations 0001 to 0006, in one step (see those files
-- for why each table is as it is). The values are stored as in SQLite, so that one set of
-- statements and row types serves both: timestamps are BIGINT microseconds since the Unix
-- epoch, UTC; `stake` is in cents, `odds` in thousandths. Ids below 2^62 are assigned by the
-- api, ids from 2^62 up by producers.

CREATE TABLE users (
    id                BIGINT  PRIMARY KEY,
    birth_year        INTEGER NOT NULL,
    country           TEXT    NOT NULL, -- ISO 3166-1 alpha-2
    currency          TEXT    NOT NULL, -- ISO 4217
    gender            TEXT    NOT NULL, -- M, F or X
    registration_date BIGINT  NOT NULL
);

CREATE TABLE events (
    id              BIGINT PRIMARY KEY,
    begin_timestamp BIGINT NOT NULL,
    end_timestamp   BIGINT NOT NULL,
    country         TEXT   NOT NULL,
    league          TEXT   NOT NULL,
    sport           TEXT   NOT NULL, -- as the client wrote it
    sport_key       TEXT   NOT NULL, -- lower case: what groups sports
    participant_1   TEXT   NOT NULL,
    participant_2   TEXT   NOT NULL
);

CREATE INDEX events_by_sport_key ON events (sport_key);

CREATE TABLE coupons (
    id        BIGINT PRIMARY KEY,
    user_id   BIGINT NOT NULL REFERENCES users (id),
    stake     BIGINT NOT NULL, -- cents
    timestamp BIGINT NOT NULL
);

-- A user's coupons, in the order they are listed.
CREATE INDEX coupons_by_user ON coupons (user_id, timestamp);

-- No foreign key to the coupon, inserted with its selections in the same transaction.
CREATE TABLE selections (
    coupon_id BIGINT NOT NULL,
    position  BIGINT NOT NULL, -- 0-based order within the coupon
    event_id  BIGINT NOT NULL REFERENCES events (id),
    odds      BIGINT NOT NULL, -- thousandths
    PRIMARY KEY (coupon_id, position)
);

-- Selections on each event: its popularity (SPEC §6). No row: no selection.
CREATE TABLE event_popularity (
    event_id   BIGINT PRIMARY KEY REFERENCES events (id),
    selections BIGINT NOT NULL
);

-- What the recommender counts of a user's coupons, as JSON text:
-- {"events": [every event bet on, ascending], "sports": [[sport_key, selections, latest
-- coupon time], … by sport_key]}. No row for a user without coupons.
CREATE TABLE user_bets (
    user_id BIGINT PRIMARY KEY REFERENCES users (id),
    tally   TEXT   NOT NULL
);

-- Coupons stored but not yet in `user_bets` and `event_popularity`.
CREATE TABLE uncounted (
    coupon_id BIGINT NOT NULL -- a coupon stored in the same transaction
);
