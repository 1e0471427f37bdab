-- Each selection carries its coupon's user and time, so rebuilding the recommendations reads
-- one covering index grouped by user instead of joining `coupons` for each of millions of
-- selections. Written once with the coupon; never updated.

ALTER TABLE selections ADD COLUMN user_id INTEGER NOT NULL DEFAULT 0;
ALTER TABLE selections ADD COLUMN placed_at INTEGER NOT NULL DEFAULT 0; -- the coupon's timestamp

UPDATE selections
SET user_id = coupons.user_id, placed_at = coupons.timestamp
FROM coupons
WHERE coupons.id = selections.coupon_id;

-- A rebuild reads every user's selections from this index alone, already grouped by user.
CREATE INDEX selections_by_user ON selections (user_id, placed_at, event_id);
