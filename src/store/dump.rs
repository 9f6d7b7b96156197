//! The licd dump, version 1: every record a commit writes, in one backend-neutral form.
//!
//! Keys are the embedded store's keys and values the bytes [`codec`](super::codec) stores, so a
//! store's dump says, byte for byte, what its commits made of it. Two backends that were given
//! the same steps must dump the same: the differential test (`tests/differential.rs`) runs one
//! scripted sequence on memory, sled and PostgreSQL and compares their dumps.
//!
//! Collections, in this order, each sorted by key:
//!
//! | collection    | key                                   | value                              |
//! |---------------|---------------------------------------|------------------------------------|
//! | `licenses`    | license id                            | the license record                 |
//! | `orders`      | purchase key ([`OrderKey`])           | license id                         |
//! | `applied`     | operation key                         | empty                              |
//! | `devices`     | device request key ([`DeviceKey`])    | the device license                 |
//! | `activations` | license id, NUL, seat (big-endian u32)| the seat                           |
//! | `leases`      | license id, NUL, lease id             | the lease                          |
//! | `outbox`      | job id                                | the job                            |
//! | `revoked`     | revocation-list entry                 | when it was revoked (timestamp)    |
//! | `audit`       | seq (big-endian u64)                  | the chained audit record           |
//! | `counters`    | counter key ([`Shape`])               | its value (a JSON number, never 0) |
//! | `meta`        | `audit_head`, `revocation_seq`, `status_counts` | `[seq, hash]`, a number, the counts |
//!
//! V2 nonces and claims are not in it: they expire, and no commit writes them.
//!
//! [`OrderKey`]: super::OrderKey
//! [`DeviceKey`]: super::DeviceKey
//! [`Shape`]: super::Shape

use super::StatusCounts;
use super::codec::encode;
use super::plan::Head;

/// The collections of a dump, in dump order.
pub const COLLECTIONS: [&str; 11] = [
    "licenses",
    "orders",
    "applied",
    "devices",
    "activations",
    "leases",
    "outbox",
    "revoked",
    "audit",
    "counters",
    "meta",
];

/// One record of a dump.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Record {
    /// Its collection's place in [`COLLECTIONS`].
    pub collection: usize,
    /// The key.
    pub key: Vec<u8>,
    /// The value.
    pub value: Vec<u8>,
}

/// A store's records in dump order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dump {
    records: Vec<Record>,
}

impl Dump {
    /// A dump of `records` (in any order).
    pub fn new(mut records: Vec<Record>) -> Self {
        records.sort();
        Dump { records }
    }

    /// The records, in dump order.
    pub fn records(&self) -> &[Record] {
        &self.records
    }

    /// The dump as text, one record per line: collection, key and value separated by a space,
    /// bytes outside printable ASCII (and space, backslash) written `\xNN`.
    pub fn to_text(&self) -> String {
        let mut out = String::from("licd dump v1\n");
        for r in &self.records {
            out.push_str(COLLECTIONS[r.collection]);
            out.push(' ');
            escape(&r.key, &mut out);
            out.push(' ');
            escape(&r.value, &mut out);
            out.push('\n');
        }
        out
    }
}

/// Adds to `records` the record of collection `name` (one of [`COLLECTIONS`]).
pub fn push(records: &mut Vec<Record>, name: &str, key: impl Into<Vec<u8>>, value: Vec<u8>) {
    let collection = COLLECTIONS
        .iter()
        .position(|c| *c == name)
        .unwrap_or(COLLECTIONS.len());
    records.push(Record {
        collection,
        key: key.into(),
        value,
    });
}

/// The `meta` records of a store whose audit head, status counts and revocation-list number
/// are these, and its counters (zero ones left out).
pub fn push_summary(
    records: &mut Vec<Record>,
    head: &Head,
    counts: StatusCounts,
    revocation_seq: u64,
    counters: impl IntoIterator<Item = (String, i64)>,
) {
    push(
        records,
        "meta",
        "audit_head",
        encode(&(head.seq, &head.hash)),
    );
    push(records, "meta", "revocation_seq", encode(&revocation_seq));
    push(records, "meta", "status_counts", encode(&counts));
    for (k, n) in counters {
        if n != 0 {
            push(records, "counters", k, encode(&n));
        }
    }
}

fn escape(bytes: &[u8], out: &mut String) {
    for &b in bytes {
        if b.is_ascii_graphic() && b != b'\\' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_sort_by_collection_then_key_and_print_escaped() {
        let mut r = Vec::new();
        push(&mut r, "meta", "audit_head", b"[0,\"x\"]".to_vec());
        push(&mut r, "licenses", "b", b"{}".to_vec());
        push(&mut r, "licenses", "a b", b"\x00\\".to_vec());
        let d = Dump::new(r);
        assert_eq!(
            d.to_text(),
            "licd dump v1\nlicenses a\\x20b \\x00\\x5c\nlicenses b {}\nmeta audit_head [0,\"x\"]\n"
        );
    }
}
