//! The event feed: the audit log read as events ([`crate::events`]), with a long poll.

use std::time::Duration;

use super::{Service, ServiceError};
use crate::events::Event;

/// Readers of the feed waiting for an event at once, per node; a reader beyond them is answered
/// at once (with what there is), so long polls cannot pile up tasks and connections.
pub(super) const FEED_WAITERS: usize = 64;
/// How often a waiting reader looks at the log for a commit of another node (a commit of this
/// node wakes it at once).
const FEED_POLL: Duration = Duration::from_millis(500);

/// A page of the feed.
#[derive(Debug, Clone, PartialEq)]
pub struct EventPage {
    /// The events after the asked seq, oldest first.
    pub events: Vec<Event>,
    /// The seq to ask after next: the last event's, or the one asked after when there is none.
    pub next: u64,
    /// The newest event's seq when the page was read.
    pub head: u64,
}

impl Service {
    /// Events after `after`, at most `limit`. With none to give and `wait` above zero, waits up
    /// to `wait` for the next commit (of this node, or seen by polling, of another).
    pub async fn events(
        &self,
        after: u64,
        limit: usize,
        wait: Duration,
    ) -> Result<EventPage, ServiceError> {
        let deadline = tokio::time::Instant::now() + wait;
        // Taken only when there is nothing to give; held while waiting.
        let mut permit = None;
        loop {
            let wake = self.events_wake();
            let notified = wake.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let records = self.store.audit_after(after, limit).await?;
            let waited_out = tokio::time::Instant::now() >= deadline;
            if permit.is_none() && records.is_empty() && !waited_out {
                permit = self.feed_waits.try_acquire().ok();
            }
            if !records.is_empty() || waited_out || permit.is_none() {
                let head = self.store.audit_head().await?;
                let events: Vec<Event> = records.iter().map(Event::of).collect();
                let next = events.last().map_or(after, |e| e.seq);
                return Ok(EventPage {
                    events,
                    next,
                    head: head.max(next),
                });
            }
            tokio::select! {
                () = &mut notified => {}
                () = tokio::time::sleep(FEED_POLL) => {}
                () = tokio::time::sleep_until(deadline) => {}
            }
        }
    }
}
