//! The connections a listener holds open, so that slow or idle clients cannot crowd out the
//! marketplace.
//!
//! Every connection is registered here while it lives. It is *busy* while a request whose body
//! has arrived in full is being answered, and *waiting* otherwise (idle between requests, or
//! still sending headers or body: the phases a hostile client can stretch). At the cap, a new
//! connection closes the oldest waiting one to make room, so a genuine request always gets in
//! and is answered; a connection left waiting longer than the idle timeout is closed by a
//! sweep. Header and body timeouts bound the phases themselves (`http::serve`).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// One open connection.
#[derive(Debug)]
pub(crate) struct Conn {
    busy: AtomicUsize,
    /// Milliseconds since the tracker's epoch at which the connection last became waiting.
    waiting_since: AtomicU64,
    epoch: Instant,
    kill: Notify,
}

impl Conn {
    /// Resolves when the tracker closes this connection to make room, or for idling too long.
    pub(crate) async fn closed(&self) {
        self.kill.notified().await;
    }

    /// Marks a request in progress (its body is in); the guard marks it done when dropped.
    pub(crate) fn busy(self: &Arc<Self>) -> BusyGuard {
        self.busy.fetch_add(1, Ordering::SeqCst);
        BusyGuard(self.clone())
    }

    fn is_busy(&self) -> bool {
        self.busy.load(Ordering::SeqCst) > 0
    }

    fn waiting_for(&self, now: Instant) -> Duration {
        let since = Duration::from_millis(self.waiting_since.load(Ordering::SeqCst));
        now.saturating_duration_since(self.epoch + since)
    }
}

/// Held while a request is answered (until its response body is sent).
#[derive(Debug)]
pub(crate) struct BusyGuard(Arc<Conn>);

impl Drop for BusyGuard {
    fn drop(&mut self) {
        let c = &self.0;
        let ms = u64::try_from(c.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        c.waiting_since.store(ms, Ordering::SeqCst);
        c.busy.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The connections of one listener.
#[derive(Debug)]
pub(crate) struct Conns {
    max: usize,
    next_id: AtomicU64,
    epoch: Instant,
    open: Mutex<BTreeMap<u64, Arc<Conn>>>,
}

/// Why a new connection was not admitted.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Every open connection is busy answering a request.
    AllBusy,
}

/// A registered connection; unregisters it when dropped.
#[derive(Debug)]
pub(crate) struct Slot {
    id: u64,
    conns: Arc<Conns>,
    conn: Arc<Conn>,
}

impl Slot {
    /// The connection's state, for the request extension and the close signal.
    pub(crate) fn conn(&self) -> &Arc<Conn> {
        &self.conn
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.conns.lock().remove(&self.id);
    }
}

impl Conns {
    /// A tracker admitting at most `max` connections at once.
    pub(crate) fn new(max: usize) -> Arc<Self> {
        Arc::new(Conns {
            max: max.max(1),
            next_id: AtomicU64::new(0),
            epoch: Instant::now(),
            open: Mutex::new(BTreeMap::new()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Arc<Conn>>> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers a new connection, with whether an older one was closed to make room: at the
    /// cap, the oldest waiting connection is told to close and the new one takes its place.
    pub(crate) fn admit(self: &Arc<Self>) -> Result<(Slot, bool), Refused> {
        let mut open = self.lock();
        let mut evicted = false;
        if open.len() >= self.max {
            let victim = open
                .iter()
                .find(|(_, c)| !c.is_busy())
                .map(|(&id, _)| id)
                .ok_or(Refused::AllBusy)?;
            if let Some(c) = open.remove(&victim) {
                c.kill.notify_one();
                evicted = true;
            }
        }
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        let ms = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        let conn = Arc::new(Conn {
            busy: AtomicUsize::new(0),
            waiting_since: AtomicU64::new(ms),
            epoch: self.epoch,
            kill: Notify::new(),
        });
        open.insert(id, conn.clone());
        Ok((
            Slot {
                id,
                conns: self.clone(),
                conn,
            },
            evicted,
        ))
    }

    /// Closes every connection that has been waiting longer than `idle`; returns how many.
    pub(crate) fn sweep(&self, idle: Duration) -> usize {
        let now = Instant::now();
        let mut open = self.lock();
        let stale: Vec<u64> = open
            .iter()
            .filter(|(_, c)| !c.is_busy() && c.waiting_for(now) > idle)
            .map(|(&id, _)| id)
            .collect();
        for id in &stale {
            if let Some(c) = open.remove(id) {
                c.kill.notify_one();
            }
        }
        stale.len()
    }

    /// Connections open now.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn at_the_cap_the_oldest_waiting_connection_makes_room() {
        let conns = Conns::new(2);
        let (a, _) = conns.admit().unwrap();
        let (b, _) = conns.admit().unwrap();
        let busy = b.conn().busy();
        let (c, evicted) = conns.admit().unwrap();
        assert!(evicted);
        assert_eq!(conns.len(), 2);
        // `a` was told to close (the permit is stored), `b` is busy and stays.
        tokio::time::timeout(Duration::from_secs(1), a.conn().closed())
            .await
            .expect("the oldest waiting connection is closed");
        let c_busy = c.conn().busy();
        assert_eq!(conns.admit().unwrap_err(), Refused::AllBusy);
        drop((busy, c_busy));
        assert!(conns.admit().is_ok());
        drop(a);
    }

    #[tokio::test]
    async fn a_sweep_closes_connections_waiting_too_long_but_not_busy_ones() {
        let conns = Conns::new(10);
        let (idle, _) = conns.admit().unwrap();
        let (working, _) = conns.admit().unwrap();
        let _g = working.conn().busy();
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(conns.sweep(Duration::from_millis(10)), 1);
        tokio::time::timeout(Duration::from_secs(1), idle.conn().closed())
            .await
            .expect("closed");
        assert_eq!(conns.len(), 1);
        drop(idle);
        assert_eq!(
            conns.len(),
            1,
            "dropping an already-removed slot is harmless"
        );
        drop(working);
        assert_eq!(conns.len(), 0);
    }
}
