//! `/admin/v1/backup`: a consistent snapshot of the store, streamed to `licd backup`.
//!
//! The snapshot is written on a blocking thread. It holds the service's write lock twice,
//! briefly: to start tracking changed keys, and to re-read the keys changed while the records
//! streamed (`crate::backup`); never while the client is being sent to, so callbacks wait
//! milliseconds however large the database and however slow the client. The body streams
//! through a small bounded channel: memory stays flat, and a client that goes away ends the
//! snapshot (and its change tracking).

use std::io::{self, Write};
use std::time::Instant;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::Extension;
use axum::extract::State;
use axum::http::header;
use axum::response::Response;
use axum::routing::get;
use client_verifier::Timestamp;
use tokio::sync::mpsc;

use super::AdminState;
use crate::accounts::{Action, Principal};
use crate::backup;

pub(super) fn routes() -> Router<AdminState> {
    Router::new().route("/backup", get(take_backup))
}

const CHUNK: usize = 256 << 10;

async fn take_backup(
    State(st): State<AdminState>,
    Extension(by): Extension<Principal>,
) -> Response {
    use axum::response::IntoResponse;
    if let Err(e) = by.require(Action::Administer) {
        return crate::http::error::ApiError::from(crate::service::ServiceError::from(e))
            .into_response();
    }
    let who = by.actor().to_string();
    if !st.service.can_back_up() {
        // Said before the stream starts, so licd backup can print it.
        return crate::http::error::ApiError::new(
            axum::http::StatusCode::CONFLICT,
            "not_supported",
            "licd backup works on the embedded database; this licd stores its data in PostgreSQL: back it up with pg_dump (docs/operations.md, \"Several nodes\")",
        )
        .into_response();
    }
    let (tx, mut rx) = mpsc::channel::<io::Result<Bytes>>(8);
    let service = st.service.clone();
    tracing::info!(actor = %who, "backup requested");
    let runtime = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let mut sink = ChannelWriter {
            tx: tx.clone(),
            buf: Vec::with_capacity(CHUNK),
        };
        let result = service
            .write_backup(&mut sink, Timestamp::now().unix())
            .and_then(|s| {
                sink.flush()
                    .map(|()| s)
                    .map_err(|e| backup::BackupError::Io {
                        path: "backup stream".into(),
                        source: e,
                    })
            });
        let took_ms = started.elapsed().as_millis() as u64;
        match result {
            Ok(s) => {
                tracing::info!(
                    actor = %who,
                    records = s.records,
                    changes = s.changes,
                    bytes = s.bytes,
                    took_ms,
                    writes_held_ms = s.held.as_micros() as f64 / 1e3,
                    "backup taken"
                );
                // For `licd doctor`'s "last backup" line. The snapshot itself is taken: a
                // failure here only leaves that line older than it should be.
                if let Err(e) = runtime.block_on(service.record_backup(Timestamp::now())) {
                    tracing::warn!(error = %e, "the backup's time could not be recorded");
                }
            }
            Err(e) => {
                tracing::warn!(actor = %who, took_ms, error = %e, "backup failed");
                // Ends the body with an error: the client sees a broken transfer, never a
                // file that merely looks short.
                let _ = tx.blocking_send(Err(io::Error::other(e.to_string())));
            }
        }
    });
    let stream = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    Response::builder()
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .header(
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"licd.backup\"",
        )
        .body(Body::from_stream(stream))
        .unwrap_or_default()
}

/// Sends what is written to the response body in chunks, waiting while the client is slow.
struct ChannelWriter {
    tx: mpsc::Sender<io::Result<Bytes>>,
    buf: Vec<u8>,
}

impl Write for ChannelWriter {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(b);
        if self.buf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(b.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))
    }
}
