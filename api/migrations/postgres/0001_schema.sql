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

-- The change feed: how api replicas sharing this database learn of each other's writes
-- (SPEC §10). Each group of writes that changed something appends one row, numbered by
-- `feed_head`, whose only row every such transaction updates as its last statement: the row
-- lock it holds until its commit makes the numbers gap-free and in commit order, which a
-- sequence's are not (a later number can commit first). A replica reads the rows after the
-- last it applied; missing none, it needs no notification that could be lost while it was
-- disconnected. `changes` is JSON: {"users": [ids], "events": [ids listed at once], "held":
-- [ids held back until the next regeneration], "coupons": [[user, [[event, placed_at]…]]…]}.
CREATE TABLE feed_head (
    seq BIGINT NOT NULL
);
INSERT INTO feed_head (seq) VALUES (0);

CREATE TABLE feed (
    seq          BIGINT      PRIMARY KEY,
    committed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    changes      TEXT        NOT NULL
);
