-- A selection and the coupon it belongs to are inserted by the same statement batch of the
-- same transaction, and `uncounted` lists a coupon in the transaction that stores it: those
-- references always hold, yet SQLite looked each of them up again, about half of the parent
-- look-ups a coupon cost. The references a client names (a coupon's user, a selection's
-- event) keep their foreign keys: those are what a refused coupon is refused for.

CREATE TABLE selections_new (
    coupon_id INTEGER NOT NULL, -- the coupon inserted with it
    position  INTEGER NOT NULL, -- 0-based order within the coupon
    event_id  INTEGER NOT NULL REFERENCES events (id),
    odds      INTEGER NOT NULL, -- thousandths
    PRIMARY KEY (coupon_id, position)
) STRICT, WITHOUT ROWID;
INSERT INTO selections_new (coupon_id, position, event_id, odds)
SELECT coupon_id, position, event_id, odds FROM selections ORDER BY coupon_id, position;
DROP TABLE selections;
ALTER TABLE selections_new RENAME TO selections;

CREATE TABLE uncounted_new (
    coupon_id INTEGER NOT NULL -- a coupon stored in the same transaction
) STRICT;
INSERT INTO uncounted_new (coupon_id) SELECT coupon_id FROM uncounted;
DROP TABLE uncounted;
ALTER TABLE uncounted_new RENAME TO uncounted;
