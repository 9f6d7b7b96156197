//! Floating licenses: who holds which seat, decided as a pure function of the leases a
//! license has and the time.
//!
//! **The invariant.** At no instant do more leases hold a seat of a license than it has seats.
//! A lease holds its seat from its grant until the earliest of its expiry and, once released,
//! the release time plus the product's linger. A force release does not free the seat early
//! (the program may still be running on its lease until it expires): it only stops renewals.
//! [`decide`] grants a new lease at `now` only when fewer than `seats` leases hold a seat at
//! `now`; since holding only ever ends (renewals extend a lease that still holds, and a lease
//! that stopped holding is never renewed, [`renew`]), the set of holders at any later instant is
//! a subset of those at `now` plus the new one. So the invariant holds at every instant after
//! each decision, given that decisions on one license are serialised and made on one clock
//! (the store's step, and on PostgreSQL the database's clock).

use client_verifier::Timestamp;
use serde::{Deserialize, Serialize};

/// One lease: seat `seat` of license `license_id`, held by `instance` on the machine `binding`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// The lease id (random; the `jti` of its tokens).
    pub id: String,
    /// The license.
    pub license_id: String,
    /// The license's product (for the metrics of leases in use per product).
    #[serde(default)]
    pub product: String,
    /// The seat, from 0.
    pub seat: u32,
    /// The machine's binding, encoded ([`client_verifier::Binding::encode`]).
    pub binding: String,
    /// The running program, as it named itself.
    pub instance: String,
    /// When it was first granted.
    pub granted: Timestamp,
    /// When it ends unless renewed.
    pub expires: Timestamp,
    /// When the program gave it back.
    pub released: Option<Timestamp>,
    /// When an operator took it back: renewals are refused from then on.
    pub force_released: Option<Timestamp>,
    /// Borrowed for offline use (held until returned or expired).
    pub borrowed: bool,
}

impl Lease {
    /// Whether the lease holds its seat at `now`, with `linger` seconds of a released seat
    /// still counted.
    pub fn holds_seat(&self, now: Timestamp, linger: i64) -> bool {
        let until = match self.released {
            Some(at) => self.expires.min(at.add_secs(linger)),
            None => self.expires,
        };
        now < until
    }

    /// When the seat it holds becomes free (as [`Lease::holds_seat`] counts it).
    pub fn frees_at(&self, linger: i64) -> Timestamp {
        match self.released {
            Some(at) => self.expires.min(at.add_secs(linger)),
            None => self.expires,
        }
    }

    /// Whether this is the lease of `instance` on `binding` still in force for it: not given
    /// back, not taken back, not expired.
    fn is_live_for(&self, binding: &str, instance: &str, now: Timestamp) -> bool {
        self.binding == binding
            && self.instance == instance
            && self.released.is_none()
            && self.force_released.is_none()
            && now < self.expires
    }
}

/// What a lease request gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The same program on the same machine holds a live lease: that one (the caller renews
    /// it), so a restarted container does not take a second seat.
    Existing(Lease),
    /// A new lease may be granted on seat `seat` (the lowest seat no lease holds).
    Grant {
        /// The seat.
        seat: u32,
    },
    /// Every seat is held.
    Full {
        /// The license's seats.
        seats: u32,
        /// Leases holding a seat now.
        in_use: u32,
        /// When the first of them frees its seat.
        next_free_at: Timestamp,
    },
}

/// Leases holding a seat at `now`, per product, counting a released lease until its expiry
/// (the linger is a license's own: this is for metrics, not decisions).
pub fn in_use_by_product<'a>(
    leases: impl IntoIterator<Item = &'a Lease>,
    now: Timestamp,
) -> std::collections::BTreeMap<String, u64> {
    let mut counts = std::collections::BTreeMap::new();
    for l in leases {
        if l.released.is_none() && now < l.expires {
            *counts.entry(l.product.clone()).or_default() += 1;
        }
    }
    counts
}

/// Seats in use and when the next one frees, at `now` (for `/v1/leases/status` and refusals).
pub fn occupancy(leases: &[Lease], now: Timestamp, linger: i64) -> (u32, Option<Timestamp>) {
    let holding = leases.iter().filter(|l| l.holds_seat(now, linger));
    let in_use = u32::try_from(holding.clone().count()).unwrap_or(u32::MAX);
    (in_use, holding.map(|l| l.frees_at(linger)).min())
}

/// Decides a lease request of `instance` on the machine `binding` at `now`, for a license with
/// `seats` seats whose leases are `leases`.
pub fn decide(
    leases: &[Lease],
    seats: u32,
    binding: &str,
    instance: &str,
    now: Timestamp,
    linger: i64,
) -> Decision {
    if let Some(l) = leases
        .iter()
        .find(|l| l.is_live_for(binding, instance, now))
    {
        return Decision::Existing(l.clone());
    }
    let (in_use, next_free_at) = occupancy(leases, now, linger);
    if in_use >= seats {
        return Decision::Full {
            seats,
            in_use,
            next_free_at: next_free_at.unwrap_or(now),
        };
    }
    let taken: std::collections::BTreeSet<u32> = leases
        .iter()
        .filter(|l| l.holds_seat(now, linger))
        .map(|l| l.seat)
        .collect();
    let seat = (0..).find(|s| !taken.contains(s)).unwrap_or(0);
    Decision::Grant { seat }
}

/// Why a renewal is refused: each is final for that lease (lease a seat again).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RenewRefused {
    /// The program gave it back.
    Released,
    /// An operator took it back.
    ForceReleased,
    /// It expired: its seat may be someone else's now.
    Expired,
}

/// The lease `l` renewed at `now` to expire at `until` (never earlier than it did): refused
/// once it stopped holding its seat, so a renewal never brings back a seat another lease may
/// hold.
pub fn renew(l: &Lease, now: Timestamp, until: Timestamp) -> Result<Lease, RenewRefused> {
    if l.force_released.is_some() {
        return Err(RenewRefused::ForceReleased);
    }
    if l.released.is_some() {
        return Err(RenewRefused::Released);
    }
    if now >= l.expires {
        return Err(RenewRefused::Expired);
    }
    Ok(Lease {
        expires: l.expires.max(until),
        ..l.clone()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_unix(1_780_000_000 + secs)
    }

    fn lease(id: &str, seat: u32, binding: &str, instance: &str, granted: i64) -> Lease {
        Lease {
            id: id.into(),
            license_id: "lic".into(),
            product: "P".into(),
            seat,
            binding: binding.into(),
            instance: instance.into(),
            granted: at(granted),
            expires: at(granted + 600),
            released: None,
            force_released: None,
            borrowed: false,
        }
    }

    #[test]
    fn the_same_program_on_the_same_machine_gets_its_lease_back() {
        let held = vec![lease("a", 0, "m1", "cad:1", 0)];
        assert_eq!(
            decide(&held, 2, "m1", "cad:1", at(10), 0),
            Decision::Existing(held[0].clone())
        );
        // The same instance name on another machine is another lease.
        assert_eq!(
            decide(&held, 2, "m2", "cad:1", at(10), 0),
            Decision::Grant { seat: 1 }
        );
    }

    #[test]
    fn a_full_license_says_when_the_next_seat_frees() {
        let held = vec![lease("a", 0, "m1", "x", 0), lease("b", 1, "m2", "x", 100)];
        assert_eq!(
            decide(&held, 2, "m3", "x", at(200), 0),
            Decision::Full {
                seats: 2,
                in_use: 2,
                next_free_at: at(600)
            }
        );
        // Once the first expires, its seat is granted again, and the lowest free seat is used.
        assert_eq!(
            decide(&held, 2, "m3", "x", at(600), 0),
            Decision::Grant { seat: 0 }
        );
    }

    #[test]
    fn a_released_seat_lingers_and_a_force_released_one_holds_until_it_expires() {
        let mut released = lease("a", 0, "m1", "x", 0);
        released.released = Some(at(100));
        assert!(released.holds_seat(at(129), 30) && !released.holds_seat(at(130), 30));
        assert!(!released.holds_seat(at(100), 0), "no linger: free at once");
        let mut taken = lease("b", 1, "m2", "x", 0);
        taken.force_released = Some(at(100));
        assert!(taken.holds_seat(at(599), 0) && !taken.holds_seat(at(600), 0));
        assert_eq!(
            renew(&taken, at(200), at(800)),
            Err(RenewRefused::ForceReleased)
        );
        assert_eq!(
            renew(&released, at(200), at(800)),
            Err(RenewRefused::Released)
        );
        // A force-released lease is not handed back to its program as live.
        assert_eq!(
            decide(&[taken.clone()], 2, "m2", "x", at(200), 0),
            Decision::Grant { seat: 0 }
        );
    }

    #[test]
    fn an_expired_lease_is_not_renewed() {
        let l = lease("a", 0, "m1", "x", 0);
        assert_eq!(renew(&l, at(600), at(1200)), Err(RenewRefused::Expired));
        let renewed = renew(&l, at(300), at(900)).unwrap();
        assert_eq!(renewed.expires, at(900));
        // Never shortened.
        assert_eq!(renew(&l, at(300), at(400)).unwrap().expires, at(600));
    }

    /// One step of a random history on one license.
    #[derive(Debug, Clone)]
    enum Op {
        Lease { machine: u8, instance: u8 },
        Renew { which: usize },
        Release { which: usize },
        ForceRelease { which: usize },
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u8..6, 0u8..3).prop_map(|(machine, instance)| Op::Lease { machine, instance }),
            (0usize..64).prop_map(|which| Op::Renew { which }),
            (0usize..64).prop_map(|which| Op::Release { which }),
            (0usize..64).prop_map(|which| Op::ForceRelease { which }),
        ]
    }

    proptest! {
        /// Whatever happens, in whatever order, at no instant do more leases hold a seat than
        /// the license has, and no two leases holding at once share a seat.
        #[test]
        fn never_more_holders_than_seats(
            seats in 1u32..5,
            linger in prop_oneof![Just(0i64), 0i64..400],
            steps in proptest::collection::vec((op(), 0i64..240), 1..80),
        ) {
            let mut leases: Vec<Lease> = Vec::new();
            let mut now = 0i64;
            for (step, (op, gap)) in steps.into_iter().enumerate() {
                now += gap;
                let t = at(now);
                match op {
                    Op::Lease { machine, instance } => {
                        let (b, i) = (format!("m{machine}"), format!("i{instance}"));
                        match decide(&leases, seats, &b, &i, t, linger) {
                            Decision::Grant { seat } => {
                                let mut l = lease(&format!("l{step}"), seat, &b, &i, now);
                                l.expires = at(now + 600);
                                leases.push(l);
                            }
                            Decision::Existing(l) => prop_assert!(l.holds_seat(t, linger)),
                            Decision::Full { in_use, .. } => prop_assert_eq!(in_use, seats),
                        }
                    }
                    Op::Renew { which } if !leases.is_empty() => {
                        let k = which % leases.len();
                        if let Ok(l) = renew(&leases[k], t, at(now + 600)) {
                            leases[k] = l;
                        }
                    }
                    Op::Release { which } if !leases.is_empty() => {
                        let k = which % leases.len();
                        leases[k].released.get_or_insert(t);
                    }
                    Op::ForceRelease { which } if !leases.is_empty() => {
                        let k = which % leases.len();
                        leases[k].force_released.get_or_insert(t);
                    }
                    _ => {}
                }
                // Until the next step the leases do not change, and holding only ever ends: the
                // most holders between this step and the next are those of this instant.
                let holders: Vec<&Lease> =
                    leases.iter().filter(|l| l.holds_seat(t, linger)).collect();
                prop_assert!(holders.len() as u32 <= seats, "{} holders of {seats} seats", holders.len());
                let mut seen = std::collections::BTreeSet::new();
                for h in holders {
                    prop_assert!(seen.insert(h.seat), "seat {} held twice", h.seat);
                }
            }
        }
    }
}
