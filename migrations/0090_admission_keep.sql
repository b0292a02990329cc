-- The admission log bounds itself in the statement that adds a block: a
-- block carries the number of decisions the log kept when it was written
-- (`keep`), and a trigger moves the kept boundary and deletes the blocks
-- wholly older than it. The log writer adds a block ~100 times a second under
-- load; this makes that one statement (one hand-off to SQLite's thread)
-- instead of a transaction of five (BEGIN, INSERT, UPDATE, DELETE, COMMIT).
ALTER TABLE admission_blocks ADD COLUMN keep INTEGER NOT NULL DEFAULT 10000 CHECK (keep > 0);

CREATE TRIGGER admission_blocks_keep AFTER INSERT ON admission_blocks
BEGIN
    UPDATE admission_kept SET from_seq = MAX(from_seq, NEW.id + NEW.n - NEW.keep) WHERE id = 1;
    -- `id < from` lets SQLite walk only the oldest blocks.
    DELETE FROM admission_blocks
    WHERE id < (SELECT from_seq FROM admission_kept WHERE id = 1)
      AND id + n <= (SELECT from_seq FROM admission_kept WHERE id = 1);
END;
