//! `licctl events tail` and `licctl webhooks …`: the event feed and the webhook endpoints of
//! the running daemon (admin API).

use clap::{Args, Subcommand};
use reqwest::Method;

use super::licenses::{AdminArgs, typed};
use super::{CliError, emit, print_table};
use crate::admin_api::{
    EventsResponse, MAX_WAIT_SECS, ReplayRequest, WebhookTestResponse, WebhooksResponse,
};
use crate::admin_client::AdminClient;

/// `licctl events …`
#[derive(Debug, Subcommand)]
pub enum EventsCommand {
    /// Print events of the log, oldest first: the last ten, or those after --after; with
    /// --follow, then every new one as it happens. Each event's link to the one before is
    /// checked: a gap or a broken link stops with an error.
    ///
    /// Example: licctl events tail --after 1200 --follow --json
    Tail(TailArgs),
}

/// `licctl events tail`
#[derive(Debug, Args)]
pub struct TailArgs {
    /// Print the events after this seq (0: from the first) [default: the last 10].
    #[arg(long, value_name = "SEQ")]
    pub after: Option<u64>,
    /// Keep waiting for new events (Ctrl-C ends).
    #[arg(long, short = 'f')]
    pub follow: bool,
}

/// `licctl webhooks …`
#[derive(Debug, Subcommand)]
pub enum WebhooksCommand {
    /// Each endpoint: its state (ok, retrying, failing, new), cursor, backlog, last error.
    List,
    /// Send a signed test event (type webhook.test, seq 0) to endpoint NAME now and say how
    /// it answered; its cursor does not move.
    ///
    /// Example: licctl webhooks test crm
    Test {
        /// The endpoint's name in the webhooks file.
        name: String,
    },
    /// Send again every event after SEQ that endpoint NAME wants (after a receiver lost data,
    /// or `--after 0` for the whole history).
    ///
    /// Example: licctl webhooks replay crm --after 1200
    Replay {
        /// The endpoint's name.
        name: String,
        /// The seq after which events are sent again.
        #[arg(long, value_name = "SEQ")]
        after: u64,
    },
    /// Skip every event up to now for endpoint NAME: a failing endpoint whose backlog is no
    /// longer wanted starts with the next event.
    Skip {
        /// The endpoint's name.
        name: String,
    },
    /// Read the webhooks file again (as SIGHUP does); an invalid file leaves the endpoints in use.
    Reload,
}

fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::negative(format!("cannot start the runtime: {e}")))
}

/// Runs `licctl events …`.
pub fn run_events(admin: &AdminArgs, cmd: EventsCommand, json: bool) -> Result<(), CliError> {
    let client = admin.client()?;
    let EventsCommand::Tail(args) = cmd;
    runtime()?.block_on(tail(&client, &args, json))
}

async fn page(
    client: &AdminClient,
    after: u64,
    limit: usize,
    wait: u64,
) -> Result<EventsResponse, CliError> {
    let req = client.request(Method::GET, "/admin/v1/events").query(&[
        ("after", after),
        ("limit", limit as u64),
        ("wait", wait),
    ]);
    typed(client.json(req).await?)
}

async fn tail(client: &AdminClient, args: &TailArgs, json: bool) -> Result<(), CliError> {
    let mut after = match args.after {
        Some(a) => a,
        None => page(client, 0, 1, 0).await?.head.saturating_sub(10),
    };
    // The hash of the event at `after`, once one was printed: the next must link to it.
    let mut link: Option<String> = None;
    loop {
        let wait = if args.follow { MAX_WAIT_SECS - 5 } else { 0 };
        let p = page(client, after, 500, wait).await?;
        for e in &p.events {
            if e.seq != after + 1 || link.as_ref().is_some_and(|h| *h != e.prev) {
                return Err(CliError::negative(format!(
                    "the feed does not continue event {after}: got {} (prev {}); the audit log may have been altered, run licd doctor",
                    e.seq, e.prev
                )));
            }
            print_event(e, json);
            after = e.seq;
            link = Some(e.hash.clone());
        }
        if !args.follow && p.events.len() < 500 {
            return Ok(());
        }
    }
}

fn print_event(e: &crate::events::Event, json: bool) {
    if json {
        emit(&serde_json::to_string(e).unwrap_or_default(), true);
        return;
    }
    let mut flags = String::new();
    if e.test {
        flags.push_str(" [test]");
    }
    if e.stale {
        flags.push_str(" [stale]");
    }
    let data = match &e.data {
        serde_json::Value::Object(m) if m.is_empty() => String::new(),
        d => d.to_string(),
    };
    let line = format!(
        "{:>7}  {}  {:<20} {}  by {}{flags}  {data}",
        e.seq, e.at, e.kind, e.license, e.actor
    );
    // Client-supplied strings (license ids, actors) reach a terminal without their control
    // characters (no escape sequences from a callback's fields).
    emit(
        &line
            .chars()
            .map(|c| if c.is_control() { '?' } else { c })
            .collect::<String>(),
        true,
    );
}

/// Runs `licctl webhooks …`.
pub fn run_webhooks(admin: &AdminArgs, cmd: WebhooksCommand, json: bool) -> Result<(), CliError> {
    let client = admin.client()?;
    runtime()?.block_on(async move {
        let path = |name: &str, what: &str| {
            format!(
                "/admin/v1/webhooks/{}/{what}",
                url::form_urlencoded::byte_serialize(name.as_bytes()).collect::<String>()
            )
        };
        let v = match &cmd {
            WebhooksCommand::List => {
                client
                    .json(client.request(Method::GET, "/admin/v1/webhooks"))
                    .await?
            }
            WebhooksCommand::Reload => {
                client
                    .json(client.request(Method::POST, "/admin/v1/webhooks/reload"))
                    .await?
            }
            WebhooksCommand::Replay { name, after } => {
                let req = client
                    .request(Method::POST, &path(name, "replay"))
                    .json(&ReplayRequest { after: *after });
                client.json(req).await?
            }
            WebhooksCommand::Skip { name } => {
                client
                    .json(client.request(Method::POST, &path(name, "skip")))
                    .await?
            }
            WebhooksCommand::Test { name } => {
                // A failed delivery is an answer (502 with what happened), not a refusal.
                let resp = client
                    .request(Method::POST, &path(name, "test"))
                    .send()
                    .await
                    .map_err(|e| CliError::negative(format!("cannot reach the admin API: {e}")))?;
                let status = resp.status();
                let body: serde_json::Value = resp.json().await.unwrap_or_default();
                if !status.is_success() && status != reqwest::StatusCode::BAD_GATEWAY {
                    return Err(CliError::negative(
                        body["message"]
                            .as_str()
                            .map_or_else(|| format!("the admin API answered {status}"), str::to_string),
                    ));
                }
                let r: WebhookTestResponse = typed(body)?;
                if json {
                    emit(&serde_json::to_string(&r).unwrap_or_default(), true);
                }
                return match (r.ok, json) {
                    (true, false) => {
                        emit(
                            &format!(
                                "{name}: answered HTTP {} in {} ms",
                                r.status.unwrap_or_default(),
                                r.millis
                            ),
                            true,
                        );
                        Ok(())
                    }
                    (true, true) => Ok(()),
                    (false, _) => Err(CliError::negative(format!(
                        "{name}: the test delivery failed after {} ms: {}",
                        r.millis,
                        r.error.unwrap_or_default()
                    ))),
                };
            }
        };
        if json {
            emit(&v.to_string(), true);
            return Ok(());
        }
        let r: WebhooksResponse = typed(v)?;
        if r.endpoints.is_empty() {
            emit(
                "no webhook endpoints are configured (licd serve --webhooks FILE; see docs/events.md)",
                true,
            );
        }
        for (i, e) in r.endpoints.iter().enumerate() {
            if i > 0 {
                emit("", true);
            }
            let mut rows = vec![
                ("endpoint".to_string(), e.name.clone()),
                ("url".to_string(), e.url.clone()),
                ("events".to_string(), e.events.join(", ")),
                ("state".to_string(), e.state.clone()),
                (
                    "cursor".to_string(),
                    format!("{} ({} events behind the log)", e.cursor, e.behind),
                ),
                ("delivered".to_string(), e.delivered.to_string()),
            ];
            if let Some(t) = &e.last_delivery {
                rows.push(("last delivery".to_string(), t.clone()));
            }
            if let Some(err) = &e.last_error {
                rows.push((
                    "last error".to_string(),
                    format!("{err} ({} attempts)", e.attempts),
                ));
            }
            if let Some(t) = &e.failing_since {
                rows.push(("failing since".to_string(), t.clone()));
            }
            if let Some(t) = &e.retry_at {
                rows.push(("next attempt".to_string(), t.clone()));
            }
            print_table(&rows);
        }
        Ok(())
    })
}
