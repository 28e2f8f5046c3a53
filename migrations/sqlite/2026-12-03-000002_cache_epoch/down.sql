DELETE FROM change_counters WHERE name = 'cache_epoch';
