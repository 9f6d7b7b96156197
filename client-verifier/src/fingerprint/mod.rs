//! Device fingerprints in the marketplace's form, the device binding a token carries, and the
//! tolerant match between the two.
//!
//! The marketplace describes a device as `MAC|disk serial|mainboard serial|CPU id`: four
//! `|`-separated components, several values of one component comma-separated, missing ones empty,
//! the whole string upper-cased, at most 5 KB. Anything else (the marketplace's own examples include
//! a hex digest) is an *opaque* fingerprint, bound and matched as one exact value.
//!
//! A token never carries raw serials. Each value is stored as a short BLAKE2b hash salted per
//! token, which keeps serials out of casual sight (a support ticket, a log) while staying small
//! enough for the marketplace's 1,024-character license limit. It does not stop a determined
//! owner of the token from guessing a low-entropy value such as a MAC: binding raises the cost of
//! copying a license, it is not a secret.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use blake2::Blake2bVar;
use blake2::digest::{Update, VariableOutput};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::paseto::{b64_decode_array, b64_encode};

#[cfg(feature = "fingerprint")]
mod collect;
#[cfg(any(feature = "fingerprint", feature = "__fuzz", test))]
mod values;
// Windows' binary answers, read by pure functions: compiled on Windows, in tests everywhere, and
// for the fuzz target.
#[cfg(any(
    all(feature = "fingerprint", target_os = "windows"),
    feature = "__fuzz",
    test
))]
#[cfg_attr(not(target_os = "windows"), allow(dead_code))]
mod windows_tables;
#[cfg(feature = "__fuzz")]
pub(crate) use windows_tables::fuzz as fuzz_windows_tables;

/// The longest raw fingerprint accepted, as the marketplace's client documentation allows.
pub const MAX_LEN: usize = 5 * 1024;

/// Components of the four-part form, in order.
pub const COMPONENTS: [&str; 4] = ["mac", "disk", "board", "cpu"];

/// Values kept per component in a binding: enough for a workstation's NICs and disks while
/// bounding the token's size.
pub const MAX_VALUES_PER_COMPONENT: usize = 4;

/// The most mainboard values one machine has: one. A fingerprint listing more describes several
/// machines, and an issuer refuses to bind it ([`Fingerprint::check_one_machine`]).
pub const MAX_BOARD_VALUES: usize = 1;

/// The most disk serials one machine is taken to list. [`Fingerprint::collect`] keeps the first
/// this many (in sorted order) of a machine with more, so that no real machine is refused.
pub const MAX_DISK_SERIALS: usize = 8;

const SALT_LEN: usize = 8;
const PART_HASH_LEN: usize = 6;
const OPAQUE_HASH_LEN: usize = 12;
const DOMAIN: &[u8] = b"licd-binding-v1";

/// Why a fingerprint string was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FingerprintError {
    /// Nothing to bind to: the string is empty or all four components are.
    Empty,
    /// Longer than [`MAX_LEN`] bytes, as given or once normalised (upper-casing can lengthen).
    TooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// Lists more disk or mainboard values than one machine has: a binding to it would describe
    /// several machines.
    NotOneMachine {
        /// `"disk"` or `"board"`.
        component: &'static str,
        /// How many values it lists.
        count: usize,
        /// How many one machine may have ([`MAX_DISK_SERIALS`], [`MAX_BOARD_VALUES`]).
        max: usize,
    },
}

impl fmt::Display for FingerprintError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FingerprintError::Empty => f.write_str("fingerprint is empty"),
            FingerprintError::TooLong { len } => {
                write!(f, "fingerprint is {len} bytes, more than {MAX_LEN}")
            }
            FingerprintError::NotOneMachine {
                component,
                count,
                max,
            } => write!(
                f,
                "fingerprint lists {count} {component} values, more than one machine has (at most {max}); send the fingerprint of one machine, as Fingerprint::collect gives it"
            ),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for FingerprintError {}

/// A device's identity: the four-part marketplace form, or one opaque value.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Fingerprint(Repr);

#[derive(Clone, PartialEq, Eq, Debug)]
enum Repr {
    /// Per component: trimmed, upper-cased, sorted, de-duplicated, non-empty values.
    Parts([Vec<String>; 4]),
    Opaque(String),
}

impl Fingerprint {
    /// Reads a fingerprint string: the four-part form when it has exactly three `|`, otherwise
    /// an opaque value compared byte for byte (after trimming surrounding white space).
    pub fn parse(raw: &str) -> Result<Self, FingerprintError> {
        if raw.len() > MAX_LEN {
            return Err(FingerprintError::TooLong { len: raw.len() });
        }
        let raw = raw.trim();
        if raw.bytes().filter(|&b| b == b'|').count() == 3 {
            let mut parts = raw.split('|');
            let parts: [Vec<String>; 4] = core::array::from_fn(|_| {
                parts
                    .next()
                    .unwrap_or("")
                    .split(',')
                    .map(str::to_string)
                    .collect()
            });
            return Self::from_parts(parts);
        }
        if raw.is_empty() {
            return Err(FingerprintError::Empty);
        }
        Ok(Fingerprint(Repr::Opaque(raw.to_string())))
    }

    /// A four-part fingerprint from raw per-component values, normalised as the marketplace does.
    pub fn from_parts(parts: [Vec<String>; 4]) -> Result<Self, FingerprintError> {
        let parts = parts.map(|values| {
            let mut v: Vec<String> = values
                .iter()
                .map(|s| s.trim().to_uppercase())
                .filter(|s| !s.is_empty())
                .collect();
            v.sort();
            v.dedup();
            v
        });
        if parts.iter().all(Vec::is_empty) {
            return Err(FingerprintError::Empty);
        }
        // Upper-casing can lengthen a value ('ΐ', 2 bytes, becomes 6): hold the normalised form
        // to the limit too, or a fingerprint could print as a string `parse` refuses.
        let len = 3 + parts
            .iter()
            .map(|v| v.iter().map(String::len).sum::<usize>() + v.len().saturating_sub(1))
            .sum::<usize>();
        if len > MAX_LEN {
            return Err(FingerprintError::TooLong { len });
        }
        Ok(Fingerprint(Repr::Parts(parts)))
    }

    /// This machine's fingerprint in the marketplace's form.
    ///
    /// Reads OS sources only (no network, no full system scan). A component that cannot be read
    /// (a container, a non-root process that may not read DMI serials) is empty, never random.
    /// Fails only when no component at all could be read.
    #[cfg(feature = "fingerprint")]
    pub fn collect() -> Result<Self, FingerprintError> {
        Self::from_parts(collect::raw_components()).map(Self::one_machine)
    }

    /// Whether this fingerprint can be one machine's: at most [`MAX_BOARD_VALUES`] mainboard
    /// values and [`MAX_DISK_SERIALS`] disk serials. Issuers that take a fingerprint from a
    /// client refuse one that lists more, since a binding to it would name several machines.
    pub fn check_one_machine(&self) -> Result<(), FingerprintError> {
        let Repr::Parts(p) = &self.0 else {
            return Ok(());
        };
        for (i, component, max) in [
            (2, "board", MAX_BOARD_VALUES),
            (1, "disk", MAX_DISK_SERIALS),
        ] {
            if p[i].len() > max {
                return Err(FingerprintError::NotOneMachine {
                    component,
                    count: p[i].len(),
                    max,
                });
            }
        }
        Ok(())
    }

    /// What of this fingerprint can be bound without naming several machines: the mainboard
    /// component is dropped when it lists more than one value (which of them is the machine's
    /// cannot be told), and disk serials past the first [`MAX_DISK_SERIALS`] are dropped. For an
    /// issuer that must bind what it is given rather than refuse it (a paid order); the result
    /// may no longer [identify a machine](Self::identifies_machine).
    pub fn one_machine(self) -> Self {
        match self.0 {
            Repr::Opaque(_) => self,
            Repr::Parts(mut p) => {
                if p[2].len() > MAX_BOARD_VALUES {
                    p[2].clear();
                }
                p[1].truncate(MAX_DISK_SERIALS);
                Fingerprint(Repr::Parts(p))
            }
        }
    }

    /// The per-component values, or `None` for an opaque fingerprint.
    pub fn parts(&self) -> Option<&[Vec<String>; 4]> {
        match &self.0 {
            Repr::Parts(p) => Some(p),
            Repr::Opaque(_) => None,
        }
    }

    /// True for an opaque (not four-part) fingerprint.
    pub fn is_opaque(&self) -> bool {
        matches!(self.0, Repr::Opaque(_))
    }

    /// Whether a binding to this fingerprint can ever hold: an opaque value (matched exactly), or
    /// a four-part one with a disk or mainboard serial. MAC addresses are set at will and a CPU
    /// id is the same on every machine of a model, so those two never hold a binding on their
    /// own (see [`MatchPolicy`]); an issuer should not bind to a fingerprint without either.
    pub fn identifies_machine(&self) -> bool {
        match &self.0 {
            Repr::Opaque(_) => true,
            Repr::Parts(p) => STRONG.iter().any(|&i| !p[i].is_empty()),
        }
    }
}

/// The components that identify a machine: disk and mainboard serials. MAC (0) and CPU id (3)
/// only support a match.
const STRONG: [usize; 2] = [DISK, BOARD];
const DISK: usize = 1;
const BOARD: usize = 2;

impl fmt::Display for Fingerprint {
    /// The marketplace form: `A,B|C||D`, or the opaque value as given.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Repr::Opaque(s) => f.write_str(s),
            Repr::Parts(parts) => {
                for (i, values) in parts.iter().enumerate() {
                    if i > 0 {
                        f.write_str("|")?;
                    }
                    for (j, v) in values.iter().enumerate() {
                        if j > 0 {
                            f.write_str(",")?;
                        }
                        f.write_str(v)?;
                    }
                }
                Ok(())
            }
        }
    }
}

/// How many bound components must still match for a binding to hold.
///
/// Whatever the policy, a four-part binding holds only when it is *anchored*, which names one
/// machine:
/// - when a mainboard value was bound, more than half of the bound mainboard values must be the
///   device's (a binding made on one machine has one, so that one must match);
/// - with no mainboard value bound, more than half of the bound disk serials must be the
///   device's.
///
/// So any two machines that both satisfy one binding share a bound mainboard value or a bound
/// disk serial (two majorities of one set meet), which distinct real machines never do: one
/// binding, one machine, however many values the fingerprint listed when it was bound. The MAC
/// address (set at will) and the CPU id (shared by every machine of one model) never anchor a
/// binding. A binding made with neither serial can therefore never hold, which is why issuers
/// refuse to make one ([`Fingerprint::identifies_machine`]).
///
/// What follows for a customer: with the mainboard bound, a new NIC, new disks or a new CPU keep
/// the binding; a new mainboard value makes a new machine. On Linux that value is
/// `/etc/machine-id`, so reinstalling the OS is a new machine too (a transfer, within the
/// catalog's budget). With no mainboard bound, replacing half or more of the bound disks does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum MatchPolicy {
    /// At least two of the components that were non-empty at binding time (all of them when
    /// fewer than two were), one of them the disk or mainboard serial: a new NIC alone never
    /// locks a customer out, nor does a new disk when the mainboard serial was bound too; a
    /// different machine with the same CPU model and a copied MAC does not match.
    #[default]
    Tolerant,
    /// Every component that was non-empty at binding time.
    All,
    /// At least this many (capped at the number bound).
    AtLeast(u8),
}

impl MatchPolicy {
    fn required(self, bound: u8) -> u8 {
        match self {
            MatchPolicy::Tolerant => bound.min(2),
            MatchPolicy::All => bound,
            MatchPolicy::AtLeast(n) => n.clamp(1, bound.max(1)),
        }
    }
}

/// The outcome of matching a device against a binding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MatchResult {
    /// Bound components the device still shares a value with.
    pub matched: u8,
    /// Components that were non-empty at binding time.
    pub bound: u8,
    /// How many the policy requires.
    pub required: u8,
    /// Whether the values that name one machine matched: a majority of the bound mainboard
    /// values, or with none bound a majority of the bound disk serials (see [`MatchPolicy`]); for
    /// an opaque binding, the whole value.
    pub anchored: bool,
}

impl MatchResult {
    /// Whether the binding holds.
    pub fn holds(&self) -> bool {
        self.matched >= self.required && self.required > 0 && self.anchored
    }
}

/// The device binding a token carries: salted short hashes, never raw values.
///
/// In the token it is one string, `b1.<salt>.<mac>.<disk>.<board>.<cpu>` with each component a
/// comma-separated list of hashes, or `o1.<salt>.<hash>` for an opaque fingerprint.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Binding {
    salt: [u8; SALT_LEN],
    hashes: BindingHashes,
}

#[derive(Clone, PartialEq, Eq, Debug)]
enum BindingHashes {
    Parts(PartHashes),
    Opaque([u8; OPAQUE_HASH_LEN]),
}

/// Up to [`MAX_VALUES_PER_COMPONENT`] hashes per component, held inline: decoding a binding
/// allocates nothing. Unused slots stay zero, so the derived equality compares the lists.
#[derive(Clone, Default, PartialEq, Eq)]
struct PartHashes {
    hashes: [[[u8; PART_HASH_LEN]; MAX_VALUES_PER_COMPONENT]; 4],
    lens: [u8; 4],
}

impl PartHashes {
    /// The hashes of component `i`.
    fn get(&self, i: usize) -> &[[u8; PART_HASH_LEN]] {
        &self.hashes[i][..usize::from(self.lens[i])]
    }

    /// Adds a hash to component `i`; false when it already holds the most allowed.
    fn push(&mut self, i: usize, h: [u8; PART_HASH_LEN]) -> bool {
        let n = usize::from(self.lens[i]);
        if n == MAX_VALUES_PER_COMPONENT {
            return false;
        }
        self.hashes[i][n] = h;
        self.lens[i] += 1;
        true
    }

    fn iter(&self) -> impl Iterator<Item = &[[u8; PART_HASH_LEN]]> {
        (0..4).map(|i| self.get(i))
    }
}

impl fmt::Debug for PartHashes {
    /// As the four lists they are: `[[h, …], [], …]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&[self.get(0), self.get(1), self.get(2), self.get(3)], f)
    }
}

impl Binding {
    /// Binds to `fingerprint`, hashing each value with `salt`.
    ///
    /// The issuer picks the salt; deriving it from the license id keeps re-minting
    /// deterministic, so a repeated request yields the same token.
    pub fn new(fingerprint: &Fingerprint, salt: [u8; SALT_LEN]) -> Self {
        let hashes = match &fingerprint.0 {
            Repr::Opaque(v) => BindingHashes::Opaque(hash(&salt, 0xff, v)),
            Repr::Parts(parts) => {
                let mut hashes = PartHashes::default();
                for (i, values) in parts.iter().enumerate() {
                    for v in values.iter().take(MAX_VALUES_PER_COMPONENT) {
                        hashes.push(i, hash(&salt, i as u8, v));
                    }
                }
                BindingHashes::Parts(hashes)
            }
        };
        Binding { salt, hashes }
    }

    /// Matches `device` against this binding under `policy`.
    pub fn check(&self, device: &Fingerprint, policy: MatchPolicy) -> MatchResult {
        match (&self.hashes, &device.0) {
            (BindingHashes::Opaque(h), Repr::Opaque(v)) => {
                let ok = subtle::ConstantTimeEq::ct_eq(
                    &h[..],
                    &hash::<OPAQUE_HASH_LEN>(&self.salt, 0xff, v)[..],
                );
                let ok = bool::from(ok);
                MatchResult {
                    matched: u8::from(ok),
                    bound: 1,
                    required: 1,
                    anchored: ok,
                }
            }
            (BindingHashes::Opaque(_), Repr::Parts(_)) => MatchResult {
                matched: 0,
                bound: 1,
                required: 1,
                anchored: false,
            },
            (BindingHashes::Parts(bound_parts), _) => {
                let bound = bound_parts.lens.iter().filter(|&&n| n > 0).count() as u8;
                let device_parts = device.parts();
                // Per component, how many of the bound hashes are among the device's.
                let hits: [usize; 4] = core::array::from_fn(|i| {
                    let hashes = bound_parts.get(i);
                    let Some(d) = device_parts else { return 0 };
                    if hashes.is_empty() {
                        return 0;
                    }
                    // One bit per bound hash (at most four) the device has: distinct bound
                    // hashes counted once, each device value hashed once, nothing allocated
                    // on the verify path.
                    let mut seen = 0u8;
                    for v in &d[i] {
                        let h = hash::<PART_HASH_LEN>(&self.salt, i as u8, v);
                        if let Some(k) = hashes.iter().position(|b| *b == h) {
                            seen |= 1 << k;
                        }
                    }
                    seen.count_ones() as usize
                });
                MatchResult {
                    matched: hits.iter().filter(|&&h| h > 0).count() as u8,
                    bound,
                    required: policy.required(bound),
                    anchored: anchored(bound_parts, &hits),
                }
            }
        }
    }

    /// The salt the hashes were made with: it names the binding (see [`Binding::revocation_id`]).
    pub fn salt(&self) -> &[u8; SALT_LEN] {
        &self.salt
    }

    /// Which of the four components hold at least one value, or `None` for a binding to an
    /// opaque fingerprint: what an issuer can tell of a binding made on the machine.
    pub fn components(&self) -> Option<[bool; 4]> {
        self.value_counts().map(|n| n.map(|n| n > 0))
    }

    /// How many values each of the four components holds (at most
    /// [`MAX_VALUES_PER_COMPONENT`]), or `None` for a binding to an opaque fingerprint.
    pub fn value_counts(&self) -> Option<[u8; 4]> {
        match &self.hashes {
            BindingHashes::Opaque(_) => None,
            BindingHashes::Parts(p) => Some(p.lens),
        }
    }

    /// Whether a verifier built before the one-machine rule (which took any one bound disk or
    /// mainboard value as the anchor) could accept this binding on several machines: more than
    /// one mainboard value, or more than one disk serial. Such tokens are worth reissuing once
    /// the application ships a current verifier.
    pub fn spans_machines_in_old_verifiers(&self) -> bool {
        self.value_counts()
            .is_some_and(|n| usize::from(n[BOARD]) > 1 || usize::from(n[DISK]) > 1)
    }

    /// The revocation-list entry that revokes this binding of license `jti` and no other:
    /// `<jti>#<salt>`, the salt as in the token form. The issuer picks a fresh salt for every
    /// device it binds, so a replaced machine can be revoked while the license's other seats stay
    /// valid.
    pub fn revocation_id(&self, jti: &str) -> String {
        let mut s = String::with_capacity(jti.len() + 12);
        s.push_str(jti);
        s.push('#');
        s.push_str(&b64_encode(&self.salt));
        s
    }

    /// The token form of the binding.
    pub fn encode(&self) -> String {
        let mut s = String::new();
        match &self.hashes {
            BindingHashes::Opaque(h) => {
                s.push_str("o1.");
                s.push_str(&b64_encode(&self.salt));
                s.push('.');
                s.push_str(&b64_encode(h));
            }
            BindingHashes::Parts(parts) => {
                s.push_str("b1.");
                s.push_str(&b64_encode(&self.salt));
                for hashes in parts.iter() {
                    s.push('.');
                    for (j, h) in hashes.iter().enumerate() {
                        if j > 0 {
                            s.push(',');
                        }
                        s.push_str(&b64_encode(h));
                    }
                }
            }
        }
        s
    }

    /// Reads the token form; `None` when it is not exactly what [`Binding::encode`] writes.
    pub fn decode(s: &str) -> Option<Self> {
        let mut fields = s.as_bytes().split(|&b| b == b'.');
        let kind = fields.next()?;
        let salt: [u8; SALT_LEN] = b64_decode_array(fields.next()?)?;
        let hashes = match kind {
            b"o1" => BindingHashes::Opaque(b64_decode_array(fields.next()?)?),
            b"b1" => {
                let mut parts = PartHashes::default();
                for i in 0..4 {
                    let field = fields.next()?;
                    if field.is_empty() {
                        continue;
                    }
                    for h in field.split(|&b| b == b',') {
                        if !parts.push(i, b64_decode_array(h)?) {
                            return None;
                        }
                    }
                }
                if parts.lens == [0; 4] {
                    return None;
                }
                BindingHashes::Parts(parts)
            }
            _ => return None,
        };
        if fields.next().is_some() {
            return None;
        }
        Some(Binding { salt, hashes })
    }
}

impl Serialize for Binding {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.encode())
    }
}

impl<'de> Deserialize<'de> for Binding {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        /// Reads the binding from the string in place (a `String` would accept the same input
        /// but allocate).
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Binding;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Binding, E> {
                Binding::decode(v).ok_or_else(|| E::custom("malformed device binding"))
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Binding, E> {
                match core::str::from_utf8(v) {
                    Ok(s) => self.visit_str(s),
                    Err(_) => Err(E::invalid_value(serde::de::Unexpected::Bytes(v), &self)),
                }
            }
        }
        deserializer.deserialize_string(V)
    }
}

/// The anchor rule of [`MatchPolicy`]: a majority of the bound mainboard values, or with none
/// bound a majority of the bound disk serials. `hits` counts, per component, the bound hashes the
/// device has.
fn anchored(bound: &PartHashes, hits: &[usize; 4]) -> bool {
    let majority = |i: usize| {
        let n = bound.get(i).len();
        n > 0 && 2 * hits[i] > n
    };
    if bound.get(BOARD).is_empty() {
        majority(DISK)
    } else {
        majority(BOARD)
    }
}

/// The salted hash of one value of component `index` (0xff for an opaque fingerprint).
fn hash<const N: usize>(salt: &[u8; SALT_LEN], index: u8, value: &str) -> [u8; N] {
    let mut out = [0u8; N];
    // N is 6 or 12, valid BLAKE2b output sizes, so neither call can fail.
    if let Ok(mut h) = Blake2bVar::new(N) {
        h.update(DOMAIN);
        h.update(salt);
        h.update(&[index]);
        h.update(value.as_bytes());
        let _ = h.finalize_variable(&mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SALT: [u8; SALT_LEN] = *b"saltsalt";

    fn fp(s: &str) -> Fingerprint {
        Fingerprint::parse(s).unwrap()
    }

    #[test]
    fn parses_the_marketplace_example() {
        let f = fp("04:7C:16:5E:E3:5D|001B_444A_488B_5CEC.||BFEBFBFF00090672");
        let parts = f.parts().unwrap();
        assert_eq!(parts[0], ["04:7C:16:5E:E3:5D"]);
        assert_eq!(parts[1], ["001B_444A_488B_5CEC."]);
        assert!(parts[2].is_empty());
        assert_eq!(parts[3], ["BFEBFBFF00090672"]);
        assert_eq!(
            f.to_string(),
            "04:7C:16:5E:E3:5D|001B_444A_488B_5CEC.||BFEBFBFF00090672"
        );
    }

    #[test]
    fn normalises_case_order_and_duplicates() {
        let f = fp(" b2:00:00:00:00:01 , a1:00:00:00:00:02,B2:00:00:00:00:01|d||c ");
        assert_eq!(f.to_string(), "A1:00:00:00:00:02,B2:00:00:00:00:01|D||C");
    }

    #[test]
    fn anything_else_is_opaque_and_exact() {
        let f = fp("8a6f0e6034e2b160e1");
        assert!(f.is_opaque());
        assert_eq!(f.to_string(), "8a6f0e6034e2b160e1");
        assert!(fp("a|b").is_opaque());
        assert!(fp("a|b|c|d|e").is_opaque());
    }

    #[test]
    fn refuses_empty_and_oversized() {
        assert_eq!(Fingerprint::parse(""), Err(FingerprintError::Empty));
        assert_eq!(
            Fingerprint::parse(" | , | | "),
            Err(FingerprintError::Empty)
        );
        let long = "A".repeat(MAX_LEN + 1);
        assert_eq!(
            Fingerprint::parse(&long),
            Err(FingerprintError::TooLong { len: MAX_LEN + 1 })
        );
    }

    #[test]
    fn one_changed_component_still_matches_two_do_not() {
        let bound = Binding::new(&fp("M1|D1|B1|C1"), SALT);
        let check = |s: &str| bound.check(&fp(s), MatchPolicy::Tolerant).holds();
        assert!(check("M1|D1|B1|C1"));
        assert!(check("M9|D1|B1|C1"), "new NIC");
        assert!(check("M1,M9|D9|B1|C1"), "new disk, extra NIC");
        assert!(check("M9|D9|B1|C1"), "two of four still match");
        assert!(
            !check("M9|D9|B9|C1"),
            "a different machine with the same CPU model"
        );
        assert!(!check("M1|||"), "only one component left");
        assert!(!bound.check(&fp("M9|D1|B1|C1"), MatchPolicy::All).holds());
        assert!(
            !check("8a6f0e"),
            "opaque device against a four-part binding"
        );
    }

    #[test]
    fn three_bound_components_tolerate_one_change() {
        // The marketplace's own example has three non-empty components.
        let bound = Binding::new(&fp("M1|D1||C1"), SALT);
        let check = |s: &str| bound.check(&fp(s), MatchPolicy::Tolerant).holds();
        assert!(check("M2|D1||C1"), "new NIC");
        assert!(check("M1|D1|B1|C9"), "new CPU");
        assert!(
            !check("M1|D2|B1|C1"),
            "the disk was the only serial bound: MAC and CPU id alone do not hold"
        );
        assert!(!check("M2|D2||C1"));
    }

    #[test]
    fn a_single_bound_component_must_match_itself() {
        let bound = Binding::new(&fp("||B1|"), SALT);
        let r = bound.check(&fp("M1|D1|B1|C1"), MatchPolicy::Tolerant);
        assert_eq!(
            r,
            MatchResult {
                matched: 1,
                bound: 1,
                required: 1,
                anchored: true,
            }
        );
        assert!(r.holds());
        assert!(
            !bound
                .check(&fp("M1|D1|B2|C1"), MatchPolicy::Tolerant)
                .holds()
        );
    }

    #[test]
    fn mac_and_cpu_id_alone_or_together_never_hold_a_binding() {
        // A binding on CPU ids only (the attack: every machine of that CPU model matched).
        let cpu_only = Binding::new(&fp("|||178BFBFF00A10F11,BFEBFBFF000906EA"), SALT);
        let r = cpu_only.check(&fp("M7|D7|B7|BFEBFBFF000906EA"), MatchPolicy::Tolerant);
        assert_eq!((r.matched, r.required, r.anchored), (1, 1, false));
        assert!(!r.holds());
        let weak = Binding::new(&fp("M1|||C1"), SALT);
        for policy in [
            MatchPolicy::Tolerant,
            MatchPolicy::All,
            MatchPolicy::AtLeast(1),
        ] {
            assert!(!weak.check(&fp("M1|||C1"), policy).holds(), "{policy:?}");
        }
        // A full binding: a copied MAC plus the same CPU model is another machine.
        let full = Binding::new(&fp("M1|D1|B1|C1"), SALT);
        assert!(
            !full
                .check(&fp("M1|D9|B9|C1"), MatchPolicy::Tolerant)
                .holds()
        );
        assert!(
            !full
                .check(&fp("M1|D9|B9|C1"), MatchPolicy::AtLeast(2))
                .holds()
        );
        assert!(
            !full
                .check(&fp("M9|D1|B9|C1"), MatchPolicy::Tolerant)
                .holds(),
            "with the mainboard bound, a new mainboard value is a new machine"
        );
        assert!(fp("M|D||").identifies_machine() && fp("||B|").identifies_machine());
        assert!(!fp("M|||C").identifies_machine());
        assert!(fp("8a6f0e").identifies_machine());
    }

    /// Hardening round 3: one activation listing four machines' disks and four other machines'
    /// mainboards bound all eight under the old "any value" anchor.
    #[test]
    fn a_fingerprint_pooling_eight_machines_binds_none_of_them() {
        let pooled = fp(
            "02:00:00:00:00:01,02:00:00:00:00:02,02:00:00:00:00:03,02:00:00:00:00:04|DISK-1,DISK-2,DISK-3,DISK-4|BOARD-5,BOARD-6,BOARD-7,BOARD-8|BFEBFBFF000906EA",
        );
        let b = Binding::new(&pooled, SALT);
        for i in 1..=4 {
            let m = fp(&alloc::format!(
                "0A:00:00:00:00:0{i}|DISK-{i}|OWN-{i}|BFEBFBFF000906EA"
            ));
            assert!(!b.check(&m, MatchPolicy::Tolerant).holds(), "machine {i}");
            assert!(!b.check(&m, MatchPolicy::AtLeast(1)).holds(), "machine {i}");
        }
        for i in 5..=8 {
            let m = fp(&alloc::format!(
                "0A:00:00:00:00:0{i}|OWN-{i}|BOARD-{i}|BFEBFBFF000906EA"
            ));
            assert!(!b.check(&m, MatchPolicy::Tolerant).holds(), "machine {i}");
        }
        assert!(b.spans_machines_in_old_verifiers());
        assert_eq!(
            pooled.check_one_machine(),
            Err(FingerprintError::NotOneMachine {
                component: "board",
                count: 4,
                max: 1
            })
        );
        // Bound as a paid order must be: the mainboards dropped, a majority of the disks needed.
        let kept = pooled.clone().one_machine();
        assert_eq!(kept.parts().unwrap()[2], Vec::<String>::new());
        let b = Binding::new(&kept, SALT);
        assert!(
            !b.check(&fp("M|DISK-1|OWN|BFEBFBFF000906EA"), MatchPolicy::Tolerant)
                .holds()
        );
        assert!(b.check(&kept, MatchPolicy::Tolerant).holds());
    }

    #[test]
    fn one_value_each_binds_one_machine() {
        // Binding D|B was held by (D, B') and by (D', B) under the old rule.
        let b = Binding::new(&fp("M|D|B|C"), SALT);
        assert!(b.check(&fp("M|D2|B|C"), MatchPolicy::Tolerant).holds());
        assert!(!b.check(&fp("M|D|B2|C"), MatchPolicy::Tolerant).holds());
        assert!(!b.spans_machines_in_old_verifiers());
        // With no mainboard, more than half of the disks must match.
        let b = Binding::new(&fp("M|D1,D2,D3||C"), SALT);
        assert!(b.check(&fp("M|D1,D2,X||C"), MatchPolicy::Tolerant).holds());
        assert!(!b.check(&fp("M|D1,X,Y||C"), MatchPolicy::Tolerant).holds());
        let b = Binding::new(&fp("M|D1,D2||C"), SALT);
        assert!(
            !b.check(&fp("M|D1||C"), MatchPolicy::Tolerant).holds(),
            "half is not more than half"
        );
    }

    #[test]
    fn a_machine_lists_one_mainboard_and_a_bounded_number_of_disks() {
        let disks: Vec<String> = (0..=MAX_DISK_SERIALS)
            .map(|i| alloc::format!("D{i:02}"))
            .collect();
        let many = fp(&alloc::format!("M|{}|B|C", disks.join(",")));
        assert_eq!(
            many.check_one_machine(),
            Err(FingerprintError::NotOneMachine {
                component: "disk",
                count: MAX_DISK_SERIALS + 1,
                max: MAX_DISK_SERIALS
            })
        );
        let kept = many.one_machine();
        assert_eq!(kept.check_one_machine(), Ok(()));
        assert_eq!(kept.parts().unwrap()[1].len(), MAX_DISK_SERIALS);
        assert_eq!(kept.parts().unwrap()[2], ["B"]);
        assert_eq!(fp("M|D1,D2|B|C").check_one_machine(), Ok(()));
        assert_eq!(fp("8a6f0e").check_one_machine(), Ok(()));
    }

    #[test]
    fn values_do_not_match_across_components() {
        let bound = Binding::new(&fp("X|Y||"), SALT);
        assert!(!bound.check(&fp("Y|X||"), MatchPolicy::Tolerant).holds());
    }

    #[test]
    fn opaque_binding_matches_only_the_same_value() {
        let bound = Binding::new(&fp("8a6f0e6034e2"), SALT);
        assert!(
            bound
                .check(&fp("8a6f0e6034e2"), MatchPolicy::Tolerant)
                .holds()
        );
        assert!(
            !bound
                .check(&fp("8A6F0E6034E2"), MatchPolicy::Tolerant)
                .holds()
        );
        assert!(
            !bound
                .check(&fp("8a6f0e6034e2|||x"), MatchPolicy::Tolerant)
                .holds()
        );
    }

    #[test]
    fn binding_round_trips_and_never_holds_raw_values() {
        for raw in [
            "04:7C:16:5E:E3:5D|001B_444A_488B_5CEC.||BFEBFBFF00090672",
            "8a6f0e6034e2",
        ] {
            let b = Binding::new(&fp(raw), SALT);
            let text = b.encode();
            assert_eq!(Binding::decode(&text), Some(b));
            assert!(
                !text.contains("BFEBFBFF") && !text.contains("8a6f0e"),
                "{text}"
            );
        }
    }

    #[test]
    fn binding_decode_is_strict() {
        let good = Binding::new(&fp("M|D|B|C"), SALT).encode();
        assert!(Binding::decode(&good).is_some());
        for bad in [
            String::new(),
            good.replacen("b1", "b2", 1),
            alloc::format!("{good}."),
            alloc::format!("{good}.x"),
            good.replacen('.', "", 1),
            "b1.c2FsdHNhbHQ....".to_string(),
        ] {
            assert_eq!(Binding::decode(&bad), None, "{bad}");
        }
    }

    #[test]
    fn binding_keeps_at_most_four_values_per_component() {
        let many = "M1,M2,M3,M4,M5,M6|D||";
        let b = Binding::new(&fp(many), SALT);
        assert_eq!(b.encode().split('.').nth(2).unwrap().split(',').count(), 4);
        assert!(b.check(&fp(many), MatchPolicy::Tolerant).holds());
    }
}
