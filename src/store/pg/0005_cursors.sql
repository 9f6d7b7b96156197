-- Consumers' cursors over the audit log: one row per webhook endpoint, written by compare and swap
-- (a node's sender and an operator's replay never overwrite each other unseen).
CREATE TABLE cursors (
    name  text COLLATE "C" PRIMARY KEY,
    body  bytea NOT NULL
);
