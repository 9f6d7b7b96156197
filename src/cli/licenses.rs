//! `licctl licenses …`, `licctl revocations export`, `licctl outbox …`: the commands that talk
//! to a running daemon through its admin API ([`crate::admin_client::AdminClient`]).
//!
//! Output is an aligned table (or the bare token where a token is the point, so it can be
//! piped) and, with `--json`, the admin API's JSON. `licenses list --json` prints one license per
//! line, so a million licenses stream instead of piling up in memory.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::Value;

use super::{CliError, emit};
use crate::admin_api::{
    ActivateRequest, ActivateResponse, AuditResponse, CodeRequest, CreateLicenseRequest,
    DeactivateRequest, DeactivateResponse, Detail, ExtendRequest, IssuedResponse, JobView,
    ListResponse, MAX_LIMIT, OutboxResponse, ReissueRequest, RepairRequest, RepairResponse,
    RevocationsResponse, RevokeRequest, Summary, TokenResponse,
};
use crate::admin_client::AdminClient;
use crate::service::Reason;

/// `println!` that ends the process quietly when stdout is closed early (`licctl … | head`), as
/// command-line tools do, instead of panicking.
macro_rules! say {
    ($($arg:tt)*) => { emit(&format!($($arg)*), true) };
}

/// `print!`, with the same care as [`say!`].
macro_rules! say_raw {
    ($($arg:tt)*) => { emit(&format!($($arg)*), false) };
}

/// Where the admin API is and how to authenticate; global flags of licctl.
#[derive(Debug, Args)]
pub struct AdminArgs {
    /// The admin API of the running daemon [env: LICD_ADMIN_URL] [default: http://127.0.0.1:8081].
    #[arg(long, global = true, value_name = "URL")]
    pub admin_url: Option<String>,
    /// File holding the admin token (licd writes it to DATA_DIR/admin.token); otherwise the
    /// token itself from LICD_ADMIN_TOKEN, else ./data/admin.token.
    #[arg(long, global = true, value_name = "FILE")]
    pub admin_token_file: Option<PathBuf>,
}

impl AdminArgs {
    pub(super) fn client(&self) -> Result<AdminClient, CliError> {
        Ok(AdminClient::resolve(
            self.admin_url.as_deref(),
            self.admin_token_file.as_deref(),
        )?)
    }
}

/// `licctl licenses …`
#[derive(Debug, Subcommand)]
pub enum LicensesCommand {
    /// List licenses in id order, filtered by the daemon.
    ///
    /// Without --all at most --limit licenses are printed, and the cursor to continue from goes
    /// to stderr. With --json, one JSON object per license per line.
    ///
    /// Example: licctl licenses list --status active --expiring-days 30 --all
    List(ListArgs),
    /// Show one license: its record, seats and device licenses (no tokens).
    ///
    /// Example: licctl licenses show CS2211210001
    Show(IdArg),
    /// Print the license's current token and nothing else, so it can be piped.
    ///
    /// For an online-activation instance, --event picks the device license of that
    /// getLicenseAsync event (to send by hand when its upload failed).
    ///
    /// Example: licctl licenses token CS2211210001 | licctl verify - --public-key k4.public.…
    Token(TokenArgs),
    /// Print a license's audit history and whether the audit log's hash chain is intact.
    ///
    /// Exits 1 when the chain is broken: a record was altered or removed on disk.
    ///
    /// Example: licctl licenses audit CS2211210001
    Audit(IdArg),
    /// Reissue a license for a replaced machine; prints the new token.
    ///
    /// The license gets a new revision and every device binding it had is revoked (it goes on
    /// the revocation list). With --fingerprint the new token is bound to that device; without,
    /// it is the unbound license to activate again.
    ///
    /// Example: licctl licenses reissue CS2211210001 --fingerprint '04:7C:16:5E:E3:5D|SN1|B1|CPU1'
    /// --reason "mainboard replaced"
    Reissue(ReissueArgs),
    /// Issue a license yourself, not through the marketplace: an evaluation for a prospect, a
    /// deal closed elsewhere, a replacement; prints its token.
    ///
    /// The catalog's terms for the product (and SKU) apply as for a purchase: entitlements,
    /// edition, binding, check-in, floating seats; with a catalog, the product must be listed.
    /// The token is verified like any other; its `order` is `direct-<id>` and its `origin` claim
    /// says direct or trial, so the application can show "evaluation".
    ///
    /// Example: licctl licenses create --product OFFI454488918838374 --customer acme-gmbh
    /// --days 30 --trial --note "prospect, demo on 12 May"
    Create(CreateArgs),
    /// Extend a license you issued yourself; prints its new token.
    ///
    /// A trial becomes a paid license, keeping its seats, unless --trial keeps it an
    /// evaluation. Refused for a license the marketplace sold: its validity follows the
    /// marketplace's renewals.
    ///
    /// Example: licctl licenses extend dl-0123456789abcdef01234567 --days 365 --reason "PO 4711"
    Extend(ExtendArgs),
    /// Revoke a license for good (refund, fraud, leaked token).
    ///
    /// The license is released and its id goes on the revocation list; repeating it changes
    /// nothing.
    ///
    /// Example: licctl licenses revoke CS2211210001 --reason "refund 4711"
    Revoke(RevokeArgs),
}

/// Arguments of `licenses list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only licenses in this state: active, frozen or released.
    #[arg(long, value_name = "S")]
    pub status: Option<String>,
    /// Only this marketplace customerId.
    #[arg(long, value_name = "C")]
    pub customer: Option<String>,
    /// Only this marketplace productId.
    #[arg(long, value_name = "P")]
    pub product: Option<String>,
    /// Only this kind: classic (License 1.0), online (online activation) or code (License 2.0).
    #[arg(long, value_name = "K")]
    pub kind: Option<String>,
    /// Only test licenses (testFlag=1: the Seller Console's debug tool, dial tests,
    /// `licctl marketplace load`). Without it or --include-test, test licenses are left out.
    #[arg(long, conflicts_with = "include_test")]
    pub test: bool,
    /// Real and test licenses together.
    #[arg(long)]
    pub include_test: bool,
    /// Only unreleased licenses whose paid period ends within N days from now.
    #[arg(long, value_name = "N")]
    pub expiring_days: Option<u32>,
    /// Only licenses with a live seat or device token bound to more than one disk or mainboard
    /// value. Verifiers built before licd 0.1's one-machine rule accept such a token on several
    /// machines: reissue these once your application ships a current verifier
    /// (see docs/security.md, "One seat, one machine").
    #[arg(long)]
    pub wide_bindings: bool,
    /// CSV for a spreadsheet instead of a table: a header row, then one row per license (RFC
    /// 4180, UTF-8). Cells a spreadsheet would run as a formula (=, +, -, @ at the start: names
    /// come from marketplace callbacks) get a leading ' so they show as text.
    ///
    /// Example: licctl licenses list --all --csv > licenses.csv
    #[arg(long)]
    pub csv: bool,
    /// How many licenses to print (with --all: how many per request).
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub limit: usize,
    /// Start after this license id (the cursor a previous list printed).
    #[arg(long, value_name = "ID")]
    pub after: Option<String>,
    /// Follow the cursor to the end instead of stopping after --limit licenses.
    #[arg(long)]
    pub all: bool,
}

/// A license id.
#[derive(Debug, Args)]
pub struct IdArg {
    /// The license id (the marketplace instanceId).
    pub id: String,
}

/// Arguments of `licenses token`.
#[derive(Debug, Args)]
pub struct TokenArgs {
    /// The license id (the marketplace instanceId).
    pub id: String,
    /// The eventId of an online-activation device license.
    #[arg(long, value_name = "EVENT_ID")]
    pub event: Option<String>,
}

/// Arguments of `licenses reissue`.
#[derive(Debug, Args)]
pub struct ReissueArgs {
    /// The license id.
    pub id: String,
    /// Bind the new token to this device fingerprint (marketplace format MAC|disk|board|CPU).
    #[arg(long, value_name = "RAW")]
    pub fingerprint: Option<String>,
    /// Why, for the audit log.
    #[arg(long, value_name = "TEXT", value_parser = Reason::parse_arg,
          required = Reason::REISSUE.is_required())]
    pub reason: Option<String>,
}

/// Prints what `create` or `extend` answered: the token on stdout (to pipe), the rest on
/// stderr; or the JSON.
fn issued(v: Value, json: bool, done: &str) -> Result<(), CliError> {
    if json {
        say!("{v}");
        return Ok(());
    }
    let r: IssuedResponse = typed(v)?;
    let l = &r.license;
    eprintln!(
        "license {} {done} ({}) for customer {}, {} seat(s), until {}",
        l.id,
        l.origin.as_deref().unwrap_or("marketplace"),
        l.customer,
        l.quantity,
        l.exp
            .map_or_else(|| "forever".to_string(), |t| t.to_rfc3339()),
    );
    say!("{}", r.token);
    Ok(())
}

/// Arguments of `licenses create`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("until").required(true).args(["days", "expires"])))]
pub struct CreateArgs {
    /// The product (the marketplace productId your catalog lists).
    #[arg(long, value_name = "P")]
    pub product: String,
    /// The SKU (the catalog's edition).
    #[arg(long, value_name = "S")]
    pub sku: Option<String>,
    /// The customer's id in your own books.
    #[arg(long, value_name = "C")]
    pub customer: String,
    /// The customer's name.
    #[arg(long, value_name = "NAME")]
    pub customer_name: Option<String>,
    /// Valid for N days from now.
    #[arg(long, value_name = "N")]
    pub days: Option<u32>,
    /// Valid through DATE (YYYY-MM-DD, to the end of that day UTC) or until an RFC 3339 time.
    #[arg(long, value_name = "DATE", value_parser = parse_end)]
    pub expires: Option<client_verifier::Timestamp>,
    /// Seats (devices, or floating seats); default: the catalog's, else 1.
    #[arg(long, value_name = "N")]
    pub seats: Option<u32>,
    /// An evaluation: the token says origin "trial" until the license is extended.
    #[arg(long)]
    pub trial: bool,
    /// Your note (the deal, the prospect), kept with the license; never in the token.
    #[arg(long, value_name = "TEXT")]
    pub note: Option<String>,
}

/// Arguments of `licenses extend`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("until").required(true).args(["days", "expires"])))]
pub struct ExtendArgs {
    /// The license id.
    pub id: String,
    /// Add N days to the later of now and its current end.
    #[arg(long, value_name = "N")]
    pub days: Option<u32>,
    /// The new end: DATE (YYYY-MM-DD, to the end of that day UTC) or an RFC 3339 time.
    #[arg(long, value_name = "DATE", value_parser = parse_end)]
    pub expires: Option<client_verifier::Timestamp>,
    /// Keep a trial an evaluation (otherwise extending converts it to a paid license).
    #[arg(long)]
    pub trial: bool,
    /// Why, for the audit log.
    #[arg(long, value_name = "TEXT", value_parser = Reason::parse_arg)]
    pub reason: Option<String>,
}

/// `--expires`: a date means through the end of that day, UTC; an RFC 3339 time is exact.
fn parse_end(text: &str) -> Result<client_verifier::Timestamp, String> {
    use client_verifier::{DAY, Timestamp};
    if let Some(t) = Timestamp::parse_rfc3339(text) {
        return Ok(t);
    }
    Timestamp::parse_rfc3339(&format!("{text}T00:00:00Z"))
        .filter(|_| text.len() == 10)
        .map(|day| day.add_secs(DAY))
        .ok_or_else(|| format!("{text:?}: expected YYYY-MM-DD or an RFC 3339 time"))
}

/// Arguments of `licenses revoke`.
#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// The license id.
    pub id: String,
    /// Why, for the audit log (required).
    #[arg(long, value_name = "TEXT", value_parser = Reason::parse_arg,
          required = Reason::REVOKE.is_required())]
    pub reason: String,
}

/// `licctl codes …`
#[derive(Debug, Subcommand)]
pub enum CodesCommand {
    /// List the licenses of License 2.0 codes (as `licenses list --kind code`).
    ///
    /// Example: licctl codes list --status frozen
    List(ListArgs),
    /// Show the license of one code, the code included: its state, when it was activated and
    /// last checked with the marketplace, and its device seats.
    ///
    /// Example: licctl codes show LC7Q-9XKD-2M4P-TT8W
    Show(CodeArg),
    /// Enter the product, quantity and order of a code whose activation answer from the
    /// marketplace was lost (licd logs "a code's activation answer was lost" and answers its
    /// devices 503 until then). Take the values from the order in the Seller Console. Audited
    /// under your name; a license already recorded without them is reminted.
    ///
    /// Example: licctl codes repair LC7Q-9XKD-2M4P-TT8W --product OFFI2000 --quantity 5 --order CS2212010001
    Repair(RepairArgs),
}

/// `licctl codes repair` arguments.
#[derive(Debug, Args)]
pub struct RepairArgs {
    /// The code, as the marketplace shows it to the customer.
    pub code: String,
    /// The marketplace productId of the order.
    #[arg(long, value_name = "P")]
    pub product: String,
    /// How many devices the customer bought (the order's amount).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub quantity: u32,
    /// The order id; may be left out when licd knows it already.
    #[arg(long, value_name = "O")]
    pub order: Option<String>,
}

/// `licctl products …`
#[derive(Debug, Subcommand)]
pub enum ProductsCommand {
    /// Every catalog entry (and the default), with its edition, seats, binding, check-in and
    /// entitlements, and the purchases of products the catalog does not list.
    ///
    /// Example: licctl products list
    List,
    /// The entry a purchase of this product (and SKU) gets, and how it was found.
    ///
    /// Example: licctl products show OFFI454488918838374 --sku sku-pro
    Show(ProductArg),
    /// Read the catalog file again (as SIGHUP does). An invalid file is refused with the line
    /// and key at fault, and the catalog in use stays.
    ///
    /// Example: licctl products reload
    Reload,
}

/// A product.
#[derive(Debug, Args)]
pub struct ProductArg {
    /// The marketplace productId.
    pub id: String,
    /// The skuCode.
    #[arg(long, value_name = "SKU")]
    pub sku: Option<String>,
}

/// An activation code.
#[derive(Debug, Args)]
pub struct CodeArg {
    /// The code, as the marketplace shows it to the customer.
    pub code: String,
}

/// `licctl revocations …`
#[derive(Debug, Subcommand)]
pub enum RevocationsCommand {
    /// Print the current signed revocation list (a token) for applications that are offline.
    ///
    /// Example: licctl revocations export > revocations.paseto
    Export,
}

/// `licctl keys …` (the running daemon's side of the key hierarchy; the keys themselves are
/// managed on the server with `licd keys`).
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// After the root revoked an issuing key (`licctl root revoke-key`, then `licd keys
    /// revocations FILE` and a restart on every node): sign again, with the current key, every
    /// live license, seat and device license token the revoked key signed. Customers get the
    /// new token on their next refresh; device licenses go to the marketplace again. Safe to
    /// run again.
    ///
    /// Example: licctl keys revoke k4.pid.Xq3… --reason "server backup stolen"
    Revoke(KeyRevokeArgs),
}

/// Arguments of `keys revoke`.
#[derive(Debug, Args)]
pub struct KeyRevokeArgs {
    /// The revoked key's id (`k4.pid.…`, as `licd keys list` shows it).
    pub kid: String,
    /// Why, for the audit log (required).
    #[arg(long)]
    pub reason: String,
}

/// `licctl leases …`
#[derive(Debug, Subcommand)]
pub enum LeasesCommand {
    /// A floating license's leases: who holds which seat, until when; ended ones stay listed
    /// for an hour.
    ///
    /// Example: licctl leases list 3f2a9c01-…
    List(LeasesListArgs),
    /// Take a lease back (a hung program, a machine gone): its renewals are refused at once,
    /// and its seat is free when the lease expires (the program may run until then: its
    /// token works offline). Audited with your reason.
    ///
    /// Example: licctl leases release 3f2a9c01-…~5be0d2… --reason "workstation reimaged"
    Release(LeaseReleaseArgs),
    /// Load generator: take N leases spread over the floating licenses in a file, then renew
    /// them for a while, and report throughput and latency. Talks to the public API only.
    ///
    /// Example: licctl leases load --url http://127.0.0.1:8080 --licenses tokens.txt --leases 100000
    Load(super::lease_load::LeaseLoadArgs),
}

/// Arguments of `leases list`.
#[derive(Debug, Args)]
pub struct LeasesListArgs {
    /// The license id.
    pub id: String,
}

/// Arguments of `leases release`.
#[derive(Debug, Args)]
pub struct LeaseReleaseArgs {
    /// The lease id (as `licctl leases list` shows it).
    pub lease: String,
    /// Why, for the audit log (required).
    #[arg(long)]
    pub reason: String,
}

/// `licctl outbox …`
#[derive(Debug, Subcommand)]
pub enum OutboxCommand {
    /// List the calls licd still owes the marketplace (uploads, order queries).
    ///
    /// Example: licctl outbox list --dead
    List(OutboxListArgs),
    /// Retry a job now (a dead one is revived, its attempts reset).
    ///
    /// Example: licctl outbox retry up-3f2a9c01d4e5b6a7c8d9
    Retry(JobArg),
}

/// Arguments of `outbox list`.
#[derive(Debug, Args)]
pub struct OutboxListArgs {
    /// Only jobs that gave up and wait for an operator.
    #[arg(long)]
    pub dead: bool,
}

/// An outbox job id.
#[derive(Debug, Args)]
pub struct JobArg {
    /// The job id, as `outbox list` shows it.
    pub id: String,
}

/// The admin commands, as one enum for the runner.
#[derive(Debug)]
pub enum AdminCommand {
    /// `licenses …`
    Licenses(LicensesCommand),
    /// `codes …`
    Codes(CodesCommand),
    /// `products …`
    Products(ProductsCommand),
    /// `revocations …`
    Revocations(RevocationsCommand),
    /// `keys …`
    Keys(KeysCommand),
    /// `leases …`
    Leases(LeasesCommand),
    /// `outbox …`
    Outbox(OutboxCommand),
    /// `offline activate|deactivate`
    Offline(super::offline::OfflineCommand),
    /// `site allot|return`
    Site(super::offline::SiteCommand),
}

/// Runs an admin command against the daemon `admin` points at.
pub fn run(admin: &AdminArgs, cmd: AdminCommand, json: bool) -> Result<(), CliError> {
    let client = admin.client()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::negative(format!("cannot start the runtime: {e}")))?;
    runtime.block_on(async move {
        match cmd {
            AdminCommand::Licenses(c) => licenses(&client, c, json).await,
            AdminCommand::Codes(CodesCommand::List(mut a)) => {
                a.kind = Some("code".into());
                list(&client, &a, json).await
            }
            AdminCommand::Products(cmd) => products(&client, cmd, json).await,
            AdminCommand::Codes(CodesCommand::Show(a)) => {
                // The code is a bearer secret: in the body, never in a URL.
                let req = client
                    .request(Method::POST, "/admin/v1/codes/lookup")
                    .json(&CodeRequest { code: a.code });
                print_detail(client.json(req).await?, json)
            }
            AdminCommand::Codes(CodesCommand::Repair(a)) => {
                let req =
                    client
                        .request(Method::POST, "/admin/v1/codes/repair")
                        .json(&RepairRequest {
                            code: a.code,
                            product: a.product,
                            quantity: a.quantity,
                            order: a.order,
                        });
                let v = client.json(req).await?;
                if json {
                    say!("{v}");
                } else {
                    let r: RepairResponse = typed(v)?;
                    let when = if r.activated {
                        "reminted; devices get it at their next refresh"
                    } else {
                        "the next activation of the code uses them"
                    };
                    say!(
                        "license {}: product {}, {} seats, order {} recorded; {when}",
                        r.id,
                        r.product,
                        r.quantity,
                        r.order
                    );
                }
                Ok(())
            }
            AdminCommand::Revocations(RevocationsCommand::Export) => {
                revocations(&client, json).await
            }
            AdminCommand::Keys(KeysCommand::Revoke(a)) => revoke_key(&client, &a, json).await,
            AdminCommand::Leases(cmd) => leases(&client, cmd, json).await,
            AdminCommand::Outbox(OutboxCommand::List(a)) => outbox_list(&client, &a, json).await,
            AdminCommand::Outbox(OutboxCommand::Retry(a)) => outbox_retry(&client, &a, json).await,
            AdminCommand::Offline(cmd) => offline(&client, cmd, json).await,
            AdminCommand::Site(cmd) => site(&client, cmd, json).await,
        }
    })
}

/// A path segment, percent-encoded: ids come from the marketplace and may hold anything.
fn seg(id: &str) -> String {
    form_urlencoded::byte_serialize(id.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

async fn licenses(c: &AdminClient, cmd: LicensesCommand, json: bool) -> Result<(), CliError> {
    match cmd {
        LicensesCommand::List(a) => list(c, &a, json).await,
        LicensesCommand::Show(a) => {
            show(c, &format!("/admin/v1/licenses/{}", seg(&a.id)), json).await
        }
        LicensesCommand::Token(a) => {
            let v = c
                .json(
                    c.request(
                        Method::GET,
                        &format!("/admin/v1/licenses/{}/token", seg(&a.id)),
                    )
                    .query(&[("event", a.event.as_deref())]),
                )
                .await?;
            if json {
                say!("{v}");
            } else {
                say!("{}", typed::<TokenResponse>(v)?.token);
            }
            Ok(())
        }
        LicensesCommand::Audit(a) => audit(c, &a.id, json).await,
        LicensesCommand::Reissue(a) => {
            let req = c
                .request(
                    Method::POST,
                    &format!("/admin/v1/licenses/{}/reissue", seg(&a.id)),
                )
                .json(&ReissueRequest {
                    fingerprint: a.fingerprint,
                    reason: a.reason,
                });
            let v = c.json(req).await?;
            if json {
                say!("{v}");
            } else {
                let t: TokenResponse = typed(v)?;
                eprintln!(
                    "license {} reissued as revision {}; old device bindings revoked",
                    t.id, t.revision
                );
                say!("{}", t.token);
            }
            Ok(())
        }
        LicensesCommand::Create(a) => {
            let req = c
                .request(Method::POST, "/admin/v1/licenses")
                .json(&CreateLicenseRequest {
                    product: a.product,
                    sku: a.sku,
                    customer: a.customer,
                    customer_name: a.customer_name,
                    days: a.days,
                    expires: a.expires,
                    seats: a.seats,
                    trial: a.trial,
                    note: a.note,
                });
            issued(c.json(req).await?, json, "issued")
        }
        LicensesCommand::Extend(a) => {
            let req = c
                .request(
                    Method::POST,
                    &format!("/admin/v1/licenses/{}/extend", seg(&a.id)),
                )
                .json(&ExtendRequest {
                    days: a.days,
                    expires: a.expires,
                    trial: a.trial,
                    reason: a.reason,
                });
            issued(c.json(req).await?, json, "extended")
        }
        LicensesCommand::Revoke(a) => {
            let req = c
                .request(
                    Method::POST,
                    &format!("/admin/v1/licenses/{}/revoke", seg(&a.id)),
                )
                .json(&RevokeRequest {
                    reason: Some(a.reason),
                });
            let v = c.json(req).await?;
            if json {
                say!("{v}");
            } else {
                let l: Summary = typed(v)?;
                say!(
                    "license {} revoked (status {}); publish the list: licctl revocations export",
                    l.id,
                    l.status.as_str()
                );
            }
            Ok(())
        }
    }
}

async fn offline(
    c: &AdminClient,
    cmd: super::offline::OfflineCommand,
    json: bool,
) -> Result<(), CliError> {
    use super::offline::OfflineCommand;
    match cmd {
        OfflineCommand::Activate(a) => {
            let req = c
                .request(Method::POST, "/admin/v1/offline/activate")
                .json(&ActivateRequest { request: a.read()? });
            let v = c.json(req).await?;
            if json {
                say!("{v}");
            } else {
                let r: ActivateResponse = typed(v)?;
                eprintln!(
                    "license {}: seat {} {}{}",
                    r.license,
                    r.seat,
                    if r.activated {
                        "taken by this machine"
                    } else {
                        "already held by this machine (token minted again)"
                    },
                    if r.transfer {
                        ", counted as a transfer"
                    } else {
                        ""
                    }
                );
                say!("{}", r.token);
            }
            Ok(())
        }
        OfflineCommand::Deactivate(a) => {
            let req = c
                .request(Method::POST, "/admin/v1/offline/deactivate")
                .json(&DeactivateRequest { receipt: a.read()? });
            let v = c.json(req).await?;
            if json {
                say!("{v}");
            } else {
                let r: DeactivateResponse = typed(v)?;
                say!(
                    "license {}: seat {} given back; transfers {} of {} in the last 365 days",
                    r.license,
                    r.seat,
                    r.transfers_used,
                    r.transfers_limit
                );
            }
            Ok(())
        }
        OfflineCommand::Request(_) | OfflineCommand::Receipt(_) => Err(CliError::usage(
            "offline request and receipt run on the machine, not through the daemon",
        )),
    }
}

async fn site(
    c: &AdminClient,
    cmd: super::offline::SiteCommand,
    json: bool,
) -> Result<(), CliError> {
    use super::offline::SiteCommand;
    match cmd {
        SiteCommand::Allot(a) => {
            let req = c
                .request(Method::POST, "/admin/v1/site/allot")
                .json(&ActivateRequest { request: a.read()? });
            let v = c.json(req).await?;
            if json {
                say!("{v}");
            } else {
                let r: crate::admin_api::AllotResponse = typed(v)?;
                eprintln!(
                    "license {}: {} seat(s) allotted to the site until {}{}",
                    r.license,
                    r.seats,
                    r.expires_at,
                    if r.new {
                        ""
                    } else {
                        " (renewed: the site's allotment before no longer counts)"
                    }
                );
                say!("{}", r.allotment);
            }
        }
        SiteCommand::Return(a) => {
            let req = c
                .request(Method::POST, "/admin/v1/site/return")
                .json(&DeactivateRequest { receipt: a.read()? });
            let v = c.json(req).await?;
            if json {
                say!("{v}");
            } else {
                let r: crate::admin_api::SiteReturnResponse = typed(v)?;
                if r.returned {
                    say!(
                        "license {}: the site's {} seat(s) are given back, free from {}",
                        r.license,
                        r.seats,
                        r.free_at
                    );
                } else {
                    say!(
                        "license {}: nothing changed (given back before, or from before the site's last return)",
                        r.license
                    );
                }
            }
        }
    }
    Ok(())
}

const LIST_COLUMNS: [&str; 8] = [
    "ID", "STATUS", "KIND", "CUSTOMER", "PRODUCT", "QTY", "EXPIRES", "TEST",
];

fn list_row(l: &Summary) -> Vec<String> {
    vec![
        l.id.clone(),
        l.status.as_str().to_string(),
        // A license the ISV issued says so where the kind is: `classic (trial)`.
        match &l.origin {
            Some(o) => format!("{} ({o})", l.kind.as_str()),
            None => l.kind.as_str().to_string(),
        },
        l.customer.clone(),
        l.product.clone(),
        l.quantity.to_string(),
        l.exp
            .map_or_else(|| "never".to_string(), |e| e.to_rfc3339()),
        if l.test { "test" } else { "" }.to_string(),
    ]
}

async fn list(c: &AdminClient, a: &ListArgs, json: bool) -> Result<(), CliError> {
    if json && a.csv {
        return Err(CliError::usage("--json and --csv: choose one"));
    }
    if a.limit == 0 || a.limit > MAX_LIMIT {
        return Err(CliError::usage(format!(
            "--limit: expected 1 to {MAX_LIMIT}"
        )));
    }
    let mut after = a.after.clone();
    let mut printed = 0usize;
    // Widths grow as pages come in; a table is printed page by page, never held whole.
    let mut widths: Vec<usize> = LIST_COLUMNS.iter().map(|h| h.len()).collect();
    let mut header_done = false;
    loop {
        let want = if a.all { a.limit } else { a.limit - printed };
        let mut query: Vec<(&str, String)> = vec![("limit", want.to_string())];
        if let Some(s) = &a.status {
            query.push(("status", s.clone()));
        }
        if let Some(cu) = &a.customer {
            query.push(("customer", cu.clone()));
        }
        if let Some(p) = &a.product {
            query.push(("product", p.clone()));
        }
        if let Some(k) = &a.kind {
            query.push(("kind", k.clone()));
        }
        if a.test {
            query.push(("test", "true".into()));
        } else if !a.include_test {
            query.push(("test", "false".into()));
        }
        if let Some(d) = a.expiring_days {
            query.push(("expiring_days", d.to_string()));
        }
        if a.wide_bindings {
            query.push(("wide_bindings", "true".into()));
        }
        if let Some(af) = &after {
            query.push(("after", af.clone()));
        }
        let raw = c
            .json(c.request(Method::GET, "/admin/v1/licenses").query(&query))
            .await?;
        let items = raw["licenses"].as_array().cloned().unwrap_or_default();
        let page: ListResponse = typed(raw)?;
        printed += page.licenses.len();
        if json {
            for l in &items {
                say!("{l}");
            }
        } else if a.csv {
            say_raw!(
                "{}",
                crate::license_csv::lines(&page.licenses, !header_done)
            );
            header_done = true;
        } else {
            let rows: Vec<Vec<String>> = page.licenses.iter().map(list_row).collect();
            for r in &rows {
                for (w, cell) in widths.iter_mut().zip(r) {
                    *w = (*w).max(cell.chars().count());
                }
            }
            if !header_done {
                let head: Vec<String> = LIST_COLUMNS.iter().map(|h| h.to_string()).collect();
                say_raw!("{}", table_lines(std::slice::from_ref(&head), &widths));
                header_done = true;
            }
            say_raw!("{}", table_lines(&rows, &widths));
        }
        after = page.next;
        match &after {
            None => break,
            Some(_) if a.all || printed < a.limit => continue,
            Some(cursor) => {
                eprintln!("more licenses may follow: add --after {cursor} or --all");
                break;
            }
        }
    }
    if !json && printed == 0 {
        eprintln!("no licenses match");
    }
    Ok(())
}

/// Rows padded to `widths`, two spaces between columns, no trailing blanks.
fn table_lines(rows: &[Vec<String>], widths: &[usize]) -> String {
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (cell, w) in row.iter().zip(widths) {
            line.push_str(&format!("{cell:<w$}  "));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn str_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

async fn products(c: &AdminClient, cmd: ProductsCommand, json: bool) -> Result<(), CliError> {
    let v = match &cmd {
        ProductsCommand::List => c.json(c.request(Method::GET, "/admin/v1/products")).await?,
        ProductsCommand::Show(a) => {
            c.json(
                c.request(Method::GET, &format!("/admin/v1/products/{}", seg(&a.id)))
                    .query(&[("sku", a.sku.as_deref())]),
            )
            .await?
        }
        ProductsCommand::Reload => {
            c.json(c.request(Method::POST, "/admin/v1/products/reload"))
                .await?
        }
    };
    if json {
        say!("{v}");
        return Ok(());
    }
    if let ProductsCommand::Show(a) = &cmd {
        match v["matched"].as_str() {
            Some("listed") => {}
            Some("default") => say!(
                "{} is not listed: a purchase gets the [default] entry",
                a.id
            ),
            _ => {
                say!(
                    "{} is not listed and there is no [default]: a purchase gets no entitlements",
                    a.id
                );
                return Ok(());
            }
        }
        say!("{}", entry_text(&v["entry"]));
        return Ok(());
    }
    match v["source"].as_str() {
        Some(file) => say!(
            "catalog {file}: {} entries",
            v["entries"].as_array().map_or(0, Vec::len)
        ),
        None => say!("no catalog configured (--products): every license has empty entitlements"),
    }
    if !v["default"].is_null() {
        say!("[default] {}", entry_text(&v["default"]));
    }
    for e in v["entries"].as_array().into_iter().flatten() {
        say!("{}", entry_text(e));
    }
    for u in v["unlisted_purchases"].as_array().into_iter().flatten() {
        say!(
            "unlisted product {} bought {} time(s) since start: add it to the catalog",
            str_of(&u["product"]),
            u["purchases"]
        );
    }
    Ok(())
}

/// One catalog entry on one line.
fn entry_text(e: &Value) -> String {
    let product = match (e["product"].as_str(), e["sku"].as_str()) {
        (Some(""), _) | (None, _) => String::new(),
        (Some(p), Some(s)) => format!("{p} sku {s}: "),
        (Some(p), None) => format!("{p}: "),
    };
    format!(
        "{product}{} (seats {}, binding {}, check-in {}, freeze {}) {}",
        str_of(&e["name"]),
        if e["seats"].is_null() {
            "-".to_string()
        } else {
            e["seats"].to_string()
        },
        str_of(&e["binding"]),
        match e["check_in_days"].as_u64() {
            Some(0) | None => "never".to_string(),
            Some(d) => format!("{d} days"),
        },
        if e["freeze_days"].is_null() {
            "default".to_string()
        } else {
            format!("{} days", e["freeze_days"])
        },
        e["entitlements"]
    )
}

/// Prints the license at admin API `path`.
async fn show(c: &AdminClient, path: &str, json: bool) -> Result<(), CliError> {
    print_detail(c.json(c.request(Method::GET, path)).await?, json)
}

fn print_detail(v: Value, json: bool) -> Result<(), CliError> {
    if json {
        say!("{v}");
    } else {
        show_text(&typed(v)?);
    }
    Ok(())
}

fn show_text(d: &Detail) {
    let l = &d.summary;
    let time =
        |t: &Option<client_verifier::Timestamp>| t.map_or_else(|| "-".into(), |t| t.to_rfc3339());
    // The order a person reads a license in. License 2.0 fields are absent on other kinds,
    // and then not worth a row.
    let mut rows: Vec<(String, String)> = vec![
        ("id".into(), l.id.clone()),
        ("status".into(), l.status.as_str().into()),
        ("kind".into(), l.kind.as_str().into()),
    ];
    if let Some(code) = &d.code {
        rows.push(("code".into(), code.clone()));
    }
    if d.activated.is_some() {
        rows.push(("activated".into(), time(&d.activated)));
    }
    if d.checked.is_some() {
        rows.push(("checked".into(), time(&d.checked)));
    }
    rows.push(("test".into(), l.test.to_string()));
    rows.push(("customer".into(), l.customer.clone()));
    rows.push((
        "customer name".into(),
        l.customer_name.clone().unwrap_or_else(|| "-".into()),
    ));
    rows.push(("product".into(), l.product.clone()));
    rows.push(("sku".into(), l.sku.clone()));
    if let Some(e) = &l.edition {
        rows.push(("edition".into(), e.clone()));
    }
    rows.push(("order".into(), l.order.clone()));
    rows.push((
        "order line".into(),
        d.order_line.clone().unwrap_or_else(|| "-".into()),
    ));
    rows.push(("quantity".into(), l.quantity.to_string()));
    rows.push(("revision".into(), l.revision.to_string()));
    rows.push(("nbf".into(), l.nbf.to_rfc3339()));
    rows.push((
        "exp".into(),
        l.exp.map_or_else(|| "never".into(), |e| e.to_rfc3339()),
    ));
    rows.push(("periodic".into(), d.periodic.to_string()));
    rows.push(("order synced".into(), time(&d.order_synced)));
    rows.push(("created".into(), l.created.to_rfc3339()));
    rows.push(("updated".into(), l.updated.to_rfc3339()));
    rows.push((
        "entitlements".into(),
        Value::Object(d.entitlements.clone()).to_string(),
    ));
    for a in &d.activations {
        let how = match (a.offline, a.transfer) {
            (true, true) => " offline, a transfer,",
            (true, false) => " offline,",
            (false, true) => " a transfer,",
            (false, false) => "",
        };
        let end = match a.revoked {
            Some(at) if a.deactivated => format!(", GIVEN BACK {}", at.to_rfc3339()),
            _ => revoked_note(a.revoked),
        };
        rows.push((
            format!("seat {}", a.seat),
            format!(
                "revision {},{how} activated {}{end}",
                a.revision,
                a.created.to_rfc3339(),
            ),
        ));
    }
    if !d.activations.is_empty() {
        let t = &d.transfers;
        rows.push((
            "transfers".to_string(),
            format!(
                "{} of {} in the last 365 days{}",
                t.used,
                t.limit,
                match t.pending {
                    0 => String::new(),
                    n => format!(", {n} seat(s) given back and not taken again"),
                }
            ),
        ));
    }
    for s in &d.sites {
        let state = match (s.returned, s.leases_end) {
            (Some(r), Some(end)) => format!(
                ", GIVEN BACK {} (free from {})",
                r.to_rfc3339(),
                end.to_rfc3339()
            ),
            (Some(r), None) => format!(", GIVEN BACK {}", r.to_rfc3339()),
            (None, _) => String::new(),
        };
        rows.push((
            format!("site {}", s.id),
            format!(
                "{} seat(s) until {}, allotment {}{}{state}",
                s.seats,
                s.expires.to_rfc3339(),
                s.allotment,
                if s.transfer { ", a transfer" } else { "" }
            ),
        ));
    }
    for dev in &d.devices {
        rows.push((
            format!("device {}", dev.event_id),
            format!(
                "{}, minted {}{}",
                dev.fingerprint,
                dev.created.to_rfc3339(),
                revoked_note(dev.revoked)
            ),
        ));
    }
    let rows: Vec<Vec<String>> = rows.into_iter().map(|(k, v)| vec![k, v]).collect();
    let width = rows.iter().map(|r| r[0].chars().count()).max().unwrap_or(0);
    say_raw!("{}", table_lines(&rows, &[width, 0]));
}

fn revoked_note(at: Option<client_verifier::Timestamp>) -> String {
    match at {
        Some(at) => format!(", REVOKED {}", at.to_rfc3339()),
        None => String::new(),
    }
}

async fn audit(c: &AdminClient, id: &str, json: bool) -> Result<(), CliError> {
    let v = c
        .json(c.request(
            Method::GET,
            &format!("/admin/v1/licenses/{}/audit", seg(id)),
        ))
        .await?;
    let printed = json.then(|| v.to_string());
    let a: AuditResponse = typed(v)?;
    match printed {
        Some(v) => say!("{v}"),
        None => {
            let mut rows = vec![vec![
                "SEQ".to_string(),
                "AT".to_string(),
                "ACTOR".to_string(),
                "ACTION".to_string(),
                "DETAIL".to_string(),
            ]];
            for e in &a.events {
                rows.push(vec![
                    e.seq.to_string(),
                    e.event.at.to_rfc3339(),
                    e.event.actor.clone(),
                    e.event.action.clone(),
                    e.event.detail.to_string(),
                ]);
            }
            let widths: Vec<usize> = (0..5)
                .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
                .collect();
            say_raw!("{}", table_lines(&rows, &widths));
            match (a.chain.intact, a.chain.records, a.chain.broken_at) {
                (true, n, _) => say!("chain intact ({} records)", n.unwrap_or(0)),
                (false, _, at) => say!("chain BROKEN at seq {}", at.unwrap_or(0)),
            }
        }
    }
    if a.chain.intact {
        Ok(())
    } else {
        Err(CliError::negative(format!(
            "the audit log's hash chain is BROKEN at seq {}: a record was altered or removed",
            a.chain.broken_at.unwrap_or(0)
        )))
    }
}

async fn revocations(c: &AdminClient, json: bool) -> Result<(), CliError> {
    let v = c
        .json(c.request(Method::GET, "/admin/v1/revocations"))
        .await?;
    if json {
        say!("{v}");
    } else {
        say!("{}", typed::<RevocationsResponse>(v)?.list);
    }
    Ok(())
}

async fn leases(c: &AdminClient, cmd: LeasesCommand, json: bool) -> Result<(), CliError> {
    match cmd {
        LeasesCommand::List(a) => {
            let v = c
                .json(c.request(
                    Method::GET,
                    &format!("/admin/v1/licenses/{}/leases", seg(&a.id)),
                ))
                .await?;
            if json {
                say!("{v}");
                return Ok(());
            }
            let r: crate::admin_api::LeasesResponse = typed(v)?;
            say!(
                "license {}: {} of {} seat(s) in use",
                r.license_id,
                r.in_use,
                r.seats
            );
            for x in &r.leases {
                let state = match (x.holds_seat, x.released, x.force_released) {
                    (true, _, Some(at)) => {
                        format!("taken back at {at}, seat free at {}", x.frees_at)
                    }
                    (true, Some(at), _) => format!("released at {at}, seat free at {}", x.frees_at),
                    (true, None, None) if x.borrowed => format!("borrowed until {}", x.expires),
                    (true, None, None) => format!("held until {}", x.expires),
                    (false, _, _) => format!("ended, seat free since {}", x.frees_at),
                };
                say!(
                    "  seat {:>3}  {}  {}  {}",
                    x.seat,
                    x.id,
                    crate::logsafe::quoted(&x.instance),
                    state
                );
            }
            Ok(())
        }
        LeasesCommand::Release(a) => {
            let req = c.request(Method::POST, "/admin/v1/leases/release").json(
                &crate::admin_api::ForceReleaseRequest {
                    lease: a.lease.clone(),
                    reason: Some(a.reason.clone()),
                },
            );
            let v = c.json(req).await?;
            if json {
                say!("{v}");
                return Ok(());
            }
            let x: crate::admin_api::LeaseView = typed(v)?;
            say!(
                "lease {} taken back: renewals are refused; seat {} is free at {}",
                x.id,
                x.seat,
                x.frees_at
            );
            Ok(())
        }
        LeasesCommand::Load(a) => super::lease_load::run(a, json).await,
    }
}

async fn revoke_key(c: &AdminClient, a: &KeyRevokeArgs, json: bool) -> Result<(), CliError> {
    let req = c
        .request(
            Method::POST,
            &format!("/admin/v1/keys/{}/revoke", seg(a.kid.trim())),
        )
        .json(&RevokeRequest {
            reason: Some(a.reason.clone()),
        })
        // It reads every license: minutes for a million.
        .timeout(std::time::Duration::from_secs(3600));
    let v = c.json(req).await?;
    if json {
        say!("{v}");
        return Ok(());
    }
    let done: crate::service::Resigned = typed(v)?;
    say!(
        "signed again with {}: {} license token(s), {} seat(s), {} device license(s) (queued for upload) of {} licenses",
        done.signing_kid,
        done.licenses,
        done.seats,
        done.devices,
        done.scanned
    );
    say!(
        "customers get the new tokens on their next refresh; tokens {} signed that this server did not mint are refused",
        done.kid
    );
    Ok(())
}

async fn outbox_list(c: &AdminClient, a: &OutboxListArgs, json: bool) -> Result<(), CliError> {
    let mut req = c.request(Method::GET, "/admin/v1/outbox");
    if a.dead {
        req = req.query(&[("dead", "true")]);
    }
    let v = c.json(req).await?;
    if json {
        say!("{v}");
        return Ok(());
    }
    let jobs = typed::<OutboxResponse>(v)?.jobs;
    if jobs.is_empty() {
        eprintln!(
            "{}",
            if a.dead {
                "no dead jobs"
            } else {
                "the outbox is empty"
            }
        );
        return Ok(());
    }
    let mut rows = vec![
        [
            "ID",
            "LICENSE",
            "KIND",
            "SUBJECT",
            "ATTEMPTS",
            "NEXT",
            "STATE",
            "LAST ERROR",
        ]
        .map(str::to_string)
        .to_vec(),
    ];
    for j in jobs {
        rows.push(vec![
            j.id,
            j.license_id,
            j.kind,
            j.subject,
            j.attempts.to_string(),
            j.next_at.to_rfc3339(),
            if j.dead { "dead" } else { "pending" }.to_string(),
            j.last_error.unwrap_or_default(),
        ]);
    }
    let widths: Vec<usize> = (0..8)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    say_raw!("{}", table_lines(&rows, &widths));
    Ok(())
}

async fn outbox_retry(c: &AdminClient, a: &JobArg, json: bool) -> Result<(), CliError> {
    let v = c
        .json(c.request(
            Method::POST,
            &format!("/admin/v1/outbox/{}/retry", seg(&a.id)),
        ))
        .await?;
    if json {
        say!("{v}");
    } else {
        let j: JobView = typed(v)?;
        say!(
            "job {} ({} for license {}) is due now",
            j.id,
            j.kind,
            j.license_id
        );
    }
    Ok(())
}

/// An answer of the admin API read as its type; one that does not fit comes from another
/// version of licd.
pub(super) fn typed<T: serde::de::DeserializeOwned>(v: Value) -> Result<T, CliError> {
    serde_json::from_value(v).map_err(|e| {
        CliError::negative(format!(
            "the daemon's answer is not what this licctl reads ({e}): use licctl of the same version as licd"
        ))
    })
}
