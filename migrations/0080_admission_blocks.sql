-- The admission log in blocks: one row per batch of the log writer instead of
-- one per decision. Under load the webhook decides tens of thousands of times
-- a second and the log keeps the newest 10,000: every decision was a row
-- inserted (with two index entries) and soon deleted again, which cost the
-- webhook about as much CPU per review as reading the review's JSON. A block
-- is one insert and, later, one delete.
--
-- `id` is the sequence number of the block's first decision (decisions are
-- numbered in writing order, without gaps); `n` how many it holds;
-- `decisions` a JSON object: `m`, the block's distinct message texts, and `d`,
-- one array per decision in writing order:
-- [at, uid, operation, kind, namespace, name, user, verdict, mode, profile,
--  index into m, dry_run (0 or 1)].
CREATE TABLE admission_blocks (
    id        INTEGER PRIMARY KEY,
    n         INTEGER NOT NULL CHECK (n > 0),
    decisions TEXT    NOT NULL
);

-- The sequence number of the oldest decision kept: the log keeps exactly the
-- newest decisions, and the oldest block may hold some that are no longer.
CREATE TABLE admission_kept (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    from_seq INTEGER NOT NULL
);
INSERT INTO admission_kept (id, from_seq) VALUES (1, 0);

-- The rows of an older log become blocks of one decision, their ids kept.
INSERT INTO admission_blocks (id, n, decisions)
SELECT l.id, 1,
       json_object(
           'm', json_array(m.text),
           'd', json_array(json_array(l.at, l.uid, l.operation, l.kind, l.namespace, l.name,
                                      l.user, l.verdict, l.mode, l.profile, 0,
                                      CASE WHEN l.dry_run THEN 1 ELSE 0 END)))
FROM admission_log l JOIN admission_messages m ON m.id = l.message_id;

DROP TABLE admission_log;
DROP TABLE admission_messages;
