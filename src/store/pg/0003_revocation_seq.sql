-- The revocation list's number, kept by the committer beside the audit head: it grows by one
-- for every entry added, as on sled, whatever values revoked.seq skipped (an insert that
-- conflicted or was rolled back still takes one). It starts at the number lists carried so
-- far, so a verifier that cached the last list never sees it go down.
ALTER TABLE meta ADD COLUMN revocation_seq bigint NOT NULL DEFAULT 0;
UPDATE meta SET revocation_seq = (SELECT coalesce(max(seq), 0) FROM revoked);
