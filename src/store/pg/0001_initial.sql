-- licd schema, version 1: the collections of the embedded store as tables. Record bodies are the
-- same JSON bytes sled keeps, so a copied database answers byte for byte as before. Text keys sort
-- as bytes (COLLATE "C"), the order in which sled pages.

CREATE TABLE licenses (
    id      text COLLATE "C" PRIMARY KEY,
    status  smallint NOT NULL CHECK (status BETWEEN 0 AND 2),
    body    bytea NOT NULL
);

-- One license per purchase: the primary key is what makes a duplicate purchase on another node fail.
CREATE TABLE orders (
    key         bytea PRIMARY KEY,
    license_id  text COLLATE "C" NOT NULL
);

-- Keys are bytes (they may hold NUL separators), like the purchase and device keys.
CREATE TABLE applied (
    key  bytea PRIMARY KEY
);

CREATE TABLE devices (
    key         bytea PRIMARY KEY,
    license_id  text COLLATE "C" NOT NULL,
    body        bytea NOT NULL
);
CREATE INDEX devices_by_license ON devices (license_id, key);

-- The audit log. Each record names its predecessor's hash: UNIQUE (prev) means no two records
-- continue the same history (no fork), and the foreign key means none continues a record that does
-- not exist. The genesis link (all zeros) is the only one without a predecessor.
CREATE TABLE audit (
    seq         bigint PRIMARY KEY CHECK (seq > 0),
    prev        text NOT NULL UNIQUE,
    hash        text NOT NULL UNIQUE,
    license_id  text COLLATE "C" NOT NULL,
    body        bytea NOT NULL,
    prev_link   text GENERATED ALWAYS AS (
        NULLIF(prev, '0000000000000000000000000000000000000000000000000000000000000000')
    ) STORED REFERENCES audit (hash),
    CHECK ((seq = 1) = (prev_link IS NULL))
);
CREATE INDEX audit_by_license ON audit (license_id, seq);

-- One row: the audit chain's head and the licenses per status (kept on every commit, so metrics
-- and readiness never count).
CREATE TABLE meta (
    id          smallint PRIMARY KEY CHECK (id = 1),
    audit_seq   bigint NOT NULL,
    audit_hash  text NOT NULL,
    active      bigint NOT NULL,
    frozen      bigint NOT NULL,
    released    bigint NOT NULL
);
INSERT INTO meta VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000', 0, 0, 0);

-- The revocation list; seq grows with every entry added, and its maximum is the list's number.
CREATE TABLE revoked (
    entry  text COLLATE "C" PRIMARY KEY,
    seq    bigserial UNIQUE,
    at     bytea NOT NULL
);

CREATE TABLE activations (
    license_id  text COLLATE "C" NOT NULL,
    seat        integer NOT NULL,
    body        bytea NOT NULL,
    PRIMARY KEY (license_id, seat)
);

-- The outbox. A node leases the due jobs it runs (lease_until, in the database's clock), so two
-- nodes never make the same call at once and a job whose node died is taken after the lease.
CREATE TABLE outbox (
    id           text COLLATE "C" PRIMARY KEY,
    body         bytea NOT NULL,
    dead         boolean NOT NULL,
    next_at      bigint NOT NULL,
    lease_until  timestamptz
);
CREATE INDEX outbox_due ON outbox (next_at) WHERE NOT dead;

-- V2 nonces seen, shared by every node.
CREATE TABLE nonces (
    nonce    bytea PRIMARY KEY,
    expires  bigint NOT NULL
);
CREATE INDEX nonces_by_expiry ON nonces (expires);

-- The key ring every node must serve with.
CREATE TABLE key_ring (
    id           smallint PRIMARY KEY CHECK (id = 1),
    active       text NOT NULL,
    keys         text NOT NULL,
    recorded_by  text NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now()
);

-- One row per running node: the durability barrier writes its own row (see PgStore::flush).
CREATE TABLE flush_marks (
    node  text PRIMARY KEY,
    n     bigint NOT NULL,
    at    timestamptz NOT NULL DEFAULT now()
);
