//! The ISV → marketplace open-API client: query an order, upload a device license string.
//!
//! This module owns licd's calls *to* the marketplace (protocol §3.6,
//! §12.6): the gateway's `SDK-HMAC-SHA256` signature ([`sign`], pure, `now` as an argument), the
//! request shapes of `order/query` and `market-event/{event_id}/file`, the reading of their
//! answers, and the mapping of failures to an [`CallError`] that says whether trying again can
//! help. It keeps no state beyond its configuration and knows nothing of the store or of what
//! the daemon does with an order; retry scheduling belongs to the caller.
//!
//! Transport: reqwest over rustls with the usual certificate validation, no redirects followed
//! (a redirect would void the signature), one timeout per attempt. Base URLs are tried in order
//! ([`DEFAULT_BASE_URLS`]: `.com`, then the documented `.cn` fallback): a transport error or an
//! HTTP 5xx from one sends the same request, signed afresh, to the next. `http://` base URLs are
//! accepted for loopback test doubles.
//!
//! Answers accepted (the marketplace documentation's tables are truncated, so reading is lenient about shape and
//! strict about values):
//! - result envelope `resultCode`/`resultMsg`, `error_code`/`error_msg` or `errorCode`/`errorMsg`,
//!   code as string or number; success is `000000` or `CBC.0000` on a 2xx status;
//! - order: `orderInfo` at the top level or under `data`; `orderLine` (or `orderLines`) as a list
//!   or one object; product, SKU and quantity from the line (`productId`, `skuCode`, `quantity`,
//!   else `amount`) or else from the first `productInfo` item (`productId`, `skuCode`,
//!   `linearValue`); customer from `buyerInfo.customerId`/`customerName` (or the same names on
//!   `orderInfo`); times `yyyyMMddHHmmss`, 17 digits with milliseconds, `yyyy-MM-dd HH:mm:ss z`
//!   or RFC 3339, UTC. Unknown fields are ignored. A time or count that does not read, a missing
//!   mandatory field or an `orderId` other than the one asked for is [`CallError::Malformed`].
//!
//! The secret key lives in a [`Zeroizing`] string and appears in no `Debug` output or message.

#![deny(missing_docs)]

mod error;
mod response;
pub mod sign;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use client_verifier::Timestamp;
use reqwest::{Method, Url};
use zeroize::Zeroizing;

pub use error::CallError;
pub use response::{CodeInfo, OrderInfo, OrderLine};

use response::Answer;

/// The marketplace open-API hosts, in the order to try them (protocol §1.1, §12.6).
pub const DEFAULT_BASE_URLS: [&str; 2] = [
    "https://mkt.myhuaweicloud.com",
    "https://mkt.myhuaweicloud.cn",
];

/// The longest license string `type=CHARACTERS` takes (protocol §12.6.2); longer ones go as files.
pub const MAX_CHARACTERS: usize = 1024;

/// The file name of a license uploaded as `type=FILE`.
pub const LICENSE_FILE_NAME: &str = "license.lic";

/// Maximum length of `orderId`, `orderLineId` and `event_id` (protocol §12.6).
const MAX_ID_CHARS: usize = 64;

const ORDER_QUERY_PATH: &str = "/api/mkp-openapi-public/global/v1/order/query";
const EVENT_PATH: &str = "/api/mkp-openapi-public/global/v1/market-event";
const CODE_ACTIVATE_PATH: &str = "/api/mkp-openapi-public/global/v1/license/activate";
const CODE_QUERY_PATH: &str = "/api/mkp-openapi-public/global/v1/license/heartbeat";
const CODE_USAGE_PATH: &str = "/api/mkp-openapi-public/global/v2/license/software-usage-info";

/// The most codes one usage report carries (protocol §6.3).
pub const MAX_USAGE_ITEMS: usize = 100;

/// How to reach the marketplace open API.
#[derive(Clone)]
pub struct ApiConfig {
    /// Base URLs tried in order, e.g. [`DEFAULT_BASE_URLS`]; `http` or `https`, optionally with a
    /// path prefix, no query.
    pub base_urls: Vec<String>,
    /// IAM access key id (AK).
    pub ak: String,
    /// IAM secret access key (SK).
    pub sk: Zeroizing<String>,
    /// Timeout of one attempt against one base URL, connection to last body byte.
    pub timeout: Duration,
}

impl ApiConfig {
    /// The documented hosts with these credentials and a 10-second timeout.
    pub fn new(ak: impl Into<String>, sk: Zeroizing<String>) -> Self {
        ApiConfig {
            base_urls: DEFAULT_BASE_URLS.iter().map(|s| s.to_string()).collect(),
            ak: ak.into(),
            sk,
            timeout: Duration::from_secs(10),
        }
    }
}

impl fmt::Debug for ApiConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiConfig")
            .field("base_urls", &self.base_urls)
            .field("ak", &self.ak)
            .field("sk", &"<redacted>")
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// A client of the marketplace open API. Cheap to clone (shares one connection pool).
#[derive(Clone)]
pub struct MarketplaceApi {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    bases: Vec<Base>,
    ak: String,
    sk: Zeroizing<String>,
    timeout: Duration,
}

/// One base URL, parsed once.
struct Base {
    /// `scheme://host[:port]`, for messages.
    origin: String,
    /// The `Host` header value: host, and the port when not the scheme's default.
    host: String,
    /// The path prefix without a trailing `/` (usually empty).
    prefix: String,
    /// The base URL, to join paths onto.
    url: Url,
}

impl fmt::Debug for MarketplaceApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let origins: Vec<&str> = self.inner.bases.iter().map(|b| b.origin.as_str()).collect();
        f.debug_struct("MarketplaceApi")
            .field("base_urls", &origins)
            .field("ak", &self.inner.ak)
            .field("sk", &"<redacted>")
            .field("timeout", &self.inner.timeout)
            .finish()
    }
}

/// The order [`MarketplaceApi::probe`] asks for: no real order has this id.
pub const PROBE_ORDER: &str = "LICD-DOCTOR-PROBE";

/// What [`MarketplaceApi::probe`] learned.
#[derive(Debug)]
pub struct Probe {
    /// The base URL that answered (empty when none did).
    pub host: String,
    /// The gateway's clock, from its `Date` header.
    pub server_date: Option<Timestamp>,
    /// The answer: for a made-up order, a `CBC.0101` error means the signature was accepted.
    pub answer: Result<(), CallError>,
}

/// The response of one attempt that reached a server.
struct Reply {
    origin: String,
    status: u16,
    body: Vec<u8>,
    /// The `Date` header: the gateway's clock.
    date: Option<Timestamp>,
}

impl Reply {
    fn answer<'a>(&'a self, call: &'a str) -> Answer<'a> {
        Answer {
            call,
            host: &self.origin,
            status: self.status,
            body: &self.body,
        }
    }
}

impl MarketplaceApi {
    /// A client for `config`. Refuses an empty AK or SK, no base URL, a base URL that is not
    /// `http(s)://host[/prefix]`, and a zero timeout.
    pub fn new(config: ApiConfig) -> Result<Self, CallError> {
        let bad = |m: String| CallError::Config(m);
        if config.ak.trim().is_empty() {
            return Err(bad("the access key (AK) is empty".into()));
        }
        if config.sk.is_empty() {
            return Err(bad("the secret key (SK) is empty".into()));
        }
        if config.timeout.is_zero() {
            return Err(bad("the timeout is zero".into()));
        }
        if config.base_urls.is_empty() {
            return Err(bad("no base URL".into()));
        }
        let bases = config
            .base_urls
            .iter()
            .map(|u| parse_base(u).map_err(|e| bad(format!("base URL {u:?}: {e}"))))
            .collect::<Result<Vec<_>, _>>()?;
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("licd/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| {
                bad(format!(
                    "cannot build the HTTP client: {}",
                    crate::logsafe::error_chain(&e)
                ))
            })?;
        Ok(MarketplaceApi {
            inner: Arc::new(Inner {
                http,
                bases,
                ak: config.ak.trim().to_string(),
                sk: config.sk,
                timeout: config.timeout,
            }),
        })
    }

    /// `GET {base}/api/mkp-openapi-public/global/v1/order/query?orderId=..&orderLineId=..`
    /// (protocol §12.6.1): what the customer bought.
    pub async fn query_order(
        &self,
        order_id: &str,
        order_line_id: Option<&str>,
    ) -> Result<OrderInfo, CallError> {
        let call = match order_line_id {
            Some(line) => format!("query order {order_id} line {line}"),
            None => format!("query order {order_id}"),
        };
        check_id(&call, "orderId", order_id)?;
        let mut query = vec![("orderId", order_id)];
        if let Some(line) = order_line_id {
            check_id(&call, "orderLineId", line)?;
            query.push(("orderLineId", line));
        }
        let reply = self
            .send(
                &call,
                Method::GET,
                ORDER_QUERY_PATH,
                &query,
                "application/json;charset=UTF-8",
                Vec::new(),
            )
            .await?;
        response::parse_order(&reply.answer(&call), order_id)
    }

    /// One harmless signed call, for `licd doctor`: the order query for an order that cannot
    /// exist. The documented answers tell a refused signature (`CBC.0150`, a gateway `APIG.*`)
    /// from a missing order (`CBC.0101`), and the gateway's `Date` header gives its clock.
    pub async fn probe(&self) -> Probe {
        let call = format!("query order {PROBE_ORDER}");
        match self
            .send(
                &call,
                Method::GET,
                ORDER_QUERY_PATH,
                &[("orderId", PROBE_ORDER)],
                "application/json;charset=UTF-8",
                Vec::new(),
            )
            .await
        {
            Ok(reply) => Probe {
                host: reply.origin.clone(),
                server_date: reply.date,
                answer: response::parse_order(&reply.answer(&call), PROBE_ORDER).map(|_| ()),
            },
            Err(e) => Probe {
                host: String::new(),
                server_date: None,
                answer: Err(e),
            },
        }
    }

    /// `POST …/global/v1/license/activate` (protocol §6.1): activates the License 2.0 code
    /// `code`, effective `effective` (the software's real start). The code is a secret: it goes
    /// in the body only, never into the call's name, a log line or an error.
    pub async fn activate_code(
        &self,
        code: &str,
        effective: Timestamp,
    ) -> Result<CodeInfo, CallError> {
        let call = "activate license code";
        check_id(call, "license", code)?;
        let body = serde_json::json!({
            "license": code,
            "real_effect_time": crate::marketplace::format_time(effective),
        });
        let reply = self.post_json(call, CODE_ACTIVATE_PATH, &body).await?;
        response::parse_activation(&reply.answer(call))
    }

    /// `POST …/global/v1/license/heartbeat` (protocol §6.2, the query): the code's true status
    /// and expiry.
    pub async fn query_code(&self, code: &str) -> Result<CodeInfo, CallError> {
        let call = "query license code";
        check_id(call, "license", code)?;
        let body = serde_json::json!({ "license": code });
        let reply = self.post_json(call, CODE_QUERY_PATH, &body).await?;
        response::parse_code_query(&reply.answer(call))
    }

    /// `POST …/global/v2/license/software-usage-info` (protocol §6.3): that each (code, client
    /// id) was used today, as `{license, software_usage_Info:[{id}]}` items (the marketplace
    /// counts a day's distinct clients), at most [`MAX_USAGE_ITEMS`] per call.
    pub async fn report_usage(&self, items: &[(String, String)]) -> Result<(), CallError> {
        let call = format!("report usage of {} license code(s)", items.len());
        if items.is_empty() || items.len() > MAX_USAGE_ITEMS {
            return Err(CallError::Invalid {
                call,
                detail: format!("1 to {MAX_USAGE_ITEMS} codes per report"),
            });
        }
        for (code, _) in items {
            check_id(&call, "license", code)?;
        }
        let usage: Vec<serde_json::Value> = items
            .iter()
            .map(|(code, client)| {
                serde_json::json!({"license": code, "software_usage_Info": [{"id": client}]})
            })
            .collect();
        let body = serde_json::json!({ "usage_info": usage });
        let reply = self.post_json(&call, CODE_USAGE_PATH, &body).await?;
        response::parse_upload(&reply.answer(&call))
    }

    async fn post_json(
        &self,
        call: &str,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<Reply, CallError> {
        let body = serde_json::to_vec(body).unwrap_or_default();
        self.send(call, Method::POST, path, &[], "application/json", body)
            .await
    }

    /// Delivers the license string for the device request `event_id` (protocol §12.6.2): as
    /// `type=CHARACTERS` when it fits in [`MAX_CHARACTERS`], otherwise as `type=FILE`
    /// (`license.lic`, with its SHA-256), so no license is too long to deliver.
    pub async fn upload_license(&self, event_id: &str, license: &str) -> Result<(), CallError> {
        if license.chars().count() <= MAX_CHARACTERS {
            self.upload_characters(event_id, license).await
        } else {
            self.upload_file(event_id, LICENSE_FILE_NAME, license.as_bytes())
                .await
        }
    }

    /// `POST {base}/api/mkp-openapi-public/global/v1/market-event/{event_id}/file` with
    /// `type=CHARACTERS` (protocol §12.6.2): delivers a license string for the device request
    /// `event_id`. At most [`MAX_CHARACTERS`] characters; refused locally otherwise.
    pub async fn upload_characters(
        &self,
        event_id: &str,
        characters: &str,
    ) -> Result<(), CallError> {
        let call = format!("upload license for event {event_id}");
        check_id(&call, "event_id", event_id)?;
        let n = characters.chars().count();
        if n == 0 {
            return Err(CallError::Invalid {
                call,
                detail: "the license string is empty".into(),
            });
        }
        if n > MAX_CHARACTERS {
            return Err(CallError::Invalid {
                call,
                detail: format!(
                    "the license string has {n} characters; type=CHARACTERS takes at most \
                     {MAX_CHARACTERS} (longer licenses must be uploaded as a file)"
                ),
            });
        }
        let json = serde_json::json!({"type": "CHARACTERS", "characters": characters});
        self.post_upload(&call, event_id, multipart(&json, None))
            .await
    }

    /// The same call with `type=FILE` (protocol §12.6.2): the bytes go in a part `file` named
    /// `file_name`, and the JSON part carries `file_name` and the lower-case hex SHA-256 of the
    /// bytes (the documented example does not show where `file_name` belongs, so both carry it).
    pub async fn upload_file(
        &self,
        event_id: &str,
        file_name: &str,
        bytes: &[u8],
    ) -> Result<(), CallError> {
        let call = format!("upload license file for event {event_id}");
        check_id(&call, "event_id", event_id)?;
        if bytes.is_empty() {
            return Err(CallError::Invalid {
                call,
                detail: "the license file is empty".into(),
            });
        }
        let sha256 = crate::crypto::hex(&<sha2::Sha256 as sha2::Digest>::digest(bytes));
        let json = serde_json::json!({"type": "FILE", "file_name": file_name, "sha256": sha256});
        self.post_upload(&call, event_id, multipart(&json, Some((file_name, bytes))))
            .await
    }

    async fn post_upload(
        &self,
        call: &str,
        event_id: &str,
        (content_type, body): (String, Vec<u8>),
    ) -> Result<(), CallError> {
        let path = format!("{EVENT_PATH}/{}/file", sign::encode(event_id.as_bytes()));
        let reply = self
            .send(call, Method::POST, &path, &[], &content_type, body)
            .await?;
        response::parse_upload(&reply.answer(call))
    }

    /// Sends the request to each base URL in turn until one answers with a status below 500.
    /// The last base URL's answer is returned whatever its status; if none answered, the last
    /// transport error.
    async fn send(
        &self,
        call: &str,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<Reply, CallError> {
        let inner = &self.inner;
        let mut last_error = None;
        for (i, base) in inner.bases.iter().enumerate() {
            let is_last = i + 1 == inner.bases.len();
            match self
                .attempt(base, &method, path, query, content_type, &body)
                .await
            {
                Ok(reply) if reply.status >= 500 && !is_last => {
                    tracing::warn!(
                        call,
                        host = %base.origin,
                        status = reply.status,
                        body = %response::excerpt(&reply.body),
                        "marketplace API server error; trying the next base URL"
                    );
                }
                Ok(reply) => return Ok(reply),
                Err(e) => {
                    let err = CallError::Transport {
                        call: call.to_string(),
                        host: base.origin.clone(),
                        timeout: e.is_timeout(),
                        detail: crate::logsafe::error_chain(&e),
                    };
                    if !is_last {
                        tracing::warn!(error = %err, "trying the next base URL");
                    }
                    last_error = Some(err);
                }
            }
        }
        Err(last_error.unwrap_or_else(|| CallError::Config("no base URL".into())))
    }

    /// One signed request to one base URL.
    async fn attempt(
        &self,
        base: &Base,
        method: &Method,
        path: &str,
        query: &[(&str, &str)],
        content_type: &str,
        body: &[u8],
    ) -> Result<Reply, reqwest::Error> {
        let inner = &self.inner;
        let full_path = format!("{}{path}", base.prefix);
        let signed = sign::sign(
            &sign::Request {
                method: method.as_str(),
                path: &full_path,
                query,
                headers: &[("Host", &base.host), ("Content-Type", content_type)],
                body,
            },
            &inner.ak,
            inner.sk.as_bytes(),
            Timestamp::now(),
        );
        let mut url = base.url.clone();
        url.set_path(&full_path);
        let q = sign::query_string(query);
        url.set_query(if q.is_empty() { None } else { Some(&q) });
        let resp = inner
            .http
            .request(method.clone(), url)
            .header(reqwest::header::HOST, &base.host)
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .header(sign::DATE_HEADER, &signed.sdk_date)
            .header(reqwest::header::AUTHORIZATION, &signed.authorization)
            .body(body.to_vec())
            .send()
            .await?;
        let status = resp.status().as_u16();
        let date = resp
            .headers()
            .get(reqwest::header::DATE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| httpdate::parse_http_date(v).ok())
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .and_then(|d| i64::try_from(d.as_secs()).ok())
            .map(Timestamp::from_unix);
        let body = resp.bytes().await?.to_vec();
        Ok(Reply {
            origin: base.origin.clone(),
            status,
            body,
            date,
        })
    }
}

fn parse_base(s: &str) -> Result<Base, String> {
    let url = Url::parse(s.trim()).map_err(|e| e.to_string())?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "scheme {} (want https, or http for tests)",
            url.scheme()
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("a query or fragment has no place in a base URL".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("credentials have no place in a base URL".into());
    }
    let host_name = url.host_str().ok_or("no host")?;
    let host = match url.port() {
        Some(port) => format!("{host_name}:{port}"),
        None => host_name.to_string(),
    };
    Ok(Base {
        origin: format!("{}://{host}", url.scheme()),
        host,
        prefix: url.path().trim_end_matches('/').to_string(),
        url,
    })
}

fn check_id(call: &str, field: &str, value: &str) -> Result<(), CallError> {
    let n = value.chars().count();
    if n == 0 || n > MAX_ID_CHARS || value.chars().any(char::is_control) {
        return Err(CallError::Invalid {
            call: call.to_string(),
            detail: format!("{field} must be 1 to {MAX_ID_CHARS} printable characters"),
        });
    }
    Ok(())
}

/// The `multipart/form-data` body of an upload, built by hand so the exact bytes can be hashed
/// for the signature (protocol §12.6.2's example layout): for a file, a part `file` with the
/// bytes first; then a part `isvUpdateFileReq`, `Content-Type: application/json`, carrying
/// `json`. Returns (content type with boundary, body).
fn multipart(json: &serde_json::Value, file: Option<(&str, &[u8])>) -> (String, Vec<u8>) {
    let json = json.to_string();
    let mut boundary = random_boundary();
    // A random 128-bit boundary will not occur in the parts, but checking costs nothing.
    while json.contains(&boundary)
        || file.is_some_and(|(_, b)| b.windows(boundary.len()).any(|w| w == boundary.as_bytes()))
    {
        boundary = random_boundary();
    }
    let mut body = Vec::new();
    if let Some((name, bytes)) = file {
        let name: String = name
            .chars()
            .filter(|c| *c != '"' && !c.is_control())
            .collect();
        body.extend_from_slice(
            format!(
                "--{boundary}\r\n\
                 Content-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
                 Content-Type: application/octet-stream\r\n\
                 \r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(
        format!(
            "--{boundary}\r\n\
             Content-Disposition: form-data; name=\"isvUpdateFileReq\"\r\n\
             Content-Type: application/json\r\n\
             \r\n\
             {json}\r\n\
             --{boundary}--\r\n"
        )
        .as_bytes(),
    );
    (format!("multipart/form-data; boundary={boundary}"), body)
}

fn random_boundary() -> String {
    // Uniqueness, not secrecy, is what a boundary needs: a failed RNG falls back to the clock.
    let bytes = crate::crypto::random_bytes::<16>().unwrap_or_else(|_| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default()
            .to_le_bytes()
    });
    format!("licd-{}", crate::crypto::hex(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> ApiConfig {
        ApiConfig::new("AK-1", Zeroizing::new("very-secret-sk".to_string()))
    }

    #[test]
    fn multipart_carries_the_json_part() {
        let characters = |c: &str| {
            multipart(
                &serde_json::json!({"type": "CHARACTERS", "characters": c}),
                None,
            )
        };
        let (ct, body) = characters("tok\"en\u{e9}");
        let boundary = ct.strip_prefix("multipart/form-data; boundary=").unwrap();
        let body = String::from_utf8(body).unwrap();
        assert!(body.starts_with(&format!("--{boundary}\r\n")));
        assert!(body.ends_with(&format!("\r\n--{boundary}--\r\n")));
        assert!(
            body.contains("name=\"isvUpdateFileReq\"\r\nContent-Type: application/json\r\n\r\n")
        );
        let json_start = body.find("\r\n\r\n").unwrap() + 4;
        let json_end = body.rfind(&format!("\r\n--{boundary}--")).unwrap();
        let v: serde_json::Value = serde_json::from_str(&body[json_start..json_end]).unwrap();
        assert_eq!(v["type"], "CHARACTERS");
        assert_eq!(v["characters"], "tok\"en\u{e9}");
        assert_ne!(characters("x").0, ct, "boundaries are random");
    }

    #[test]
    fn multipart_file_part_comes_first_with_its_name() {
        let (ct, body) = multipart(
            &serde_json::json!({"type": "FILE"}),
            Some(("a\"b.lic", b"bytes\r\n")),
        );
        let boundary = ct.strip_prefix("multipart/form-data; boundary=").unwrap();
        let body = String::from_utf8(body).unwrap();
        let file_head = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"ab.lic\"\r\n\
             Content-Type: application/octet-stream\r\n\r\nbytes\r\n\r\n--{boundary}\r\n"
        );
        assert!(body.starts_with(&file_head), "{body}");
        assert!(body.ends_with(&format!("{{\"type\":\"FILE\"}}\r\n--{boundary}--\r\n")));
    }

    #[test]
    fn base_urls_are_checked() {
        let b = parse_base("https://mkt.myhuaweicloud.com").unwrap();
        assert_eq!(
            (b.origin.as_str(), b.host.as_str(), b.prefix.as_str()),
            ("https://mkt.myhuaweicloud.com", "mkt.myhuaweicloud.com", "")
        );
        let b = parse_base("http://127.0.0.1:8443/prefix/").unwrap();
        assert_eq!(
            (b.host.as_str(), b.prefix.as_str()),
            ("127.0.0.1:8443", "/prefix")
        );
        let b = parse_base("https://h:443").unwrap();
        assert_eq!(b.host, "h");
        for bad in ["ftp://h", "https://h/?a=b", "not a url", "https://u:p@h"] {
            assert!(parse_base(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn config_is_validated() {
        assert!(MarketplaceApi::new(config()).is_ok());
        let mut c = config();
        c.sk = Zeroizing::new(String::new());
        assert!(matches!(MarketplaceApi::new(c), Err(CallError::Config(_))));
        let mut c = config();
        c.base_urls.clear();
        assert!(MarketplaceApi::new(c).is_err());
        let mut c = config();
        c.timeout = Duration::ZERO;
        assert!(MarketplaceApi::new(c).is_err());
        let mut c = config();
        c.base_urls = vec!["mkt.myhuaweicloud.com".into()];
        let e = MarketplaceApi::new(c).unwrap_err().to_string();
        assert!(e.contains("mkt.myhuaweicloud.com"), "{e}");
    }

    #[test]
    fn debug_never_shows_the_sk() {
        let c = config();
        assert!(!format!("{c:?}").contains("very-secret-sk"));
        let api = MarketplaceApi::new(c).unwrap();
        let d = format!("{api:?}");
        assert!(!d.contains("very-secret-sk"), "{d}");
        assert!(d.contains("AK-1"), "{d}");
    }
}
