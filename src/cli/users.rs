//! `licctl users …` and `licctl tokens …`: the ISV's team on the running daemon (admin API,
//! admins only). A one-time secret or an API token is printed once, by the command that made
//! it; licd keeps only hashes.

use clap::Subcommand;
use reqwest::Method;

use super::licenses::{AdminArgs, typed};
use super::{CliError, emit, print_table};
use crate::accounts::Role;
use crate::admin_api::{
    AddUserRequest, CreateTokenRequest, RoleRequest, SecretResponse, TokenCreatedResponse,
    UsersResponse,
};

fn role(s: &str) -> Result<Role, String> {
    Role::parse(s).ok_or_else(|| format!("{s:?}: one of admin, developer, support, sales, viewer"))
}

/// `licctl users …`
#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Add an account with a role; prints its one-time secret (once). The person opens the
    /// console's welcome page (/console/welcome), enters it and chooses a password.
    ///
    /// Roles: viewer (reads), support (codes, seats, leases, offline, sites, reissue, outbox),
    /// sales (issues and extends licenses), developer (catalog and webhooks), admin (all).
    ///
    /// Example: licctl users add alice --role support
    Add {
        /// The account name: a-z, 0-9, '.', '_', '-'.
        name: String,
        /// admin, developer, support, sales or viewer.
        #[arg(long, value_parser = role)]
        role: Role,
    },
    /// Every account (role, state, second factor) and API token.
    List,
    /// Give an account another role, from its next request on (its live sessions too). Its
    /// API tokens with the old role are revoked; viewer tokens stay.
    ///
    /// Example: licctl users role alice admin
    Role {
        /// The account name.
        name: String,
        /// admin, developer, support, sales or viewer.
        #[arg(value_parser = role)]
        role: Role,
    },
    /// Disable an account: no sign-in; its console sessions and API tokens stop at once.
    ///
    /// Example: licctl users disable alice
    Disable {
        /// The account name.
        name: String,
    },
    /// A new one-time secret for an account (printed once): its password and second factor
    /// are removed, its sessions end, and a disabled account is enabled again.
    ///
    /// Example: licctl users reset alice
    Reset {
        /// The account name.
        name: String,
    },
}

/// `licctl tokens …`
#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// An API token for scripts, acting for an account with its role (or --role viewer);
    /// printed once. Use it as the admin token: LICD_ADMIN_TOKEN=licd_… licctl …
    ///
    /// Example: licctl tokens create --user ci-bot --label "nightly report" --role viewer
    Create {
        /// The account it acts for (disabling it stops the token).
        #[arg(long)]
        user: String,
        /// The account's role (default) or viewer.
        #[arg(long, value_parser = role)]
        role: Option<Role>,
        /// What it is for.
        #[arg(long, default_value = "")]
        label: String,
    },
    /// Revoke an API token by its id (`licctl users list` shows them).
    ///
    /// Example: licctl tokens revoke 5f0c2a9e1b7d4c63
    Revoke {
        /// The token's id.
        id: String,
    },
}

fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::negative(format!("cannot start the runtime: {e}")))
}

fn seg(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Runs `licctl users …`.
pub fn run_users(admin: &AdminArgs, cmd: UsersCommand, json: bool) -> Result<(), CliError> {
    let client = admin.client()?;
    runtime()?.block_on(async move {
        let v = match &cmd {
            UsersCommand::Add { name, role } => {
                let req = client
                    .request(Method::POST, "/admin/v1/users")
                    .json(&AddUserRequest {
                        name: name.clone(),
                        role: *role,
                    });
                client.json(req).await?
            }
            UsersCommand::Reset { name } => {
                let path = format!("/admin/v1/users/{}/reset", seg(name));
                client.json(client.request(Method::POST, &path)).await?
            }
            UsersCommand::Role { name, role } => {
                let path = format!("/admin/v1/users/{}/role", seg(name));
                let req = client
                    .request(Method::POST, &path)
                    .json(&RoleRequest { role: *role });
                let v = client.json(req).await?;
                if json {
                    emit(&v.to_string(), true);
                } else {
                    let revoked = v["tokens_revoked"].as_array().map_or(0, Vec::len);
                    emit(
                        &format!("{name}: now {role}; {revoked} API token(s) with the old role revoked"),
                        true,
                    );
                }
                return Ok(());
            }
            UsersCommand::Disable { name } => {
                let path = format!("/admin/v1/users/{}/disable", seg(name));
                let v = client.json(client.request(Method::POST, &path)).await?;
                if json {
                    emit(&v.to_string(), true);
                } else {
                    emit(
                        &format!("{name}: disabled; its sessions and API tokens no longer work"),
                        true,
                    );
                }
                return Ok(());
            }
            UsersCommand::List => {
                let v = client
                    .json(client.request(Method::GET, "/admin/v1/users"))
                    .await?;
                if json {
                    emit(&v.to_string(), true);
                    return Ok(());
                }
                let r: UsersResponse = typed(v)?;
                if r.users.is_empty() {
                    emit("no accounts yet: licctl users add NAME --role ROLE", true);
                }
                for u in &r.users {
                    let mut state = u.state.clone();
                    if u.totp {
                        state.push_str(", totp");
                    }
                    if let Some(until) = u.locked_until {
                        state.push_str(&format!(", locked until {}", until.to_rfc3339()));
                    }
                    emit(&format!("{:<24} {:<10} {state}", u.name, u.role.name()), true);
                }
                if !r.tokens.is_empty() {
                    emit("", true);
                    emit("API tokens:", true);
                }
                for t in &r.tokens {
                    let state = t
                        .revoked
                        .map_or("live".to_string(), |r| format!("revoked {}", r.to_rfc3339()));
                    emit(
                        &format!(
                            "{}  {:<24} {:<10} {state}  {}",
                            t.id,
                            t.owner,
                            t.role.name(),
                            t.label
                        ),
                        true,
                    );
                }
                return Ok(());
            }
        };
        if json {
            emit(&v.to_string(), true);
            return Ok(());
        }
        let r: SecretResponse = typed(v)?;
        print_table(&[
            ("account".into(), r.name.clone()),
            ("one-time secret".into(), r.secret),
        ]);
        emit(
            &format!(
                "Give the secret to {} over a private channel; it is shown only now and works once, on the console's welcome page (/console/welcome).",
                r.name
            ),
            true,
        );
        Ok(())
    })
}

/// Runs `licctl tokens …`.
pub fn run_tokens(admin: &AdminArgs, cmd: TokensCommand, json: bool) -> Result<(), CliError> {
    let client = admin.client()?;
    runtime()?.block_on(async move {
        match cmd {
            TokensCommand::Create { user, role, label } => {
                let req = client
                    .request(Method::POST, "/admin/v1/tokens")
                    .json(&CreateTokenRequest { user, role, label });
                let v = client.json(req).await?;
                if json {
                    emit(&v.to_string(), true);
                    return Ok(());
                }
                let r: TokenCreatedResponse = typed(v)?;
                print_table(&[("id".into(), r.id), ("token".into(), r.token)]);
                emit(
                    "The token is shown only now: store it where the script reads it (LICD_ADMIN_TOKEN or --token-file, 0600).",
                    true,
                );
            }
            TokensCommand::Revoke { id } => {
                let path = format!("/admin/v1/tokens/{}/revoke", seg(&id));
                let v = client.json(client.request(Method::POST, &path)).await?;
                if json {
                    emit(&v.to_string(), true);
                } else {
                    emit(&format!("token {id}: revoked"), true);
                }
            }
        }
        Ok(())
    })
}
