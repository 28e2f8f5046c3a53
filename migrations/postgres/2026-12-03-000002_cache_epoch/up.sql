-- The cache epoch: bumped by any instance that changed a session in the database but could
-- not make the cache in front (`cached_db`) follow. Cache entries carry the epoch they were
-- written under; an entry from an older epoch is checked against the database before it is
-- trusted again, on every instance, including ones started later.
INSERT INTO change_counters (name, version) VALUES ('cache_epoch', 0);
