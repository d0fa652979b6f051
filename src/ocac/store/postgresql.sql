-- The PostgreSQL store's queries. A line "-- name: NAME" starts a query (see ocac/store/sql.py).
-- Tables are prefixed ocac_ and live in the connection's schema (search_path), beside any other
-- application's. Instants are timestamptz; the session time zone is UTC.

-- name: migration-1
CREATE TABLE ocac_conversations (
    id          text PRIMARY KEY,
    channel     text NOT NULL,
    state       text NOT NULL,
    modified_on timestamptz NOT NULL,
    workstream  text,
    record_id   text,
    created_on  timestamptz,
    network     text,
    extra       json  -- the fields ocac does not know, exactly as imported (json, not jsonb, keeps them as text)
);
CREATE INDEX ocac_conversations_due ON ocac_conversations (channel, state, modified_on, id) WHERE state <> 'closed';
CREATE INDEX ocac_conversations_workstream ON ocac_conversations (workstream, state, modified_on, id)
    WHERE state <> 'closed';
CREATE INDEX ocac_conversations_record ON ocac_conversations (record_id) WHERE record_id IS NOT NULL;
CREATE INDEX ocac_conversations_cell ON ocac_conversations (channel, state);
CREATE TABLE ocac_deleted_records (record_id text PRIMARY KEY);
CREATE TABLE ocac_history (
    seq               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id            text NOT NULL,
    action            text NOT NULL,
    at                timestamptz NOT NULL,
    by                text,
    conversation_id   text,
    channel           text,
    from_state        text,
    to_state          text,
    reason            text,
    rule              text,
    threshold_minutes integer,
    idle_minutes      integer,
    detail            json
);
CREATE INDEX ocac_history_conversation ON ocac_history (conversation_id);
CREATE INDEX ocac_history_at ON ocac_history (at);
CREATE FUNCTION ocac_history_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ocac_history is append-only';
END;
$$;
CREATE TRIGGER ocac_history_no_change BEFORE UPDATE OR DELETE ON ocac_history
    FOR EACH ROW EXECUTE FUNCTION ocac_history_append_only();
CREATE TRIGGER ocac_history_no_truncate BEFORE TRUNCATE ON ocac_history
    FOR EACH STATEMENT EXECUTE FUNCTION ocac_history_append_only();
-- The moves a sweep planned and has not made yet, soonest due first: batches take from the front.
CREATE TABLE ocac_sweep_moves (
    run_id     text NOT NULL,
    due        timestamptz NOT NULL,
    id         text NOT NULL,
    from_state text NOT NULL,
    stamp      timestamptz NOT NULL,
    to_state   text NOT NULL,
    reason     text NOT NULL,
    rule       text NOT NULL,
    threshold  integer NOT NULL,
    PRIMARY KEY (run_id, due, id)
);
CREATE TABLE ocac_sweeps (
    seq    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id text NOT NULL,
    at     timestamptz NOT NULL,
    by     text,
    moved  integer NOT NULL,
    detail json
);

-- name: migration-2
-- A sweep no longer plans into a table: each batch selects what is still due from the cells' index ranges.
DROP TABLE ocac_sweep_moves;
-- A deleted record closes its open case conversations: index those alone, by record. The sweep
-- probes it with the deleted records (a small index), and a move of any other conversation skips it.
DROP INDEX ocac_conversations_record;
CREATE INDEX ocac_conversations_open_case ON ocac_conversations (record_id)
    WHERE channel = 'case' AND state IN ('open', 'active');

-- name: migration-3
-- Every move added an entry to the (channel, state) index, whose few keys hold hundreds of
-- thousands of rows each: ~1.2 s of a ~10 s mass sweep at 1M. Counting a store's states reads
-- the table instead (status at 1M: ~0.1 s more).
DROP INDEX IF EXISTS ocac_conversations_cell;

-- name: create-migrations
CREATE TABLE IF NOT EXISTS ocac_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now());

-- name: has-migrations
SELECT to_regclass('ocac_migrations') IS NOT NULL;

-- name: schema-version
SELECT max(version) FROM ocac_migrations;

-- name: record-migration
INSERT INTO ocac_migrations (version) VALUES (%s);

-- name: lock-schema
SELECT pg_advisory_xact_lock(%s);

-- name: try-lock-sweep
-- Per schema: two stores in one database do not hold up each other's sweeps.
SELECT pg_try_advisory_xact_lock(%s, hashtext(current_schema()));

-- name: clock
SELECT date_trunc('second', statement_timestamp());

-- name: get
SELECT id, channel, state, modified_on, workstream, record_id, created_on, network, extra::text
FROM ocac_conversations WHERE id = %s;

-- name: get-for-update
SELECT id, channel, state, modified_on, workstream, record_id, created_on, network, extra::text
FROM ocac_conversations WHERE id = %s FOR UPDATE;

-- name: ids-starting-with
SELECT id FROM ocac_conversations WHERE id >= %s AND left(id, %s) = %s ORDER BY id LIMIT %s;

-- name: counts
SELECT channel, state, count(*) FROM ocac_conversations GROUP BY channel, state;

-- name: oldest-in-cell
-- "state <> 'closed'" lets the partial due index answer: the first entry of the cell's range.
SELECT id, modified_on FROM ocac_conversations WHERE channel = %s AND state = %s AND state <> 'closed'
ORDER BY modified_on, id LIMIT 1;

-- name: future
SELECT count(*) FROM ocac_conversations WHERE state <> 'closed' AND modified_on > %s;

-- name: can-write
SELECT has_table_privilege('ocac_conversations', 'INSERT, UPDATE')
   AND has_table_privilege('ocac_history', 'INSERT');

-- name: can-create
SELECT has_schema_privilege(current_schema(), 'CREATE');

-- name: deleted-records
SELECT record_id FROM ocac_deleted_records ORDER BY record_id;

-- name: workstreams
SELECT workstream, channel, count(*) FROM ocac_conversations WHERE workstream IS NOT NULL
GROUP BY workstream, channel;

-- name: last-sweep
SELECT run_id, at, moved, detail::text FROM ocac_sweeps ORDER BY seq DESC LIMIT 1;

-- name: insert-conversation
INSERT INTO ocac_conversations (id, channel, state, modified_on, workstream, record_id, created_on, network, extra)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s::json);

-- name: upsert-conversation
INSERT INTO ocac_conversations (id, channel, state, modified_on, workstream, record_id, created_on, network, extra)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s::json)
ON CONFLICT (id) DO UPDATE SET
    channel = excluded.channel, state = excluded.state, modified_on = excluded.modified_on,
    workstream = excluded.workstream, record_id = excluded.record_id, created_on = excluded.created_on,
    network = excluded.network, extra = excluded.extra;

-- name: update-conversation
UPDATE ocac_conversations
SET channel = %s, state = %s, modified_on = %s, workstream = %s, record_id = %s, created_on = %s, network = %s
WHERE id = %s;

-- name: insert-history
INSERT INTO ocac_history (run_id, action, at, by, conversation_id, channel, from_state, to_state, reason, rule,
                          threshold_minutes, idle_minutes, detail)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s::json);

-- name: insert-sweep
INSERT INTO ocac_sweeps (run_id, at, by, moved, detail) VALUES (%s, %s, %s, %s, %s::json);

-- name: insert-deleted-record
INSERT INTO ocac_deleted_records (record_id) VALUES (%s) ON CONFLICT DO NOTHING;

-- name: delete-deleted-record
DELETE FROM ocac_deleted_records WHERE record_id = %s;

-- name: is-record-deleted
SELECT count(*) FROM ocac_deleted_records WHERE record_id = %s;

-- name: linked-count
SELECT count(*) FROM ocac_conversations
WHERE record_id = %s AND channel = 'case' AND state IN ('open', 'active');

-- name: lock-records
SELECT pg_advisory_xact_lock(%s, hashtext(current_schema() || '/' || %s));

-- name: stored-of
SELECT id, channel, state, modified_on, workstream, record_id, created_on, network, extra::text
FROM ocac_conversations WHERE id = ANY(%s) FOR UPDATE;

-- name: count-not-in
SELECT count(*) FROM ocac_conversations WHERE NOT (id = ANY(%s));

-- name: delete-not-in
DELETE FROM ocac_conversations WHERE NOT (id = ANY(%s));

-- name: lock-table
LOCK TABLE ocac_conversations IN SHARE ROW EXCLUSIVE MODE;

-- name: is-empty
SELECT EXISTS (SELECT 1 FROM ocac_conversations) OR EXISTS (SELECT 1 FROM ocac_deleted_records)
    OR EXISTS (SELECT 1 FROM ocac_history);

-- name: wipe
ALTER TABLE ocac_history DISABLE TRIGGER USER;
DELETE FROM ocac_conversations;
DELETE FROM ocac_deleted_records;
DELETE FROM ocac_history;
DELETE FROM ocac_sweeps;
ALTER TABLE ocac_history ENABLE TRIGGER USER;

-- name: drop-secondary-indexes
DROP INDEX ocac_conversations_due;
DROP INDEX ocac_conversations_workstream;
DROP INDEX ocac_conversations_open_case;

-- name: create-secondary-indexes
CREATE INDEX ocac_conversations_due ON ocac_conversations (channel, state, modified_on, id) WHERE state <> 'closed';
CREATE INDEX ocac_conversations_workstream ON ocac_conversations (workstream, state, modified_on, id)
    WHERE state <> 'closed';
CREATE INDEX ocac_conversations_open_case ON ocac_conversations (record_id)
    WHERE channel = 'case' AND state IN ('open', 'active');

-- name: copy-conversations
COPY ocac_conversations (id, channel, state, modified_on, workstream, record_id, created_on, network, extra)
FROM STDIN (FORMAT BINARY);

-- name: all-conversations
SELECT id, channel, state, modified_on, workstream, record_id, created_on, network, extra::text
FROM ocac_conversations ORDER BY id;

-- name: conversation-count
SELECT count(*) FROM ocac_conversations;

-- name: history-all
SELECT run_id, action, at, by, conversation_id, channel, from_state, to_state, reason, rule,
       threshold_minutes, idle_minutes, detail::text
FROM ocac_history ORDER BY seq;

-- name: size
SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint FROM pg_class c
WHERE c.oid IN (to_regclass('ocac_conversations'), to_regclass('ocac_deleted_records'),
                to_regclass('ocac_history'), to_regclass('ocac_sweeps'));

-- name: batch-plan
-- For a sweep batch's transaction only. PostgreSQL cannot see how few rows a batch holds: it would
-- hash the whole conversations table to join them (measured at 1M: 460 ms of a 700 ms batch of
-- 2,945), and read whole cells (bitmap or sequential scans, then a sort) where the batch needs the
-- first rows of each cell's index range, in order. The large estimates of a mass sweep's batch would
-- also have it compiled (JIT), which costs more than the batch's own work saves (~60 ms a batch).
SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off;
SET LOCAL enable_bitmapscan = off; SET LOCAL enable_seqscan = off; SET LOCAL jit = off;
