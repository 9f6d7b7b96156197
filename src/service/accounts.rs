//! The ISV's team as the service keeps it: accounts and API tokens in one document of the store
//! (swapped whole, compare-and-swap, so every node sees the same team), sign-in with a password
//! and a TOTP code, and the audit of every change.
//!
//! Who may change accounts is the matrix's business ([`crate::accounts::Action::Administer`]);
//! signing in and a user's own second factor need no role, only the credentials.

use std::sync::LazyLock;

use client_verifier::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Service, ServiceError};
use crate::accounts::{
    self, Account, Accounts, Action, ApiToken, Principal, Role, check_name, check_password,
};
use crate::store::{AuditEvent, Batch};

/// The store document holding [`Accounts`] (beside the webhook cursors; not in backups, like
/// the signing keys and the admin token: a backup carries licenses, not credentials).
const DOC: &str = "accounts";
/// Attempts at a compare-and-swap before giving up (another node changing accounts at once).
const SWAPS: usize = 16;

/// Argon2 runs (19 MiB each) at once; more sign-ins wait. Bounds what a flood of sign-in
/// attempts costs in memory and cores.
static HASHING: LazyLock<tokio::sync::Semaphore> = LazyLock::new(|| tokio::sync::Semaphore::new(2));

/// An account as listed: no hashes, no secrets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserView {
    /// The account name.
    pub name: String,
    /// Its role.
    pub role: Role,
    /// `active`, `invited` (its one-time secret is not used yet) or `disabled`.
    pub state: String,
    /// Whether its TOTP second factor is on.
    pub totp: bool,
    /// Sign-in refused until then, after too many wrong passwords or codes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locked_until: Option<Timestamp>,
    /// Created.
    pub created: Timestamp,
    /// Last changed.
    pub updated: Timestamp,
}

/// An API token as listed: never its secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenView {
    /// The token's id (the part after `licd_` in the token).
    pub id: String,
    /// The account it acts for.
    pub owner: String,
    /// Its role.
    pub role: Role,
    /// What it is for.
    pub label: String,
    /// Created.
    pub created: Timestamp,
    /// Revoked, when it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked: Option<Timestamp>,
}

/// A signed-in account, for a session.
#[derive(Debug, Clone, PartialEq)]
pub struct SignedIn {
    /// Who, for the service's checks and the audit log.
    pub principal: Principal,
    /// The account name.
    pub name: String,
    /// The account's generation: a session of an older one has ended.
    pub generation: u32,
    /// Whether the account has a second factor.
    pub totp: bool,
}

/// Why a sign-in was refused.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// Wrong name, password or code (which, is not said).
    #[error("wrong name, password or code")]
    Wrong,
    /// Too many wrong attempts: refused until then, right password or not.
    #[error("too many wrong attempts: this account is locked until {0}")]
    Locked(Timestamp),
    /// The account has a second factor and no code was given.
    #[error("enter the code from your authenticator app")]
    CodeRequired,
    /// The password is an unused one-time secret: choose a password first.
    #[error("this is a one-time secret: choose your password on the welcome page")]
    OneTime,
    /// The account is disabled.
    #[error("this account is disabled")]
    Disabled,
    /// The new password cannot be used.
    #[error(transparent)]
    Weak(crate::accounts::WeakPassword),
    /// Storage failed.
    #[error(transparent)]
    Service(#[from] ServiceError),
}

/// A failure of licd's own (randomness, a worker thread, an unreadable accounts document), not
/// of the request: logged, and answered as "try again later".
fn internal(e: String) -> ServiceError {
    tracing::error!(error = %e, "accounts: internal failure");
    ServiceError::Unavailable(format!("accounts are unavailable ({e}); try again later"))
}

async fn hash(secret: String) -> Result<String, ServiceError> {
    let _turn = HASHING
        .acquire()
        .await
        .map_err(|e| internal(e.to_string()))?;
    tokio::task::spawn_blocking(move || accounts::hash_password(&secret))
        .await
        .map_err(|e| internal(e.to_string()))?
        .map_err(internal)
}

async fn verify(secret: String, phc: String) -> Result<bool, ServiceError> {
    let _turn = HASHING
        .acquire()
        .await
        .map_err(|e| internal(e.to_string()))?;
    tokio::task::spawn_blocking(move || accounts::verify_password(&secret, &phc))
        .await
        .map_err(|e| internal(e.to_string()))
}

fn no_account(name: &str) -> ServiceError {
    ServiceError::NotFound(format!("account {}", crate::logsafe::quoted_max(name, 64)))
}

impl Service {
    /// Every account and API token, as stored.
    pub async fn accounts(&self) -> Result<Accounts, ServiceError> {
        Ok(self.read_accounts().await?.1)
    }

    async fn read_accounts(&self) -> Result<(Option<Vec<u8>>, Accounts), ServiceError> {
        let bytes = self.store().cursor(DOC).await?;
        let doc = match &bytes {
            Some(b) => serde_json::from_slice(b)
                .map_err(|e| internal(format!("the accounts document is unreadable: {e}")))?,
            None => Accounts::default(),
        };
        Ok((bytes, doc))
    }

    /// Applies `change` to the accounts document and saves it, again from a fresh read when
    /// another writer got there first. `change` returns what the caller gets, or a refusal
    /// that saves nothing.
    async fn change_accounts<T>(
        &self,
        mut change: impl FnMut(&mut Accounts) -> Result<T, ServiceError>,
    ) -> Result<T, ServiceError> {
        for _ in 0..SWAPS {
            let (old, mut doc) = self.read_accounts().await?;
            let out = change(&mut doc)?;
            let new = serde_json::to_vec(&doc).map_err(|e| internal(e.to_string()))?;
            if self.store().swap_cursor(DOC, old.as_deref(), &new).await? {
                return Ok(out);
            }
        }
        Err(ServiceError::Busy {
            message: "accounts are being changed elsewhere; try again".into(),
            retry_after: 1,
        })
    }

    async fn audit_account(
        &self,
        subject: &str,
        action: &str,
        by: &str,
        now: Timestamp,
        detail: serde_json::Value,
    ) {
        let batch = Batch {
            audit: vec![AuditEvent::new(
                &format!("account:{subject}"),
                action,
                by,
                now,
                detail,
            )],
            ..Batch::default()
        };
        if let Err(e) = self.store().commit(batch).await {
            tracing::error!(account = subject, action, error = %e, "an account change could not be audited");
        }
    }

    /// `licctl users add NAME --role R`: a new account and its one-time secret, returned once.
    pub async fn add_user(
        &self,
        by: &Principal,
        name: &str,
        role: Role,
        now: Timestamp,
    ) -> Result<String, ServiceError> {
        by.require(Action::Administer)?;
        check_name(name).map_err(ServiceError::Invalid)?;
        let secret = accounts::new_secret().map_err(internal)?;
        let hashed = hash(secret.clone()).await?;
        self.change_accounts(|doc| {
            if doc.users.contains_key(name) {
                return Err(ServiceError::Invalid(format!(
                    "account {name} exists; `licctl users reset {name}` gives it a new one-time secret"
                )));
            }
            doc.users
                .insert(name.to_string(), Account::new(role, hashed.clone(), now));
            Ok(())
        })
        .await?;
        self.audit_account(
            name,
            "accountCreated",
            by.actor(),
            now,
            json!({ "role": role }),
        )
        .await;
        tracing::info!(account = name, %role, by = by.actor(), "account created");
        Ok(secret)
    }

    /// Every account and token, for admins.
    pub async fn list_users(
        &self,
        by: &Principal,
        now: Timestamp,
    ) -> Result<(Vec<UserView>, Vec<TokenView>), ServiceError> {
        by.require(Action::Administer)?;
        let doc = self.accounts().await?;
        let users = doc
            .users
            .iter()
            .map(|(name, a)| UserView {
                name: name.clone(),
                role: a.role,
                state: if a.disabled.is_some() {
                    "disabled"
                } else if a.password.is_none() {
                    "invited"
                } else {
                    "active"
                }
                .into(),
                totp: a.totp.is_some(),
                locked_until: a.locked(now),
                created: a.created,
                updated: a.updated,
            })
            .collect();
        let tokens = doc
            .tokens
            .iter()
            .map(|(id, t)| TokenView {
                id: id.clone(),
                owner: t.owner.clone(),
                role: t.role,
                label: t.label.clone(),
                created: t.created,
                revoked: t.revoked,
            })
            .collect();
        Ok((users, tokens))
    }

    /// `licctl users disable NAME`: no more sign-in; its sessions and API tokens stop working
    /// at their next request, on every node.
    pub async fn disable_user(
        &self,
        by: &Principal,
        name: &str,
        now: Timestamp,
    ) -> Result<(), ServiceError> {
        by.require(Action::Administer)?;
        self.change_accounts(|doc| {
            doc.users
                .get_mut(name)
                .ok_or_else(|| no_account(name))?
                .disable(now);
            Ok(())
        })
        .await?;
        self.audit_account(name, "accountDisabled", by.actor(), now, json!({}))
            .await;
        tracing::info!(account = name, by = by.actor(), "account disabled");
        Ok(())
    }

    /// `licctl users role NAME ROLE`: what the account may do from its next request on, on
    /// every node (sessions read the role again at each request). Its API tokens with the old
    /// role are revoked (a viewer token stays): a token never has a role its account lacks.
    pub async fn set_role(
        &self,
        by: &Principal,
        name: &str,
        role: Role,
        now: Timestamp,
    ) -> Result<Vec<String>, ServiceError> {
        by.require(Action::Administer)?;
        let (from, revoked) = self
            .change_accounts(|doc| {
                let a = doc.users.get_mut(name).ok_or_else(|| no_account(name))?;
                let from = a.role;
                a.role = role;
                a.updated = now;
                let mut revoked = Vec::new();
                for (id, t) in doc.tokens.iter_mut() {
                    if t.owner == name
                        && t.revoked.is_none()
                        && t.role != role
                        && t.role != Role::Viewer
                    {
                        t.revoked = Some(now);
                        revoked.push(id.clone());
                    }
                }
                Ok((from, revoked))
            })
            .await?;
        self.audit_account(
            name,
            "accountRoleChanged",
            by.actor(),
            now,
            json!({ "from": from, "to": role, "tokens_revoked": revoked }),
        )
        .await;
        tracing::info!(account = name, %from, to = %role, by = by.actor(), "account role changed");
        Ok(revoked)
    }

    /// `licctl users reset NAME`: a new one-time secret, returned once. The password and the
    /// second factor are gone and every session ends; a disabled account is enabled again.
    pub async fn reset_user(
        &self,
        by: &Principal,
        name: &str,
        now: Timestamp,
    ) -> Result<String, ServiceError> {
        by.require(Action::Administer)?;
        let secret = accounts::new_secret().map_err(internal)?;
        let hashed = hash(secret.clone()).await?;
        self.change_accounts(|doc| {
            doc.users
                .get_mut(name)
                .ok_or_else(|| no_account(name))?
                .reset(hashed.clone(), now);
            Ok(())
        })
        .await?;
        self.audit_account(name, "accountReset", by.actor(), now, json!({}))
            .await;
        tracing::info!(account = name, by = by.actor(), "account reset");
        Ok(secret)
    }

    /// `licctl tokens create --user NAME`: an API token acting for `owner` with `role` (the
    /// owner's, or viewer for a read-only script), returned once as `(id, token)`.
    pub async fn create_api_token(
        &self,
        by: &Principal,
        owner: &str,
        role: Option<Role>,
        label: &str,
        now: Timestamp,
    ) -> Result<(String, String), ServiceError> {
        by.require(Action::Administer)?;
        let label = label.trim();
        if label.chars().count() > 100 || label.chars().any(char::is_control) {
            return Err(ServiceError::Invalid(
                "label: one line of at most 100 characters".into(),
            ));
        }
        let id = crate::crypto::random_bytes::<8>()
            .map(|b| crate::crypto::hex(&b))
            .map_err(|e| internal(e.to_string()))?;
        let secret = accounts::new_secret().map_err(internal)?;
        let role = self
            .change_accounts(|doc| {
                let account = doc.users.get(owner).ok_or_else(|| no_account(owner))?;
                if account.disabled.is_some() {
                    return Err(ServiceError::Invalid(format!(
                        "account {owner} is disabled"
                    )));
                }
                let role = role.unwrap_or(account.role);
                if role != account.role && role != Role::Viewer {
                    return Err(ServiceError::Invalid(format!(
                        "a token of {owner} may have {owner}'s role ({}) or viewer, not {role}",
                        account.role
                    )));
                }
                doc.tokens.insert(
                    id.clone(),
                    ApiToken {
                        owner: owner.to_string(),
                        role,
                        label: label.to_string(),
                        hash: accounts::token_hash(&secret),
                        created: now,
                        revoked: None,
                    },
                );
                Ok(role)
            })
            .await?;
        self.audit_account(
            owner,
            "apiTokenCreated",
            by.actor(),
            now,
            json!({ "token_id": id, "role": role, "label": label }),
        )
        .await;
        Ok((id.clone(), accounts::api_token_text(&id, &secret)))
    }

    /// `licctl tokens revoke ID`: the token stops working at once, on every node.
    pub async fn revoke_api_token(
        &self,
        by: &Principal,
        id: &str,
        now: Timestamp,
    ) -> Result<(), ServiceError> {
        by.require(Action::Administer)?;
        let owner = self
            .change_accounts(|doc| {
                let t = doc.tokens.get_mut(id).ok_or_else(|| {
                    ServiceError::NotFound(format!(
                        "API token {}",
                        crate::logsafe::quoted_max(id, 32)
                    ))
                })?;
                t.revoked.get_or_insert(now);
                Ok(t.owner.clone())
            })
            .await?;
        self.audit_account(
            &owner,
            "apiTokenRevoked",
            by.actor(),
            now,
            json!({ "token_id": id }),
        )
        .await;
        Ok(())
    }

    /// Account `name`'s history: created, signed in, locked, changed, its tokens.
    pub async fn account_audit(
        &self,
        by: &Principal,
        name: &str,
    ) -> Result<super::AuditTrail, ServiceError> {
        by.require(Action::Read)?;
        Ok(super::AuditTrail {
            records: self.store().audit_for(&format!("account:{name}")).await?,
            chain: self.store().verify_audit_chain().await?,
        })
    }

    /// Who an API token acts as: `None` for anything but a live token of an enabled account.
    pub async fn api_token_principal(
        &self,
        presented: &str,
    ) -> Result<Option<Principal>, ServiceError> {
        let Some((id, secret)) = accounts::split_api_token(presented) else {
            return Ok(None);
        };
        let doc = self.accounts().await?;
        let Some(t) = doc.tokens.get(id) else {
            return Ok(None);
        };
        let right =
            crate::crypto::ct_eq(accounts::token_hash(secret).as_bytes(), t.hash.as_bytes());
        let live = t.revoked.is_none()
            && doc
                .users
                .get(&t.owner)
                .is_some_and(|a| a.disabled.is_none());
        Ok((right && live).then(|| Principal::api_token(&t.owner, id, t.role)))
    }

    /// Signs `name` in with `password` and, when the account has a second factor, `code`.
    /// Wrong attempts count towards a lock ([`Account::failed`]) and each lock is audited;
    /// the answer for an unknown name takes as long as for a wrong password.
    pub async fn sign_in(
        &self,
        name: &str,
        password: &str,
        code: Option<&str>,
        now: Timestamp,
    ) -> Result<SignedIn, SignInError> {
        let doc = self.accounts().await?;
        let Some(account) = doc.users.get(name).filter(|_| check_name(name).is_ok()) else {
            verify(password.to_string(), accounts::decoy_hash().to_string()).await?;
            return Err(SignInError::Wrong);
        };
        if let Some(until) = account.locked(now) {
            return Err(SignInError::Locked(until));
        }
        let Some(phc) = account.password.clone() else {
            // Invited: only the one-time secret works, and only on the welcome page.
            let right = match &account.one_time {
                Some(one) => verify(password.to_string(), one.clone()).await?,
                None => false,
            };
            return Err(if right {
                SignInError::OneTime
            } else {
                self.count_failure(name, now).await?
            });
        };
        if !verify(password.to_string(), phc).await? {
            return Err(self.count_failure(name, now).await?);
        }
        if account.disabled.is_some() {
            return Err(SignInError::Disabled);
        }
        if let Some(secret) = &account.totp {
            let Some(code) = code.filter(|c| !c.trim().is_empty()) else {
                return Err(SignInError::CodeRequired);
            };
            let Some(step) = accounts::totp_step(secret, name, code, now, account.totp_step) else {
                return Err(self.count_failure(name, now).await?);
            };
            self.change_accounts(|doc| {
                if let Some(a) = doc.users.get_mut(name) {
                    if step <= a.totp_step {
                        return Err(ServiceError::Invalid("code used".into()));
                    }
                    a.totp_step = step;
                }
                Ok(())
            })
            .await
            .map_err(|_| SignInError::Wrong)?;
        }
        let signed = self.succeeded(name).await?;
        self.audit_account(
            name,
            "accountSignedIn",
            &format!("user:{name}"),
            now,
            json!({}),
        )
        .await;
        Ok(signed)
    }

    /// Clears the failure count and reads the account's session facts.
    async fn succeeded(&self, name: &str) -> Result<SignedIn, ServiceError> {
        self.change_accounts(|doc| {
            let a = doc.users.get_mut(name).ok_or_else(|| no_account(name))?;
            a.succeeded();
            Ok(SignedIn {
                principal: Principal::account(name, a.role),
                name: name.to_string(),
                generation: a.generation,
                totp: a.totp.is_some(),
            })
        })
        .await
    }

    /// Counts a wrong attempt on `name`; audits and logs the lock when it starts one.
    async fn count_failure(&self, name: &str, now: Timestamp) -> Result<SignInError, ServiceError> {
        let locked = self
            .change_accounts(|doc| Ok(doc.users.get_mut(name).and_then(|a| a.failed(now))))
            .await?;
        if let Some(until) = locked {
            tracing::warn!(account = name, %until, "account locked after wrong passwords or codes");
            self.audit_account(
                name,
                "accountLocked",
                "licd",
                now,
                json!({ "until": until, "after": accounts::LOCK_AFTER }),
            )
            .await;
        }
        Ok(SignInError::Wrong)
    }

    /// The welcome page: `name` trades its one-time secret for the password it chooses. The
    /// secret works once; a used or wrong one counts as a wrong attempt.
    pub async fn welcome(
        &self,
        name: &str,
        one_time: &str,
        password: &str,
        now: Timestamp,
    ) -> Result<SignedIn, SignInError> {
        let doc = self.accounts().await?;
        let Some(account) = doc.users.get(name) else {
            verify(one_time.to_string(), accounts::decoy_hash().to_string()).await?;
            return Err(SignInError::Wrong);
        };
        if let Some(until) = account.locked(now) {
            return Err(SignInError::Locked(until));
        }
        let phc = account
            .one_time
            .clone()
            .unwrap_or_else(|| accounts::decoy_hash().to_string());
        if !verify(one_time.to_string(), phc.clone()).await? {
            return Err(self.count_failure(name, now).await?);
        }
        if account.disabled.is_some() {
            return Err(SignInError::Disabled);
        }
        check_password(name, password).map_err(SignInError::Weak)?;
        let hashed = hash(password.to_string()).await?;
        let used = self
            .change_accounts(|doc| {
                let a = doc.users.get_mut(name).ok_or_else(|| no_account(name))?;
                // The same secret used twice at once: only the first swap finds it.
                if a.one_time.as_deref() != Some(phc.as_str()) {
                    return Ok(false);
                }
                a.one_time = None;
                a.password = Some(hashed.clone());
                a.updated = now;
                Ok(true)
            })
            .await?;
        if !used {
            return Err(SignInError::Wrong);
        }
        self.audit_account(
            name,
            "accountPasswordSet",
            &format!("user:{name}"),
            now,
            json!({}),
        )
        .await;
        Ok(self.succeeded(name).await?)
    }

    /// Who a console session of `name` at `generation` is now: `None` once the account was
    /// disabled, reset or deleted, or its role changed.
    pub async fn session_principal(
        &self,
        name: &str,
        generation: u32,
    ) -> Result<Option<(Principal, bool)>, ServiceError> {
        let doc = self.accounts().await?;
        Ok(doc
            .users
            .get(name)
            .filter(|a| a.disabled.is_none() && a.generation == generation && a.password.is_some())
            .map(|a| (Principal::account(name, a.role), a.totp.is_some())))
    }

    /// A new second-factor secret for `name` to enrol (kept pending until a code confirms it):
    /// `(otpauth URI, QR code SVG)`.
    pub async fn totp_begin(
        &self,
        name: &str,
        generation: u32,
        now: Timestamp,
    ) -> Result<(String, String), ServiceError> {
        let secret = accounts::new_totp_secret().map_err(internal)?;
        let uri = accounts::totp_uri(&secret, name).map_err(internal)?;
        let svg = accounts::qr_svg(&uri).map_err(internal)?;
        self.change_accounts(|doc| {
            let a = doc
                .users
                .get_mut(name)
                .filter(|a| a.generation == generation && a.disabled.is_none())
                .ok_or_else(|| no_account(name))?;
            a.totp_pending = Some(secret.clone());
            a.updated = now;
            Ok(())
        })
        .await?;
        Ok((uri, svg))
    }

    /// Turns the pending second factor on when `code` is right for it.
    pub async fn totp_confirm(
        &self,
        name: &str,
        generation: u32,
        code: &str,
        now: Timestamp,
    ) -> Result<bool, ServiceError> {
        let on = self
            .change_accounts(|doc| {
                let a = doc
                    .users
                    .get_mut(name)
                    .filter(|a| a.generation == generation && a.disabled.is_none())
                    .ok_or_else(|| no_account(name))?;
                let Some(secret) = a.totp_pending.clone() else {
                    return Ok(false);
                };
                let Some(step) = accounts::totp_step(&secret, name, code, now, 0) else {
                    return Ok(false);
                };
                a.totp = Some(secret);
                a.totp_pending = None;
                a.totp_step = step;
                a.updated = now;
                Ok(true)
            })
            .await?;
        if on {
            self.audit_account(
                name,
                "accountTotpOn",
                &format!("user:{name}"),
                now,
                json!({}),
            )
            .await;
        }
        Ok(on)
    }
}
