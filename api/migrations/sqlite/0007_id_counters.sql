-- Where the api's next id search starts for each table. The api once assigned `MAX(id) + 1`,
-- so a client that stored a record with id 2^62 - 1 left no id to assign; the counter only
-- moves past ids it assigns or finds taken, so a client's own id exhausts nothing. Starting
-- at 1, the first assignment walks once past the ids clients already hold.
CREATE TABLE id_counters (
    tbl     TEXT    PRIMARY KEY, -- users, events or coupons
    next_id INTEGER NOT NULL     -- no id below it is free to assign
) STRICT, WITHOUT ROWID;
INSERT INTO id_counters (tbl, next_id) VALUES ('users', 1), ('events', 1), ('coupons', 1);
