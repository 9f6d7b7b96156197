//! Site servers: seats of a floating license allotted to a licd running in site mode on a
//! customer's network that never reaches the internet, decided as a pure function of the
//! license's sites, its online leases in use and the time.
//!
//! **The invariant.** At no instant do a license's online leases and the seats of its sites
//! add up to more than its seats. A site holds its seats from its allotment until the earlier
//! of the allotment's expiry and, once returned, the end of the last lease it signed (the
//! receipt states it: those leases stay valid offline until then). [`allot`] gives a site
//! seats only from what neither online leases nor other sites hold at that instant, and online
//! leases are granted from what the sites leave ([`seats_held`]); both decisions run in the
//! license's step, so they are serialised.
//!
//! A site is named by its key: a new allotment for the same key supersedes the one before (it
//! stops counting at once), so one request submitted twice never holds seats twice.

use client_verifier::Timestamp;
use serde::{Deserialize, Serialize};

use super::{TRANSFER_WINDOW_DAYS, Transfers};

/// Most superseded allotments a site record remembers (a site renews monthly or so).
pub const MAX_SUPERSEDED: usize = 16;

/// Most site records a license keeps: the live ones and those returned within the transfer
/// window, oldest returned dropped first beyond that.
pub const MAX_SITE_RECORDS: usize = 64;

/// One site server's allotment of a license's seats.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Site {
    /// The site key's id (PASERK `k4.pid.…`): names the site.
    pub id: String,
    /// The site public key (PASERK `k4.public.…`).
    pub key: String,
    /// The site server's binding, encoded.
    pub binding: String,
    /// The current allotment's id (its token's `jti`).
    pub allotment: String,
    /// The allotments this one replaced since the site last gave its seats back, newest last:
    /// the site may still run one of them (the request was answered again, by anyone who
    /// held it), and its receipt then names that one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub superseded: Vec<String>,
    /// Seats allotted.
    pub seats: u32,
    /// When the current allotment was signed.
    pub allotted: Timestamp,
    /// When the site got its first allotment (renewals keep it): a transfer counts from then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<Timestamp>,
    /// When it ends.
    pub expires: Timestamp,
    /// Whether the site's first allotment was a transfer (seats given back by another site
    /// and taken again).
    #[serde(default)]
    pub transfer: bool,
    /// When the site gave its seats back (a receipt).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub returned: Option<Timestamp>,
    /// When the last lease it signed ends, from its receipt: its seats count until then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leases_end: Option<Timestamp>,
}

impl Site {
    /// Whether the site holds its seats at `at`.
    pub fn holds_seats(&self, at: Timestamp) -> bool {
        let until = match (self.returned, self.leases_end) {
            (None, _) => self.expires,
            (Some(_), Some(end)) => end.min(self.expires),
            (Some(r), None) => r.min(self.expires),
        };
        at < until
    }

    /// Whether the site still has its allotment (not given back).
    pub fn is_live(&self) -> bool {
        self.returned.is_none()
    }
}

/// Seats the license's sites hold at `at`, leaving out the site `except` (the one asking).
pub fn seats_held(sites: &[Site], at: Timestamp, except: Option<&str>) -> u32 {
    sites
        .iter()
        .filter(|s| Some(s.id.as_str()) != except && s.holds_seats(at))
        .map(|s| s.seats)
        .fold(0u32, u32::saturating_add)
}

/// Where a license stands with site transfers: sites given back, and sites allotted since.
pub fn transfers(sites: &[Site], limit: u32, at: Timestamp) -> Transfers {
    let since = at.add_secs(-TRANSFER_WINDOW_DAYS * client_verifier::DAY);
    let count = |f: &dyn Fn(&Site) -> bool| {
        u32::try_from(sites.iter().filter(|s| f(s)).count()).unwrap_or(u32::MAX)
    };
    Transfers {
        used: count(&|s| s.transfer && s.since.unwrap_or(s.allotted) > since),
        limit,
        pending: count(&|s| s.returned.is_some()).saturating_sub(count(&|s| s.transfer)),
    }
}

/// Why an allotment was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllotRefused {
    /// Fewer seats are left than asked (or none).
    NotEnough {
        /// Seats asked for (0: all that are left).
        asked: u32,
        /// Seats neither online leases nor other sites hold.
        left: u32,
    },
    /// A new site after one was given back is a transfer, and none is left this year.
    TransfersExhausted {
        /// Used in the window.
        used: u32,
        /// The product's `transfers_per_year`.
        limit: u32,
    },
}

/// What [`allot`] grants: the seats, and whether taking them is a transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allotted {
    /// Seats given to the site.
    pub seats: u32,
    /// Whether this is a new site after another gave its seats back.
    pub transfer: bool,
}

/// The seats the site `site_id` gets when it asks for `asked` (0: all that are left) of a
/// license with `quantity` seats, `leases_in_use` of them held by online leases, at `at`.
/// The site's own earlier allotment does not count against it (the new one supersedes it).
pub fn allot(
    sites: &[Site],
    quantity: u32,
    leases_in_use: u32,
    site_id: &str,
    asked: u32,
    transfers_per_year: u32,
    at: Timestamp,
) -> Result<Allotted, AllotRefused> {
    let left = quantity
        .saturating_sub(leases_in_use)
        .saturating_sub(seats_held(sites, at, Some(site_id)));
    let seats = if asked == 0 { left } else { asked };
    if seats == 0 || seats > left {
        return Err(AllotRefused::NotEnough { asked, left });
    }
    let known = sites.iter().any(|s| s.id == site_id && s.is_live());
    let t = transfers(sites, transfers_per_year, at);
    let transfer = !known && t.next_is_transfer();
    if transfer && !t.may_take() {
        return Err(AllotRefused::TransfersExhausted {
            used: t.used,
            limit: t.limit,
        });
    }
    Ok(Allotted { seats, transfer })
}

/// Records `site` (a new allotment) among `sites`: it replaces the live record of the same
/// site (keeping when it began and whether that was a transfer), and the oldest returned records past the transfer window go beyond
/// [`MAX_SITE_RECORDS`].
pub fn record(sites: &mut Vec<Site>, mut site: Site, at: Timestamp) {
    if let Some(before) = sites.iter().find(|s| s.id == site.id && s.is_live()) {
        site.since = Some(before.since.unwrap_or(before.allotted));
        site.transfer |= before.transfer;
        site.superseded = before.superseded.clone();
        site.superseded.push(before.allotment.clone());
        let extra = site.superseded.len().saturating_sub(MAX_SUPERSEDED);
        site.superseded.drain(..extra);
    }
    sites.retain(|s| !(s.id == site.id && s.is_live()));
    sites.push(site);
    let since = at.add_secs(-TRANSFER_WINDOW_DAYS * client_verifier::DAY);
    while sites.len() > MAX_SITE_RECORDS {
        let Some(i) = sites
            .iter()
            .position(|s| s.returned.is_some_and(|r| r < since) && !s.holds_seats(at))
            .or_else(|| {
                sites
                    .iter()
                    .position(|s| !s.is_live() && !s.holds_seats(at))
            })
        else {
            break;
        };
        sites.remove(i);
    }
}

/// What a site receipt naming `allotment`, signed by site `site_id`, gives back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiptTarget {
    /// The live record at this index: the allotment is its current one, or one it superseded
    /// since the site last gave its seats back.
    Live(usize),
    /// The record at this index, given back already.
    Returned(usize),
    /// An allotment of this site from before it last gave its seats back: nothing.
    Stale,
    /// No allotment of this site.
    Unknown,
}

/// Finds what a receipt of site `site_id` naming `allotment` is for ([`ReceiptTarget`]).
pub fn receipt_target(sites: &[Site], site_id: &str, allotment: &str) -> ReceiptTarget {
    let names = |s: &Site| s.allotment == allotment || s.superseded.iter().any(|a| a == allotment);
    let mine = |s: &&Site| s.id == site_id;
    if let Some(i) = sites
        .iter()
        .position(|s| mine(&s) && s.is_live() && names(s))
    {
        return ReceiptTarget::Live(i);
    }
    if let Some(i) = sites
        .iter()
        .rposition(|s| mine(&s) && !s.is_live() && names(s))
    {
        return ReceiptTarget::Returned(i);
    }
    if sites.iter().any(|s| mine(&s)) {
        ReceiptTarget::Stale
    } else {
        ReceiptTarget::Unknown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> Timestamp {
        Timestamp::from_unix(1_800_000_000 + s)
    }

    fn site(id: &str, seats: u32, expires: i64) -> Site {
        Site {
            id: id.into(),
            key: format!("key-{id}"),
            binding: "b".into(),
            allotment: format!("{id}-1"),
            superseded: Vec::new(),
            seats,
            allotted: t(0),
            since: None,
            expires: t(expires),
            transfer: false,
            returned: None,
            leases_end: None,
        }
    }

    #[test]
    fn sites_and_online_leases_never_share_a_seat() {
        let sites = vec![site("a", 3, 1000)];
        // 10 seats, 4 online leases, site a holds 3: 3 left for site b.
        assert_eq!(
            allot(&sites, 10, 4, "b", 4, 0, t(10)),
            Err(AllotRefused::NotEnough { asked: 4, left: 3 })
        );
        assert_eq!(allot(&sites, 10, 4, "b", 0, 0, t(10)).unwrap().seats, 3);
        // Site a asking again does not count its own allotment against itself.
        assert_eq!(allot(&sites, 10, 4, "a", 0, 0, t(10)).unwrap().seats, 6);
        // Once its allotment expired, site a holds nothing.
        assert_eq!(seats_held(&sites, t(1000), None), 0);
        assert_eq!(
            allot(&sites, 10, 10, "b", 0, 0, t(10)),
            Err(AllotRefused::NotEnough { asked: 0, left: 0 })
        );
    }

    #[test]
    fn a_returned_site_holds_its_seats_until_its_last_lease_ends() {
        let mut a = site("a", 3, 1000);
        a.returned = Some(t(100));
        a.leases_end = Some(t(400));
        assert!(a.holds_seats(t(399)) && !a.holds_seats(t(400)));
        a.leases_end = Some(t(5000));
        assert!(!a.holds_seats(t(1000)), "never past the allotment");
    }

    #[test]
    fn a_new_site_after_a_return_is_a_transfer_within_the_limit() {
        let mut a = site("a", 3, 1000);
        a.returned = Some(t(50));
        let sites = vec![a];
        let got = allot(&sites, 5, 0, "b", 0, 1, t(60)).unwrap();
        assert_eq!(
            got,
            Allotted {
                seats: 5,
                transfer: true
            }
        );
        assert_eq!(
            allot(&sites, 5, 0, "b", 0, 0, t(60)),
            Err(AllotRefused::TransfersExhausted { used: 0, limit: 0 })
        );
        // Taken again once: the next return-and-allot needs another transfer.
        let mut sites = sites;
        let mut b = site("b", 5, 1000);
        b.transfer = true;
        b.allotted = t(60);
        record(&mut sites, b, t(60));
        assert_eq!(transfers(&sites, 1, t(61)).used, 1);
        assert!(!transfers(&sites, 1, t(61)).next_is_transfer());
    }

    #[test]
    fn a_new_allotment_replaces_the_site_record() {
        let mut sites = vec![site("a", 3, 1000), site("b", 1, 1000)];
        let mut again = site("a", 2, 2000);
        again.allotment = "a-2".into();
        record(&mut sites, again, t(10));
        assert_eq!(sites.len(), 2);
        assert_eq!(
            sites[1].since,
            Some(t(0)),
            "a renewal keeps when the site began"
        );
        assert_eq!(seats_held(&sites, t(10), None), 3);
        assert_eq!(seats_held(&sites, t(1500), None), 2);
    }

    #[test]
    fn a_receipt_gives_back_the_live_site_whichever_of_its_allotments_it_names() {
        let mut sites = vec![site("a", 3, 1000)];
        // Answered again (a replayed request): a-2 supersedes a-1, which the site still runs.
        let mut again = site("a", 3, 1000);
        again.allotment = "a-2".into();
        record(&mut sites, again, t(10));
        assert_eq!(receipt_target(&sites, "a", "a-1"), ReceiptTarget::Live(0));
        assert_eq!(receipt_target(&sites, "a", "a-2"), ReceiptTarget::Live(0));
        assert_eq!(receipt_target(&sites, "b", "a-1"), ReceiptTarget::Unknown);
        // Given back, then allotted anew: a receipt of the old generation frees nothing new.
        sites[0].returned = Some(t(20));
        assert_eq!(
            receipt_target(&sites, "a", "a-1"),
            ReceiptTarget::Returned(0)
        );
        let mut anew = site("a", 2, 2000);
        anew.allotment = "a-3".into();
        record(&mut sites, anew, t(30));
        assert!(sites.iter().any(|s| s.is_live() && s.superseded.is_empty()));
        assert_eq!(
            receipt_target(&sites, "a", "a-1"),
            ReceiptTarget::Returned(0)
        );
        assert_eq!(receipt_target(&sites, "a", "a-3"), ReceiptTarget::Live(1));
        assert_eq!(receipt_target(&sites, "a", "a-9"), ReceiptTarget::Stale);
    }
}
