//! The client side of the admin API, for `licctl` and `licd backup`: where the daemon is, its
//! bearer token, and requests that carry both (and who is asking, for the audit log).
//!
//! Resolution order (DESIGN §3): `--admin-url` / `--admin-token-file`, then `LICD_ADMIN_URL` /
//! `LICD_ADMIN_TOKEN` (the token itself), then `http://127.0.0.1:8081` and
//! `./data/admin.token`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use zeroize::Zeroizing;

/// The header naming the person or tool behind an admin request, for the audit log (the admin
/// API reads it, `crate::http::admin`).
pub const ACTOR_HEADER: &str = "x-licd-actor";

/// Why an admin request could not be made or was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdminError {
    /// Bad input: an address, a token file, or a request the API answered 400.
    #[error("{0}")]
    Usage(String),
    /// The API could not be reached, or answered no.
    #[error("{0}")]
    Refused(String),
}

/// The default admin API address.
pub const DEFAULT_URL: &str = "http://127.0.0.1:8081";
/// The default token file, relative to where licd runs with its defaults.
pub const DEFAULT_TOKEN_FILE: &str = "./data/admin.token";

/// A connection to the admin API. `Debug` never shows the token.
pub struct AdminClient {
    base: String,
    token: Zeroizing<String>,
    actor: String,
    http: reqwest::Client,
}

impl std::fmt::Debug for AdminClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminClient")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl AdminClient {
    /// Finds the daemon and its token from flags, environment and defaults.
    pub fn resolve(url: Option<&str>, token_file: Option<&Path>) -> Result<Self, AdminError> {
        let base = url
            .map(str::to_string)
            .or_else(|| std::env::var("LICD_ADMIN_URL").ok())
            .unwrap_or_else(|| DEFAULT_URL.to_string());
        let token = match (token_file, std::env::var("LICD_ADMIN_TOKEN")) {
            (Some(path), _) => read_token(path)?,
            (None, Ok(t)) if !t.trim().is_empty() => Zeroizing::new(t.trim().to_string()),
            _ => read_token(&PathBuf::from(DEFAULT_TOKEN_FILE))?,
        };
        Self::new(&base, token)
    }

    /// A client for `base` (e.g. `http://127.0.0.1:8081`) with `token`.
    pub fn new(base: &str, token: Zeroizing<String>) -> Result<Self, AdminError> {
        let base = base.trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(AdminError::Usage(format!(
                "--admin-url {base:?}: expected http://HOST:PORT, e.g. {DEFAULT_URL}"
            )));
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| AdminError::Refused(format!("cannot build an HTTP client: {e}")))?;
        let actor = std::env::var("USER")
            .or_else(|_| std::env::var("USERNAME"))
            .map(|u| format!("licctl:{u}"))
            .unwrap_or_else(|_| "licctl".into());
        Ok(AdminClient {
            base,
            token: Zeroizing::new(token.trim().to_string()),
            actor,
            http,
        })
    }

    /// Names `tool` instead of `licctl` as the actor (`licd backup` is not licctl).
    pub fn for_tool(mut self, tool: &str) -> Self {
        if let Some(user) = self.actor.strip_prefix("licctl") {
            self.actor = format!("{tool}{user}");
        }
        self
    }

    /// The admin API's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// A request to `path` (e.g. `/admin/v1/licenses`) with the token and the actor header.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(self.token.as_str())
            .header(ACTOR_HEADER, &self.actor)
    }

    /// Sends `req` and returns the JSON body of a 2xx answer; any other answer becomes the
    /// server's `{error, message}` as one line (exit status 1; 2 for 400).
    pub async fn json(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<serde_json::Value, AdminError> {
        let resp = self.send(req).await?;
        resp.json()
            .await
            .map_err(|e| AdminError::Refused(format!("{}: unreadable answer: {e}", self.base)))
    }

    /// Sends `req`; a non-2xx answer becomes an [`AdminError`] with the server's message.
    pub async fn send(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, AdminError> {
        let resp = req.send().await.map_err(|e| {
            AdminError::Refused(format!(
                "cannot reach the admin API at {}: {e}; is licd serve running (--admin-url, LICD_ADMIN_URL)?",
                self.base
            ))
        })?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let body: serde_json::Value = resp.json().await.unwrap_or_default();
        let message = body["message"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| format!("the admin API answered {status}"));
        Err(if status == reqwest::StatusCode::BAD_REQUEST {
            AdminError::Usage(message)
        } else {
            AdminError::Refused(message)
        })
    }
}

fn read_token(path: &Path) -> Result<Zeroizing<String>, AdminError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        AdminError::Usage(format!(
            "cannot read the admin token {}: {e}; pass --admin-token-file (licd writes it to DATA_DIR/admin.token) or set LICD_ADMIN_TOKEN",
            path.display()
        ))
    })?;
    Ok(Zeroizing::new(text.trim().to_string()))
}
