-- Nothing reads selections by event: the recommendations count them in memory, and events are
-- never deleted, so the foreign key needs no index on this side either. The index cost a
-- random page write per selection on every insert.
DROP INDEX selections_by_event;
