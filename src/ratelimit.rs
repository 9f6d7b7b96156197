//! Limits on requests that cost licd a call to the marketplace with the ISV's credentials: per
//! client address, and in total.
//!
//! Anyone can send `/v1/codes/activate` with a made-up code, and each new code costs an
//! activation call signed with the ISV's AK/SK. Without a limit per address, one client guessing
//! codes as fast as it can keeps every activation slot busy and real customers get `503`; with
//! it, each address has its own budget and a flood from one leaves the others theirs. A total
//! bounds what many addresses together can make licd send.
//!
//! Addresses are grouped as a network hands them out: an IPv4 address is one client, an IPv6
//! address counts by its /64 (one host or home network is given a whole /64, so per address
//! would give one attacker 2^64 budgets), and an IPv4-mapped IPv6 address as the IPv4 one.

use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{Quota, RateLimiter};

/// Distinct client groups remembered at most; past it, the groups idle long enough to be full
/// again are forgotten (they would be allowed anyway), so memory stays bounded.
const MAX_TRACKED: usize = 65_536;

/// How many requests a client, and everyone together, may send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Requests at once.
    pub burst: u32,
    /// Then one every this long.
    pub every: Duration,
}

/// The per-client and total limits of one kind of request.
#[derive(Debug)]
pub struct ClientLimits {
    per_client: governor::DefaultKeyedRateLimiter<IpAddr>,
    total: governor::DefaultDirectRateLimiter,
    clock: DefaultClock,
}

impl ClientLimits {
    /// Limits of `per_client` for each client group and `total` for all of them.
    pub fn new(per_client: Budget, total: Budget) -> Self {
        ClientLimits {
            per_client: RateLimiter::keyed(quota(per_client)),
            total: RateLimiter::direct(quota(total)),
            clock: DefaultClock::default(),
        }
    }

    /// Whether a request from `client` may go ahead now: `Err` with the whole seconds to wait
    /// (at least 1) when its group, or everyone together, is over budget. A refused request
    /// does not use up the total.
    pub fn check(&self, client: IpAddr) -> Result<(), u32> {
        if self.per_client.len() > MAX_TRACKED {
            self.per_client.retain_recent();
        }
        let now = self.clock.now();
        let wait = |n: governor::NotUntil<_>| {
            u32::try_from(n.wait_time_from(now).as_secs().saturating_add(1)).unwrap_or(u32::MAX)
        };
        self.per_client.check_key(&group(client)).map_err(wait)?;
        self.total.check().map_err(wait)
    }
}

/// A budget per key (a license id): what one customer's requests may cost, whatever the
/// addresses they come from.
#[derive(Debug)]
pub struct KeyedLimits {
    per_key: governor::DefaultKeyedRateLimiter<String>,
    clock: DefaultClock,
}

impl KeyedLimits {
    /// A limit of `budget` for each key.
    pub fn new(budget: Budget) -> Self {
        KeyedLimits {
            per_key: RateLimiter::keyed(quota(budget)),
            clock: DefaultClock::default(),
        }
    }

    /// Whether one more request for `key` may go ahead now: `Err` with the whole seconds to
    /// wait (at least 1) when it is over budget.
    pub fn check(&self, key: &str) -> Result<(), u32> {
        if self.per_key.len() > MAX_TRACKED {
            self.per_key.retain_recent();
        }
        let now = self.clock.now();
        self.per_key.check_key(&key.to_string()).map_err(|n| {
            u32::try_from(n.wait_time_from(now).as_secs().saturating_add(1)).unwrap_or(u32::MAX)
        })
    }
}

fn quota(b: Budget) -> Quota {
    let burst = NonZeroU32::new(b.burst).unwrap_or(NonZeroU32::MIN);
    Quota::with_period(b.every.max(Duration::from_millis(1)))
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
        .allow_burst(burst)
}

/// The group a client address is counted in: itself for IPv4, its /64 for IPv6.
pub fn group(client: IpAddr) -> IpAddr {
    match client {
        IpAddr::V4(_) => client,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ipv6_counts_by_its_64_and_mapped_ipv4_as_ipv4() {
        assert_eq!(group(ip("2001:db8:1:2:aaaa::1")), ip("2001:db8:1:2::"));
        assert_eq!(
            group(ip("2001:db8:1:2:ffff:ffff:ffff:ffff")),
            group(ip("2001:db8:1:2::7"))
        );
        assert_ne!(group(ip("2001:db8:1:3::1")), group(ip("2001:db8:1:2::1")));
        assert_eq!(group(ip("::ffff:192.0.2.7")), ip("192.0.2.7"));
        assert_eq!(group(ip("192.0.2.7")), ip("192.0.2.7"));
    }

    #[test]
    fn one_client_over_budget_leaves_the_others_theirs() {
        let minute = Duration::from_secs(60);
        let l = ClientLimits::new(
            Budget {
                burst: 3,
                every: minute,
            },
            Budget {
                burst: 100,
                every: minute,
            },
        );
        for _ in 0..3 {
            assert_eq!(l.check(ip("192.0.2.1")), Ok(()));
        }
        let wait = l.check(ip("192.0.2.1")).unwrap_err();
        assert!((1..=60).contains(&wait), "{wait}");
        // Another address of the attacker's /64 shares its budget; another client does not.
        for _ in 0..3 {
            assert_eq!(l.check(ip("2001:db8::1")), Ok(()));
        }
        assert!(l.check(ip("2001:db8::2")).is_err());
        assert_eq!(l.check(ip("192.0.2.2")), Ok(()));
    }

    #[test]
    fn everyone_together_is_bounded_too() {
        let minute = Duration::from_secs(60);
        let l = ClientLimits::new(
            Budget {
                burst: 10,
                every: minute,
            },
            Budget {
                burst: 4,
                every: minute,
            },
        );
        for i in 0..4 {
            assert_eq!(l.check(ip(&format!("192.0.2.{i}"))), Ok(()));
        }
        assert!(l.check(ip("192.0.2.200")).is_err());
    }
}
