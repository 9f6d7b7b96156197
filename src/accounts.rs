//! The ISV's team: named accounts with roles, the one matrix of what each role may do, API
//! tokens, and the credentials behind them (Argon2id password hashes, TOTP second factors).
//!
//! Pure: no storage, no HTTP. The service keeps the accounts as one document ([`Accounts`]) in
//! the store, changed by compare-and-swap, so every node of a cluster sees the same team; the
//! admin API, the console and licctl all ask [`Principal::require`] before anything changes.
//!
//! Who may do what is decided here and nowhere else ([`Role::may`], [`Principal::may`]).

use std::collections::BTreeMap;

use client_verifier::Timestamp;
use serde::{Deserialize, Serialize};

/// What someone on the ISV's team is allowed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads everything but secrets; changes nothing.
    Viewer,
    /// Serves customers: sees codes, frees seats and leases, offline activations, sites,
    /// reissues and the outbox.
    Support,
    /// Issues and extends the ISV's own licenses and trials.
    Sales,
    /// Reloads and tests the catalog and webhooks.
    Developer,
    /// Everything, including keys, backups, accounts and API tokens.
    Admin,
}

/// Every role, least powerful first.
pub const ROLES: [Role; 5] = [
    Role::Viewer,
    Role::Support,
    Role::Sales,
    Role::Developer,
    Role::Admin,
];

impl Role {
    /// The role's name: `viewer`, `support`, `sales`, `developer`, `admin`.
    pub fn name(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Support => "support",
            Role::Sales => "sales",
            Role::Developer => "developer",
            Role::Admin => "admin",
        }
    }

    /// The role named `s` (any case).
    pub fn parse(s: &str) -> Option<Role> {
        ROLES
            .into_iter()
            .find(|r| r.name().eq_ignore_ascii_case(s.trim()))
    }

    /// The matrix: whether this role may do `action`.
    pub fn may(self, action: Action) -> bool {
        use Action as A;
        match action {
            A::Read => true,
            A::SeeSecret | A::ServeCustomer | A::Outbox | A::Sites => {
                matches!(self, Role::Support | Role::Admin)
            }
            A::IssueDirect => matches!(self, Role::Sales | Role::Admin),
            A::Integrations => matches!(self, Role::Developer | Role::Admin),
            A::Revoke | A::Administer => self == Role::Admin,
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Everything a role may or may not do, as the matrix in `docs/operations.md` lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Read licenses, seats, leases, audit, outbox, dashboard, events, products.
    Read,
    /// See a License 2.0 code or a license's token: bearer secrets.
    SeeSecret,
    /// Free a seat, force-release a lease, offline activate or deactivate for a customer,
    /// repair a code's purchase.
    ServeCustomer,
    /// Reissue a license; retry or skip outbox jobs.
    Outbox,
    /// Create and extend the ISV's own licenses and trials.
    IssueDirect,
    /// Revoke a license.
    Revoke,
    /// Allot seats to a site server, or take a site's return.
    Sites,
    /// Reload and test the catalog and webhooks, replay or skip a webhook's events.
    Integrations,
    /// Keys, root certificates, backups, accounts, API tokens.
    Administer,
}

/// Every action, in the matrix's order.
pub const ACTIONS: [Action; 9] = [
    Action::Read,
    Action::SeeSecret,
    Action::ServeCustomer,
    Action::Outbox,
    Action::IssueDirect,
    Action::Revoke,
    Action::Sites,
    Action::Integrations,
    Action::Administer,
];

impl Action {
    /// The action's stable name, as refusals and the docs say it.
    pub fn name(self) -> &'static str {
        match self {
            Action::Read => "read",
            Action::SeeSecret => "see-secret",
            Action::ServeCustomer => "serve-customer",
            Action::Outbox => "outbox",
            Action::IssueDirect => "issue-direct",
            Action::Revoke => "revoke",
            Action::Sites => "sites",
            Action::Integrations => "integrations",
            Action::Administer => "administer",
        }
    }
}

/// Who is asking, as the service checks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// Someone on the ISV's team (or a script holding their API token, or the shared admin
    /// token).
    Staff {
        /// The audit log's name for them (see [`Principal::actor`]).
        actor: String,
        /// What they may do.
        role: Role,
    },
    /// A customer acting on their own license through a public route, with the proof it asks
    /// for (an offline request or receipt signed for the license, a portal session): may hand
    /// in offline requests and receipts and site allotments, nothing else.
    Customer {
        /// The audit log's name (`client`, `portal:<customer>`).
        actor: String,
    },
}

/// An `X-Licd-Actor` or console name claimed by a holder of the shared admin token may not look
/// like an account's name in the audit log: it gets this prefix instead.
const ACCOUNT_PREFIX: &str = "user:";

impl Principal {
    /// The holder of the shared admin token, naming themselves `claimed` (licctl's login name,
    /// the console's name field): an admin. A claim that looks like an account (`user:…`) is
    /// recorded as `claimed-user:…`, so the log never credits an account with what the shared
    /// token did.
    pub fn admin_token(claimed: &str) -> Self {
        let actor = if claimed.starts_with(ACCOUNT_PREFIX) {
            format!("claimed-{claimed}")
        } else {
            claimed.to_string()
        };
        Principal::Staff {
            actor,
            role: Role::Admin,
        }
    }

    /// Account `name` with `role`, signed in.
    pub fn account(name: &str, role: Role) -> Self {
        Principal::Staff {
            actor: format!("{ACCOUNT_PREFIX}{name}"),
            role,
        }
    }

    /// A script using API token `id` of account `owner`, with the token's `role`.
    pub fn api_token(owner: &str, id: &str, role: Role) -> Self {
        Principal::Staff {
            actor: format!("{ACCOUNT_PREFIX}{owner} (token {id})"),
            role,
        }
    }

    /// A customer on a public route, recorded as `actor`.
    pub fn customer(actor: impl Into<String>) -> Self {
        Principal::Customer {
            actor: actor.into(),
        }
    }

    /// The name the audit log records.
    pub fn actor(&self) -> &str {
        match self {
            Principal::Staff { actor, .. } | Principal::Customer { actor } => actor,
        }
    }

    /// The staff role, if any.
    pub fn role(&self) -> Option<Role> {
        match self {
            Principal::Staff { role, .. } => Some(*role),
            Principal::Customer { .. } => None,
        }
    }

    /// Whether they may do `action`. A customer may hand in what concerns their own license
    /// and carries its proof (offline activation and deactivation, a site's allotment and
    /// return); nothing else.
    pub fn may(&self, action: Action) -> bool {
        match self {
            Principal::Staff { role, .. } => role.may(action),
            Principal::Customer { .. } => matches!(action, Action::ServeCustomer | Action::Sites),
        }
    }

    /// Whether they may see a license's tokens (bearer credentials): with
    /// [`Action::SeeSecret`], or for a license the ISV issued itself (`direct`) with
    /// [`Action::IssueDirect`], since sales delivers what it issues.
    pub fn may_see_tokens(&self, direct: bool) -> bool {
        self.may(Action::SeeSecret) || (direct && self.may(Action::IssueDirect))
    }

    /// `Ok` when they may see a license's tokens ([`Principal::may_see_tokens`]).
    pub fn require_tokens(&self, direct: bool) -> Result<(), Forbidden> {
        if self.may_see_tokens(direct) {
            Ok(())
        } else {
            self.require(Action::SeeSecret)
        }
    }

    /// `Ok` when they may do `action`, else the refusal to answer with.
    pub fn require(&self, action: Action) -> Result<(), Forbidden> {
        if self.may(action) {
            Ok(())
        } else {
            Err(Forbidden {
                role: self.role(),
                action,
            })
        }
    }
}

/// A refusal: the principal's role may not do the action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{} may not {}: ask an admin (see the roles in docs/operations.md)", role.map_or("a customer", Role::name), describe(*action))]
pub struct Forbidden {
    /// The role refused (`None`: a customer).
    pub role: Option<Role>,
    /// What was refused.
    pub action: Action,
}

fn describe(a: Action) -> &'static str {
    match a {
        Action::Read => "read",
        Action::SeeSecret => "see activation codes or license tokens",
        Action::ServeCustomer => "free seats, release leases or activate offline for a customer",
        Action::Outbox => "reissue licenses or retry outbox jobs",
        Action::IssueDirect => "issue or extend licenses",
        Action::Revoke => "revoke licenses",
        Action::Sites => "allot or return site seats",
        Action::Integrations => "reload or test the catalog and webhooks",
        Action::Administer => "manage keys, backups, accounts or API tokens",
    }
}

// ---- the document ---------------------------------------------------------------------------

/// Every account and API token: one document, small (an ISV's team), swapped whole.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Accounts {
    /// Accounts by name.
    #[serde(default)]
    pub users: BTreeMap<String, Account>,
    /// API tokens by id.
    #[serde(default)]
    pub tokens: BTreeMap<String, ApiToken>,
}

/// One person on the ISV's team.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Account {
    /// What they may do.
    pub role: Role,
    /// The Argon2id hash (PHC string) of the password they chose; `None` until they use their
    /// one-time secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// The Argon2id hash of the one-time secret an admin handed out, until it is used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub one_time: Option<String>,
    /// When it was disabled: no sign-in, no session, no API token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<Timestamp>,
    /// The TOTP secret (base32) once the second factor is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub totp: Option<String>,
    /// A TOTP secret shown for enrolment, not yet confirmed by a code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub totp_pending: Option<String>,
    /// The last TOTP time step accepted: a code is good once.
    #[serde(default)]
    pub totp_step: u64,
    /// Bumped by disable, reset and a password change: sessions of an older generation end.
    #[serde(default)]
    pub generation: u32,
    /// Wrong passwords or codes in a row.
    #[serde(default)]
    pub failures: u32,
    /// Sign-in refused until then, after [`LOCK_AFTER`] failures in a row.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locked_until: Option<Timestamp>,
    /// Created.
    pub created: Timestamp,
    /// Last changed by an admin or by themselves.
    pub updated: Timestamp,
}

/// An API token for the admin API, held by a script on an account's behalf.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiToken {
    /// The account it acts for; disabling the account stops the token.
    pub owner: String,
    /// What it may do: the owner's role, or viewer.
    pub role: Role,
    /// What it is for, as the admin wrote.
    #[serde(default)]
    pub label: String,
    /// SHA-256 (hex) of its secret part; the secret itself is shown once and never kept.
    pub hash: String,
    /// Created.
    pub created: Timestamp,
    /// When it was revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked: Option<Timestamp>,
}

/// Wrong passwords or codes in a row before an account is locked for a while.
pub const LOCK_AFTER: u32 = 5;

impl Account {
    /// A new account with `role` whose first sign-in uses the one-time secret hashed as
    /// `one_time`.
    pub fn new(role: Role, one_time: String, now: Timestamp) -> Self {
        Account {
            role,
            password: None,
            one_time: Some(one_time),
            disabled: None,
            totp: None,
            totp_pending: None,
            totp_step: 0,
            generation: 0,
            failures: 0,
            locked_until: None,
            created: now,
            updated: now,
        }
    }

    /// Until when sign-in is refused, if it is at `now`.
    pub fn locked(&self, now: Timestamp) -> Option<Timestamp> {
        self.locked_until.filter(|u| *u > now)
    }

    /// Counts a wrong password or code at `now`; from [`LOCK_AFTER`] in a row each locks the
    /// account, 1 minute doubling to at most an hour. Returns the new lock, if any.
    pub fn failed(&mut self, now: Timestamp) -> Option<Timestamp> {
        self.failures = self.failures.saturating_add(1);
        if self.failures < LOCK_AFTER {
            return None;
        }
        let minutes = 1i64 << (self.failures - LOCK_AFTER).min(6);
        let until = Timestamp::from_unix(now.unix() + minutes.min(60) * 60);
        self.locked_until = Some(until);
        Some(until)
    }

    /// A right password (and code): the count starts again.
    pub fn succeeded(&mut self) {
        self.failures = 0;
        self.locked_until = None;
    }

    /// Handed a new one-time secret (hashed): password and second factor gone, sessions and
    /// locks ended, enabled again.
    pub fn reset(&mut self, one_time: String, now: Timestamp) {
        self.password = None;
        self.one_time = Some(one_time);
        self.totp = None;
        self.totp_pending = None;
        self.disabled = None;
        self.succeeded();
        self.generation = self.generation.wrapping_add(1);
        self.updated = now;
    }

    /// Disabled at `now`: every session and token of it ends.
    pub fn disable(&mut self, now: Timestamp) {
        self.disabled.get_or_insert(now);
        self.generation = self.generation.wrapping_add(1);
        self.updated = now;
    }
}

/// Why a name cannot be an account's.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        && name.as_bytes()[0].is_ascii_alphanumeric();
    if ok {
        Ok(())
    } else {
        Err(format!(
            "account name {}: use 1 to 64 of a-z, 0-9, '.', '_', '-', starting with a letter or digit",
            crate::logsafe::quoted_max(name, 64)
        ))
    }
}

/// Why a password cannot be chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WeakPassword {
    /// Fewer than 12 characters.
    #[error("the password is shorter than 12 characters")]
    Short,
    /// More than 256 characters.
    #[error("the password is longer than 256 characters")]
    Long,
    /// The account's own name.
    #[error("the password is the account's name")]
    Name,
}

impl WeakPassword {
    /// The message catalogs' sentence for it (`locales/*.ftl`).
    pub fn message_id(self) -> &'static str {
        match self {
            WeakPassword::Short => "console-error-password-short",
            WeakPassword::Long => "console-error-password-long",
            WeakPassword::Name => "console-error-password-name",
        }
    }
}

/// Whether `password` may be chosen by account `name`.
pub fn check_password(name: &str, password: &str) -> Result<(), WeakPassword> {
    let n = password.chars().count();
    if n < 12 {
        Err(WeakPassword::Short)
    } else if n > 256 {
        Err(WeakPassword::Long)
    } else if password.eq_ignore_ascii_case(name) {
        Err(WeakPassword::Name)
    } else {
        Ok(())
    }
}

// ---- credentials ----------------------------------------------------------------------------

/// The Argon2id cost: OWASP's first recommendation (19 MiB, 2 passes, 1 lane), about 20 ms of
/// one core in a release build.
fn argon2() -> argon2::Argon2<'static> {
    let params = argon2::Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
}

/// The Argon2id hash of `secret` as a PHC string, with a fresh salt.
pub fn hash_password(secret: &str) -> Result<String, String> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let salt_bytes = crate::crypto::random_bytes::<16>().map_err(|e| e.to_string())?;
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| e.to_string())?;
    argon2()
        .hash_password(secret.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Whether `secret` is the one hashed as `phc` (in time independent of where they differ; a
/// malformed hash matches nothing).
pub fn verify_password(secret: &str, phc: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    PasswordHash::new(phc).is_ok_and(|h| argon2().verify_password(secret.as_bytes(), &h).is_ok())
}

/// A hash no secret matches, checked when a name is unknown so the answer takes as long as for
/// a known one.
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password("licd decoy: no account has this").unwrap_or_default())
}

/// A one-time secret or API token secret: 128 random bits, hex.
pub fn new_secret() -> Result<String, String> {
    crate::crypto::random_bytes::<16>()
        .map(|b| crate::crypto::hex(&b))
        .map_err(|e| e.to_string())
}

/// A new TOTP secret: 160 random bits (RFC 4226's recommendation), base32.
pub fn new_totp_secret() -> Result<String, String> {
    let bytes = crate::crypto::random_bytes::<20>().map_err(|e| e.to_string())?;
    Ok(totp_rs::Secret::Raw(bytes.to_vec())
        .to_encoded()
        .to_string())
}

fn totp(secret: &str, name: &str) -> Result<totp_rs::TOTP, String> {
    let raw = totp_rs::Secret::Encoded(secret.to_string())
        .to_bytes()
        .map_err(|e| format!("TOTP secret: {e:?}"))?;
    totp_rs::TOTP::new(
        totp_rs::Algorithm::SHA1,
        6,
        1,
        30,
        raw,
        Some("licd".into()),
        name.to_string(),
    )
    .map_err(|e| format!("TOTP: {e}"))
}

/// The `otpauth://` URI an authenticator app reads for account `name` (issuer `licd`: SHA-1,
/// 6 digits, 30 s, what every app supports).
pub fn totp_uri(secret: &str, name: &str) -> Result<String, String> {
    Ok(totp(secret, name)?.get_url())
}

/// The QR code of `uri` as an SVG document (dark modules on white).
pub fn qr_svg(uri: &str) -> Result<String, String> {
    let code = qrcode::QrCode::new(uri.as_bytes()).map_err(|e| e.to_string())?;
    Ok(code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .build())
}

/// The time step of `code` if it is right for `secret` at `now` (one step of clock drift each
/// way) and later than `after`, the last step accepted: a code works once.
pub fn totp_step(secret: &str, name: &str, code: &str, now: Timestamp, after: u64) -> Option<u64> {
    let code = code.trim();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let t = totp(secret, name).ok()?;
    let now = u64::try_from(now.unix()).ok()?;
    let step = now / 30;
    let mut found = None;
    for s in [step.saturating_sub(1), step, step + 1] {
        let right = crate::crypto::ct_eq(t.generate(s * 30).as_bytes(), code.as_bytes());
        if right && s > after && found.is_none() {
            found = Some(s);
        }
    }
    found
}

/// The code for `secret` at `now` (tests and `licctl`'s own checks).
pub fn totp_code(secret: &str, name: &str, now: Timestamp) -> Option<String> {
    Some(
        totp(secret, name)
            .ok()?
            .generate(u64::try_from(now.unix()).ok()?),
    )
}

/// An API token as handed out: `licd_<id>_<secret>`.
pub fn api_token_text(id: &str, secret: &str) -> String {
    format!("licd_{id}_{secret}")
}

/// The id and secret of a presented API token, if it has the shape.
pub fn split_api_token(presented: &str) -> Option<(&str, &str)> {
    let rest = presented.strip_prefix("licd_")?;
    let (id, secret) = rest.split_once('_')?;
    let hexish = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    (hexish(id, 16) && hexish(secret, 32)).then_some((id, secret))
}

/// The stored form of an API token's secret.
pub fn token_hash(secret: &str) -> String {
    crate::crypto::hex(&crate::crypto::sha256(secret.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_matrix_is_the_documented_one() {
        // (action, roles allowed), as docs/operations.md lists it.
        let expected: [(Action, &[Role]); 9] = [
            (Action::Read, &ROLES),
            (Action::SeeSecret, &[Role::Support, Role::Admin]),
            (Action::ServeCustomer, &[Role::Support, Role::Admin]),
            (Action::Outbox, &[Role::Support, Role::Admin]),
            (Action::IssueDirect, &[Role::Sales, Role::Admin]),
            (Action::Revoke, &[Role::Admin]),
            (Action::Sites, &[Role::Support, Role::Admin]),
            (Action::Integrations, &[Role::Developer, Role::Admin]),
            (Action::Administer, &[Role::Admin]),
        ];
        for (action, allowed) in expected {
            for role in ROLES {
                assert_eq!(
                    role.may(action),
                    allowed.contains(&role),
                    "{role} / {}",
                    action.name()
                );
            }
        }
        assert_eq!(ACTIONS.len(), expected.len());
    }

    #[test]
    fn a_customer_may_only_hand_in_their_own_proofs() {
        let c = Principal::customer("client");
        let allowed: Vec<_> = ACTIONS.into_iter().filter(|a| c.may(*a)).collect();
        assert_eq!(allowed, [Action::ServeCustomer, Action::Sites]);
        assert!(c.require(Action::Revoke).is_err());
    }

    #[test]
    fn the_shared_token_cannot_sign_as_an_account() {
        assert_eq!(
            Principal::admin_token("user:alice").actor(),
            "claimed-user:alice"
        );
        assert_eq!(Principal::admin_token("bob").actor(), "bob");
        assert_eq!(
            Principal::account("alice", Role::Sales).actor(),
            "user:alice"
        );
    }

    #[test]
    fn names_are_plain() {
        for good in ["alice", "a", "j.doe-2", "ops_team"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in ["", "Alice", "-x", "a b", "a:b", "é", &"a".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn passwords_verify_and_wrong_ones_do_not() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("correct horse batterY", &h));
        assert!(!verify_password("anything", decoy_hash()));
        assert!(!verify_password("x", "not a hash"));
        assert_ne!(h, hash_password("correct horse battery").unwrap(), "salted");
    }

    #[test]
    fn a_totp_code_works_once_and_only_near_its_time() {
        let secret = new_totp_secret().unwrap();
        let now = Timestamp::from_unix(1_800_000_000);
        let code = totp_code(&secret, "alice", now).unwrap();
        let step = totp_step(&secret, "alice", &code, now, 0).unwrap();
        assert_eq!(step, 1_800_000_000 / 30);
        assert_eq!(
            totp_step(&secret, "alice", &code, now, step),
            None,
            "reused"
        );
        let later = Timestamp::from_unix(now.unix() + 30);
        assert!(
            totp_step(&secret, "alice", &code, later, 0).is_some(),
            "drift"
        );
        let much_later = Timestamp::from_unix(now.unix() + 120);
        assert_eq!(totp_step(&secret, "alice", &code, much_later, 0), None);
        assert_eq!(totp_step(&secret, "alice", "12345", now, 0), None);
        let uri = totp_uri(&secret, "alice").unwrap();
        assert!(uri.starts_with("otpauth://totp/licd:alice?"), "{uri}");
        assert!(uri.contains(&format!("secret={secret}")), "{uri}");
        assert!(qr_svg(&uri).unwrap().starts_with("<?xml"));
    }

    #[test]
    fn failures_lock_longer_each_time_up_to_an_hour() {
        let now = Timestamp::from_unix(1_800_000_000);
        let mut a = Account::new(Role::Viewer, String::new(), now);
        for _ in 1..LOCK_AFTER {
            assert_eq!(a.failed(now), None);
        }
        assert_eq!(a.failed(now), Some(Timestamp::from_unix(now.unix() + 60)));
        assert_eq!(a.failed(now), Some(Timestamp::from_unix(now.unix() + 120)));
        for _ in 0..20 {
            a.failed(now);
        }
        assert_eq!(a.locked(now), Some(Timestamp::from_unix(now.unix() + 3600)));
        a.succeeded();
        assert_eq!(a.locked(now), None);
    }

    #[test]
    fn api_tokens_have_one_shape() {
        let t = api_token_text("0123456789abcdef", &"ab".repeat(16));
        assert_eq!(
            split_api_token(&t),
            Some(("0123456789abcdef", "abababababababababababababababab"))
        );
        assert_eq!(split_api_token("licd_x_y"), None);
        assert_eq!(split_api_token(&t[..t.len() - 1]), None);
    }
}
