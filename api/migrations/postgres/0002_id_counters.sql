-- Where the api's next id search starts for each table: see SQLite's 0007_id_counters.sql.
CREATE TABLE id_counters (
    tbl     TEXT   PRIMARY KEY, -- users, events or coupons
    next_id BIGINT NOT NULL     -- no id below it is free to assign
);
INSERT INTO id_counters (tbl, next_id) VALUES ('users', 1), ('events', 1), ('coupons', 1);
