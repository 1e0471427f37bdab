-- Coupons stored but not yet in `user_bets` and `event_popularity`. The writer counts new
-- coupons in memory (the recommendations' index) and writes the counts of the users and events
-- they touched once every `COUNT_FLUSH_COUPONS` coupons, emptying this table in the same
-- transaction; a rebuild counts what is listed here on top of the stored counts. Rewriting a
-- user's tally with every group of coupons was half of what each coupon cost to store: a page
-- written per user per commit.
CREATE TABLE uncounted (
    coupon_id INTEGER NOT NULL REFERENCES coupons (id)
) STRICT;
