//! Holding writes off while a backup starts tracking changes and re-reads the changed keys.
//!
//! Every operation that commits (callbacks, client API, admin actions, outbox job updates) does
//! so under the service's write lock, so whoever holds that lock sees no commit in flight and
//! none starts until it lets go: the store is one consistent state, across all collections.
//! `crate::backup` holds it twice, for milliseconds, not while it streams. V2 nonces are
//! written outside the lock; each is a single independent key, so a snapshot may or may not
//! carry one remembered at its very end, and either is harmless.

use tokio::sync::MutexGuard;

use super::Service;

impl Service {
    /// Waits for the write in flight (if any) and holds every later one off until the guard
    /// is dropped. Call from a blocking thread (`spawn_blocking`), never from async code.
    pub fn hold_writes_blocking(&self) -> MutexGuard<'_, ()> {
        self.write.blocking_lock()
    }
}
