-- Floating-license leases: one row per lease, read and written under its license's lock.
-- Renewals rewrite the row (they are durable, and stay out of the audit log).
CREATE TABLE leases (
    license_id  text COLLATE "C" NOT NULL,
    id          text COLLATE "C" NOT NULL,
    body        bytea NOT NULL,
    PRIMARY KEY (license_id, id)
);
