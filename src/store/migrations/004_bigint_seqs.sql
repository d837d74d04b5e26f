-- 004: seqs are bigint. A busy conversation (a channel at 100 messages/s) passes
-- 2^31 in under a year; an integer seq would then fail every send. Inputs are
-- bounded by MAX_SEQ (2^53 - 1, src/protocol/input.ts), which bigint holds.
-- Must run on PostgreSQL 15 and on PGlite (PostgreSQL 18).
ALTER TABLE conversations ALTER COLUMN last_seq TYPE bigint;
ALTER TABLE messages ALTER COLUMN seq TYPE bigint;
ALTER TABLE events ALTER COLUMN seq TYPE bigint;
ALTER TABLE inbox_entries ALTER COLUMN last_read_seq TYPE bigint;
ALTER TABLE inbox_tombstones ALTER COLUMN last_seq TYPE bigint;
