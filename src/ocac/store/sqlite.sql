-- The SQLite store's queries. A line "-- name: NAME" starts a query (see ocac/store/sql.py).
-- Instants are integer microseconds since 1970 in UTC (*_us), so they compare as instants.

-- name: migration-1
CREATE TABLE ocac_conversations (
    id          TEXT PRIMARY KEY NOT NULL,
    channel     TEXT NOT NULL,
    state       TEXT NOT NULL,
    modified_us INTEGER NOT NULL,
    workstream  TEXT,
    record_id   TEXT,
    created_us  INTEGER,
    network     TEXT,
    extra       TEXT  -- the fields ocac does not know: one JSON object, exactly as imported
) WITHOUT ROWID;
-- The sweep selects each cell of the policy with one range scan of this index.
CREATE INDEX ocac_conversations_due ON ocac_conversations (channel, state, modified_us, id)
    WHERE state <> 'closed';
-- Waiting cells and wrap-up blocks are per workstream.
CREATE INDEX ocac_conversations_workstream ON ocac_conversations (workstream, state, modified_us, id)
    WHERE state <> 'closed';
CREATE INDEX ocac_conversations_record ON ocac_conversations (record_id) WHERE record_id IS NOT NULL;
-- Counts by channel and state read this index, not the rows (until migration 2).
CREATE INDEX ocac_conversations_cell ON ocac_conversations (channel, state);
CREATE TABLE ocac_deleted_records (record_id TEXT PRIMARY KEY NOT NULL) WITHOUT ROWID;
CREATE TABLE ocac_history (
    seq               INTEGER PRIMARY KEY,
    run_id            TEXT NOT NULL,
    action            TEXT NOT NULL,
    at_us             INTEGER NOT NULL,
    by                TEXT,
    conversation_id   TEXT,
    channel           TEXT,
    from_state        TEXT,
    to_state          TEXT,
    reason            TEXT,
    rule              TEXT,
    threshold_minutes INTEGER,
    idle_minutes      INTEGER,
    detail            TEXT
);
CREATE INDEX ocac_history_conversation ON ocac_history (conversation_id);
CREATE INDEX ocac_history_at ON ocac_history (at_us);
CREATE TRIGGER ocac_history_no_update BEFORE UPDATE ON ocac_history
    BEGIN SELECT RAISE(ABORT, 'ocac_history is append-only'); END;
CREATE TRIGGER ocac_history_no_delete BEFORE DELETE ON ocac_history
    BEGIN SELECT RAISE(ABORT, 'ocac_history is append-only'); END;
CREATE TABLE ocac_sweeps (
    seq    INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL,
    at_us  INTEGER NOT NULL,
    by     TEXT,
    moved  INTEGER NOT NULL,
    detail TEXT
);

-- name: migration-2
-- A sweep or a touch changes state and modified_us, never channel: counting by channel from an index
-- of the channel alone (and the rest from the due index) spares every move two index writes.
DROP INDEX ocac_conversations_cell;
CREATE INDEX ocac_conversations_channel ON ocac_conversations (channel);

-- name: migration-3
-- A deleted record closes its open case conversations: index those alone, by record. The sweep
-- probes it with the deleted records (a small index), and a move of any other conversation leaves it be.
DROP INDEX ocac_conversations_record;
CREATE INDEX ocac_conversations_open_case ON ocac_conversations (record_id)
    WHERE channel = 'case' AND state IN ('open', 'active');

-- name: migration-4
-- A conversation's history is a chain: its row holds the seq of its newest record, each record the
-- seq of the one before (previous_seq), so the history needs no index by conversation, whose
-- random inserts were a quarter of a steady sweep's page writes. The head of a conversation that
-- is not in the store (removed by an import) is kept in ocac_history_heads until it comes back.
-- sqlite.py keeps the heads: insert-history with move-head for one record, the sweep in the update
-- it makes anyway, keep-heads and adopt-heads when an import removes or brings conversations.
ALTER TABLE ocac_conversations ADD COLUMN history_seq INTEGER;
ALTER TABLE ocac_history ADD COLUMN previous_seq INTEGER;
CREATE TABLE ocac_history_heads (conversation_id TEXT PRIMARY KEY NOT NULL, seq INTEGER NOT NULL) WITHOUT ROWID;

-- name: build-chains
-- Every conversation's chain from the history as it is (a new schema, or a store copied in).
DROP TRIGGER ocac_history_no_update;
UPDATE ocac_history SET previous_seq = w.previous
FROM (SELECT seq, lag(seq) OVER (PARTITION BY conversation_id ORDER BY seq) AS previous FROM ocac_history
      WHERE conversation_id IS NOT NULL) AS w
WHERE ocac_history.seq = w.seq AND ocac_history.previous_seq IS NOT w.previous;
CREATE TRIGGER ocac_history_no_update BEFORE UPDATE ON ocac_history
    BEGIN SELECT RAISE(ABORT, 'ocac_history is append-only'); END;
UPDATE ocac_conversations SET history_seq = h.newest
FROM (SELECT conversation_id, max(seq) AS newest FROM ocac_history WHERE conversation_id IS NOT NULL
      GROUP BY conversation_id) AS h
WHERE ocac_conversations.id = h.conversation_id;
DELETE FROM ocac_history_heads;
INSERT INTO ocac_history_heads
SELECT conversation_id, max(seq) FROM ocac_history
WHERE conversation_id IS NOT NULL AND conversation_id NOT IN (SELECT id FROM ocac_conversations)
GROUP BY conversation_id;

-- name: drop-history-conversation-index
DROP INDEX ocac_history_conversation;

-- name: create-migrations
CREATE TABLE IF NOT EXISTS ocac_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL);

-- name: schema-version
SELECT max(version) FROM ocac_migrations;

-- name: has-migrations
SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'ocac_migrations';

-- name: record-migration
INSERT INTO ocac_migrations (version, applied_at) VALUES (?, ?);

-- name: get
SELECT id, channel, state, modified_us, workstream, record_id, created_us, network, extra
FROM ocac_conversations WHERE id = ?;

-- name: ids-starting-with
SELECT id FROM ocac_conversations WHERE id >= ? AND id < ? AND substr(id, 1, ?) = ? ORDER BY id LIMIT ?;

-- name: channel-counts
SELECT channel, count(*) FROM ocac_conversations GROUP BY channel;

-- name: not-closed-counts
SELECT channel, state, count(*) FROM ocac_conversations WHERE state <> 'closed' GROUP BY channel, state;

-- name: oldest-in-cell
-- "state <> 'closed'" lets the partial due index answer: the first entry of the cell's range.
SELECT id, modified_us FROM ocac_conversations WHERE channel = ? AND state = ? AND state <> 'closed'
ORDER BY modified_us, id LIMIT 1;

-- name: future-in-cell
SELECT count(*) FROM ocac_conversations WHERE channel = ? AND state = ? AND state <> 'closed' AND modified_us > ?;

-- name: deleted-records
SELECT record_id FROM ocac_deleted_records ORDER BY record_id;

-- name: workstreams
SELECT workstream, channel, count(*) FROM ocac_conversations WHERE workstream IS NOT NULL
GROUP BY workstream, channel;

-- name: last-sweep
SELECT run_id, at_us, moved, detail FROM ocac_sweeps ORDER BY seq DESC LIMIT 1;

-- name: history-count
SELECT count(*) FROM ocac_history;

-- name: insert-conversation
INSERT INTO ocac_conversations (id, channel, state, modified_us, workstream, record_id, created_us, network, extra)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?);

-- name: upsert-conversation
INSERT INTO ocac_conversations (id, channel, state, modified_us, workstream, record_id, created_us, network, extra)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET
    channel = excluded.channel, state = excluded.state, modified_us = excluded.modified_us,
    workstream = excluded.workstream, record_id = excluded.record_id, created_us = excluded.created_us,
    network = excluded.network, extra = excluded.extra;

-- name: update-conversation
UPDATE ocac_conversations
SET channel = ?, state = ?, modified_us = ?, workstream = ?, record_id = ?, created_us = ?, network = ?
WHERE id = ?;

-- name: insert-history
-- The last two parameters are the conversation id again: the record before this one is its head.
INSERT INTO ocac_history (run_id, action, at_us, by, conversation_id, channel, from_state, to_state, reason, rule,
                          threshold_minutes, idle_minutes, detail, previous_seq)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, coalesce(
    (SELECT history_seq FROM ocac_conversations WHERE id = ?),
    (SELECT seq FROM ocac_history_heads WHERE conversation_id = ?)));

-- name: move-head
-- A record just written (the first parameter) is its conversation's newest, stored or not.
UPDATE ocac_conversations SET history_seq = ?1 WHERE id = ?2;
INSERT OR REPLACE INTO ocac_history_heads SELECT ?2, ?1 WHERE NOT EXISTS (SELECT 1 FROM ocac_conversations WHERE id = ?2);

-- name: keep-heads
-- The heads of the conversations an import is about to remove.
INSERT OR REPLACE INTO ocac_history_heads
SELECT id, history_seq FROM ocac_conversations
WHERE history_seq IS NOT NULL AND id NOT IN (SELECT id FROM temp.ocac_import_ids);

-- name: adopt-heads
-- Conversations that came back take their heads.
UPDATE ocac_conversations SET history_seq = h.seq FROM ocac_history_heads h WHERE ocac_conversations.id = h.conversation_id;
DELETE FROM ocac_history_heads WHERE conversation_id IN (SELECT id FROM ocac_conversations);

-- name: history-chain
-- The seqs of one conversation's records, newest first, by its chain.
WITH RECURSIVE chain(seq) AS (
    SELECT coalesce((SELECT history_seq FROM ocac_conversations WHERE id = ?),
                    (SELECT seq FROM ocac_history_heads WHERE conversation_id = ?))
    UNION ALL
    SELECT h.previous_seq FROM ocac_history h JOIN chain ON h.seq = chain.seq WHERE h.previous_seq IS NOT NULL
)
SELECT seq FROM chain WHERE seq IS NOT NULL

-- name: insert-sweep
INSERT INTO ocac_sweeps (run_id, at_us, by, moved, detail) VALUES (?, ?, ?, ?, ?);

-- name: insert-deleted-record
INSERT OR IGNORE INTO ocac_deleted_records (record_id) VALUES (?);

-- name: delete-deleted-record
DELETE FROM ocac_deleted_records WHERE record_id = ?;

-- name: is-record-deleted
SELECT count(*) FROM ocac_deleted_records WHERE record_id = ?;

-- name: linked-count
SELECT count(*) FROM ocac_conversations
WHERE record_id = ? AND channel = 'case' AND state IN ('open', 'active');

-- name: create-import-ids
CREATE TEMP TABLE IF NOT EXISTS ocac_import_ids (id TEXT PRIMARY KEY NOT NULL) WITHOUT ROWID;

-- name: insert-import-id
INSERT OR IGNORE INTO temp.ocac_import_ids (id) VALUES (?);

-- name: count-not-imported
SELECT count(*) FROM ocac_conversations WHERE id NOT IN (SELECT id FROM temp.ocac_import_ids);

-- name: delete-not-imported
DELETE FROM ocac_conversations WHERE id NOT IN (SELECT id FROM temp.ocac_import_ids);

-- name: clear-import-ids
DELETE FROM temp.ocac_import_ids;

-- name: is-empty
SELECT (SELECT count(*) FROM (SELECT 1 FROM ocac_conversations LIMIT 1))
     + (SELECT count(*) FROM (SELECT 1 FROM ocac_deleted_records LIMIT 1))
     + (SELECT count(*) FROM (SELECT 1 FROM ocac_history LIMIT 1));

-- name: wipe
DROP TRIGGER ocac_history_no_delete;
DELETE FROM ocac_conversations;
DELETE FROM ocac_history_heads;
DELETE FROM ocac_deleted_records;
DELETE FROM ocac_history;
DELETE FROM ocac_sweeps;
CREATE TRIGGER ocac_history_no_delete BEFORE DELETE ON ocac_history
    BEGIN SELECT RAISE(ABORT, 'ocac_history is append-only'); END;

-- name: all-conversations
SELECT id, channel, state, modified_us, workstream, record_id, created_us, network, extra
FROM ocac_conversations ORDER BY id;

-- name: conversation-count
SELECT count(*) FROM ocac_conversations;

-- name: history-all
SELECT run_id, action, at_us, by, conversation_id, channel, from_state, to_state, reason, rule,
       threshold_minutes, idle_minutes, detail
FROM ocac_history ORDER BY seq;

-- name: create-moves
-- A sweep's moves, collected cell by cell, then written to the history and the conversations in two
-- set-based statements (no row crosses into Python to be written).
CREATE TEMP TABLE IF NOT EXISTS ocac_moves (
    id TEXT NOT NULL, channel TEXT, from_state TEXT, to_state TEXT, reason TEXT, rule TEXT,
    threshold INTEGER, modified_us INTEGER, due_us INTEGER, workstream TEXT, record_id TEXT, created_us INTEGER,
    network TEXT, history_seq INTEGER
);  -- no key: the cells never overlap, and the update looks each move up by the store's own key

-- name: clear-moves
DELETE FROM temp.ocac_moves;

-- name: history-of-moves
-- OR FAIL (here and in apply-moves): a statement that fails half-way keeps the rows it changed,
-- so SQLite keeps no statement journal of the pages it changes; the sweep's transaction rolls back
-- whole on any error anyway. The journal was a temp file: ~8,000 writes in a steady sweep at 1M.
-- The records get seqs after the newest (the first parameter), soonest due first, each chained to
-- its conversation's head as the moves found it; apply-moves has made each the new head.
INSERT OR FAIL INTO ocac_history (seq, run_id, action, at_us, by, conversation_id, channel, from_state, to_state,
                                  reason, rule, threshold_minutes, idle_minutes, previous_seq)
SELECT ? + row_number() OVER (ORDER BY due_us, id), ?, 'sweep', ?, ?, id, channel, from_state, to_state, reason, rule,
       threshold, (? - modified_us) / 60000000, history_seq
FROM temp.ocac_moves ORDER BY due_us, id;

-- name: apply-moves
UPDATE OR FAIL ocac_conversations SET state = m.to_state, modified_us = ?, history_seq = ? + m.n
FROM (SELECT id, to_state, row_number() OVER (ORDER BY due_us, id) AS n FROM temp.ocac_moves) AS m
WHERE ocac_conversations.id = m.id;

-- name: newest-seq
SELECT coalesce(max(seq), 0) FROM ocac_history;

-- name: moves
SELECT id, channel, from_state, modified_us, workstream, record_id, created_us, network, to_state, reason, rule,
       threshold
FROM temp.ocac_moves ORDER BY due_us, id;

-- name: move-counts
SELECT channel, to_state, reason, count(*) FROM temp.ocac_moves GROUP BY channel, to_state, reason;

-- name: drop-secondary-indexes
DROP INDEX ocac_conversations_due;
DROP INDEX ocac_conversations_workstream;
DROP INDEX ocac_conversations_open_case;
DROP INDEX ocac_conversations_channel;

-- name: create-secondary-indexes
CREATE INDEX ocac_conversations_due ON ocac_conversations (channel, state, modified_us, id)
    WHERE state <> 'closed';
CREATE INDEX ocac_conversations_workstream ON ocac_conversations (workstream, state, modified_us, id)
    WHERE state <> 'closed';
CREATE INDEX ocac_conversations_open_case ON ocac_conversations (record_id)
    WHERE channel = 'case' AND state IN ('open', 'active');
CREATE INDEX ocac_conversations_channel ON ocac_conversations (channel);
