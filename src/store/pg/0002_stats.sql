-- Counters the dashboard reads instead of scanning (see crate::store::Shape): licenses by
-- product and edition, by expiry day, and seats taken per day. licd fills them for the rows
-- already stored when this migration is applied (migrate.rs, backfill_stats).
CREATE TABLE stats (
    key text COLLATE "C" PRIMARY KEY,
    n   bigint NOT NULL
);
