//! `licd keys`: create, rotate, list and export the signing keys, working on the key directory
//! directly (no daemon needed). A running daemon picks up a rotation when it restarts.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::CliError;
use crate::keys::{KeyInfo, KeyRing, KeyRingError};

/// Arguments of `licd keys`.
#[derive(Debug, Args)]
pub struct KeysArgs {
    /// Directory holding the signing keys [default: keys_dir from --config, else ./keys]
    #[arg(long, global = true, value_name = "DIR", env = "LICD_KEYS_DIR")]
    pub keys_dir: Option<PathBuf>,
    /// The daemon's TOML file: its `[serve] keys_dir` is used unless --keys-dir is given, so
    /// `licd keys` works on the keys `licd serve` uses.
    #[arg(long, global = true, value_name = "FILE", env = "LICD_CONFIG")]
    pub config: Option<PathBuf>,
    /// What to do with the keys.
    #[command(subcommand)]
    pub command: KeysCommand,
}

/// The `licd keys` subcommands.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create the key directory (mode 0700) and its first signing key; refuses if it has keys.
    ///
    /// `licd serve` does this itself on first start; use this to prepare a key before deploying.
    ///
    /// Example: licd keys generate --keys-dir /var/lib/licd/keys
    Generate,
    /// Make a new key the one that signs; older keys are kept and still exported.
    ///
    /// Tokens already issued keep verifying. Tokens signed from now on verify only in software
    /// that embeds the new public key: ship the output of `licd keys export` to your
    /// applications. Restart the daemon to sign with the new key.
    ///
    /// Example: licd keys rotate --keys-dir /var/lib/licd/keys
    Rotate,
    /// Add a key that does not sign yet: the first step of a rotation that breaks nothing.
    ///
    /// Its public key is exported at once. Ship it in an application update; once customers
    /// have the update, `licd keys activate KID` makes it sign (then restart licd).
    ///
    /// Example: licd keys add --config /etc/licd/licd.toml
    Add,
    /// Make the key KID (a full kid, or an unambiguous prefix) the one that signs.
    ///
    /// The other keys stay and keep verifying. Restart licd to sign with it.
    ///
    /// Example: licd keys activate k4.pid.Vx9tLoB7Gzxy
    Activate {
        /// The key id, as `licd keys list` shows it.
        kid: String,
    },
    /// List the signing keys, newest first: key id, creation time, which one signs, file.
    ///
    /// Example: licd keys list
    List,
    /// Print the public keys (current first) as PASERK lines and as Rust code to paste into the
    /// licensed application.
    ///
    /// Example: licd keys export > license-keys.txt
    Export,
    /// Record this key ring in the shared PostgreSQL database as the one every node serves
    /// with. A node whose ring differs refuses to start, so a token one node mints is never
    /// refused by another.
    ///
    /// Roll a new ring to every node's key directory first (`licd keys add`, copy the
    /// directory), publish, then restart the nodes one by one; repeat for `activate`
    /// (docs/operations.md, "Several nodes").
    ///
    /// Example: licd keys publish --database-url postgres://licd@db.internal/licd
    Publish {
        /// The PostgreSQL database the nodes share.
        #[arg(long, env = "LICD_DATABASE_URL", value_name = "URL")]
        database_url: crate::config::DatabaseUrl,
    },
    /// Attach the root's certificate (`licctl root certify … --out FILE`) to the key KID.
    ///
    /// In rooted mode the certificate must chain to the trusted root. Restart licd (each node,
    /// after copying the key directory to it) for tokens to carry it.
    ///
    /// Example: licd keys certify k4.pid.Vx9tLoB7Gzxy k1.cert
    Certify {
        /// The key id, as `licd keys list` shows it (or an unambiguous prefix).
        kid: String,
        /// The certificate file `licctl root certify` wrote.
        file: PathBuf,
    },
    /// Trust the root in FILE (`root.json`): rooted mode, where only a key the root certified
    /// signs and every token carries its key's certificate.
    ///
    /// Refused unless the signing key is certified by that root (`licd keys certify` first). A
    /// ring that trusts version N accepts version N+1 only (`licctl root rotate`). Restart licd
    /// (each node, after copying the key directory) to sign in rooted mode.
    ///
    /// Example: licd keys trust-root ./acme-root/root.json
    TrustRoot {
        /// The root document.
        file: PathBuf,
    },
    /// Keep the root's statement of revoked keys (`licctl root revoke-key … --out FILE`), to
    /// serve with the revocation list (`GET /v1/revocations`, field `keys`).
    ///
    /// When it revokes the signing key, the newest key with a valid certificate signs from now
    /// on (refused when there is none: certify one first). A revoked key can no longer become
    /// the signing key. Restart licd to serve it, then sign the revoked key's tokens again
    /// with `licctl keys revoke KID --reason TEXT`.
    ///
    /// Example: licd keys revocations revoked-keys.json
    Revocations {
        /// The statement.
        file: PathBuf,
    },
}

/// Runs `licd keys …`; `json` selects machine-readable output.
pub fn run(args: KeysArgs, json: bool) -> Result<(), CliError> {
    let dir = match (args.keys_dir, &args.config) {
        (Some(dir), _) => dir,
        (None, Some(file)) => crate::config::keys_dir_in_file(file)
            .map_err(|e| CliError::usage(e.to_string()))?
            .unwrap_or_else(|| PathBuf::from(crate::keys::DEFAULT_DIR)),
        (None, None) => PathBuf::from(crate::keys::DEFAULT_DIR),
    };
    match args.command {
        KeysCommand::Generate => {
            let ring = KeyRing::generate(&dir).map_err(key_error)?;
            let key = current_first(ring.public_keys()).remove(0);
            if json {
                println!("{}", key_json(&key, true));
            } else {
                println!(
                    "generated signing key {} in {}",
                    key.kid,
                    key.file.display()
                );
                println!("embed its public key in your application: licd keys export");
            }
        }
        KeysCommand::Rotate => {
            let mut ring = KeyRing::open(&dir).map_err(key_error)?;
            let key = ring.rotate().map_err(key_error)?;
            if json {
                println!("{}", key_json(&key, true));
            } else {
                let kept = ring.public_keys().len() - 1;
                println!(
                    "{} now signs ({}); {kept} older key(s) kept",
                    key.kid,
                    key.file.display()
                );
                println!(
                    "ship the new public key to your applications (licd keys export) and restart licd"
                );
            }
        }
        KeysCommand::Add => {
            let mut ring = KeyRing::open(&dir).map_err(key_error)?;
            let key = ring.add().map_err(key_error)?;
            if json {
                println!("{}", key_json(&key, true));
            } else {
                println!(
                    "added {} ({}); it does not sign yet",
                    key.kid,
                    key.file.display()
                );
                println!(
                    "ship its public key (licd keys export) in an application update, then: licd keys activate {}",
                    key.kid
                );
            }
        }
        KeysCommand::Activate { kid } => {
            let mut ring = KeyRing::open(&dir).map_err(key_error)?;
            let key = ring.activate(&kid).map_err(key_error)?;
            if json {
                println!("{}", key_json(&key, true));
            } else {
                println!("{} now signs; restart licd to use it", key.kid);
            }
        }
        KeysCommand::Publish { database_url } => {
            database_url.check().map_err(CliError::usage)?;
            let ring = KeyRing::open(&dir).map_err(key_error)?;
            let kids = ring.published_ids();
            let active = ring.current().public_key().id().to_string();
            let failed =
                |e: crate::store::StoreError| CliError::negative(format!("{database_url}: {e}"));
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| CliError::negative(format!("cannot start a runtime: {e}")))?;
            runtime
                .block_on(async {
                    let store = crate::store::PgStore::open(database_url.expose(), false).await?;
                    store.publish_key_ring(&active, &kids).await
                })
                .map_err(failed)?;
            if json {
                println!("{}", serde_json::json!({ "active": active, "keys": kids }));
            } else {
                println!(
                    "published: every node must now serve with signing key {active} and {} key(s) in its ring; restart the nodes one by one",
                    kids.len()
                );
            }
        }
        KeysCommand::List => {
            let ring = KeyRing::open(&dir).map_err(key_error)?;
            let keys = ring.public_keys();
            if json {
                let list: Vec<Value> = keys.iter().map(|k| key_json(k, true)).collect();
                println!("{}", Value::Array(list));
            } else {
                print!("{}", list_table(&keys));
                if let Some(root) = ring.root() {
                    println!(
                        "rooted: trusts root version {} ({} of {} keys sign)",
                        root.version(),
                        root.threshold(),
                        root.keys().len()
                    );
                }
                for k in &keys {
                    if let Some(c) = &k.certificate {
                        println!("{} certified: {}", k.kid, certificate_text(c));
                    }
                }
            }
        }
        KeysCommand::Certify { kid, file } => {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| CliError::usage(format!("{}: cannot read: {e}", file.display())))?;
            let mut ring = KeyRing::open(&dir).map_err(key_error)?;
            let (key, chains) = ring.certify(&kid, &text).map_err(key_error)?;
            if json {
                let mut v = key_json(&key, true);
                v["chains_to_trusted_root"] = json!(chains);
                println!("{v}");
            } else if chains {
                let cert = key
                    .certificate
                    .as_deref()
                    .map(certificate_text)
                    .unwrap_or_default();
                println!(
                    "{} certified: {cert}; restart licd for tokens to carry it",
                    key.kid
                );
            } else {
                println!(
                    "{} certified under a root this ring does not trust yet: kept for `licd keys trust-root` of the next root version; it signs under the current root as before",
                    key.kid
                );
            }
        }
        KeysCommand::Revocations { file } => {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| CliError::usage(format!("{}: cannot read: {e}", file.display())))?;
            let mut ring = KeyRing::open(&dir).map_err(key_error)?;
            let signing_before = ring.current().public_key().id().clone();
            let statement = ring.load_key_revocations(&text).map_err(key_error)?;
            let signing = ring.current().public_key().id().clone();
            if json {
                println!(
                    "{}",
                    json!({ "seq": statement.seq(), "revoked": statement.revoked(), "list_floor": statement.list_floor(), "signing": signing.as_str() })
                );
            } else {
                println!(
                    "key revocations {} kept: {} key(s) revoked; restart licd to serve them with the revocation list",
                    statement.seq(),
                    statement.revoked().len()
                );
                if signing != signing_before {
                    println!(
                        "the signing key {signing_before} is revoked: {signing} signs from the restart on"
                    );
                }
                for kid in statement.revoked() {
                    println!(
                        "after the restart, sign again what {kid} signed: licctl keys revoke {kid} --reason TEXT"
                    );
                }
            }
        }
        KeysCommand::TrustRoot { file } => {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| CliError::usage(format!("{}: cannot read: {e}", file.display())))?;
            let mut ring = KeyRing::open(&dir).map_err(key_error)?;
            let root = ring.trust_root(&text).map_err(key_error)?;
            if json {
                println!(
                    "{}",
                    json!({ "root_version": root.version(), "threshold": root.threshold(), "keys": root.keys().len() })
                );
            } else {
                println!(
                    "the key ring trusts root version {}: only keys it certified sign, and tokens carry their certificate; restart licd",
                    root.version()
                );
            }
        }
        KeysCommand::Export => {
            let keys = current_first(KeyRing::open(&dir).map_err(key_error)?.public_keys());
            if json {
                let list: Vec<Value> = keys.iter().map(|k| key_json(k, false)).collect();
                println!("{}", Value::Array(list));
            } else {
                // The keys alone on stdout (`licd keys export > keys.txt` is a file the C and C#
                // examples read as it is); the Rust snippet is advice, on stderr.
                print!("{}", export_keys(&keys));
                eprint!("{}", export_snippet(&keys));
            }
        }
    }
    Ok(())
}

/// Every key error is about the key directory the operator pointed at, and its message already
/// names the file and the fix.
fn key_error(e: KeyRingError) -> CliError {
    CliError::usage(e.to_string())
}

/// Newest first, except that the signing key leads: it is the one new tokens need.
fn current_first(mut keys: Vec<KeyInfo>) -> Vec<KeyInfo> {
    keys.sort_by_key(|k| !k.current);
    keys
}

fn key_json(key: &KeyInfo, with_file: bool) -> Value {
    let mut v = json!({
        "kid": key.kid.as_str(),
        "public": key.public_paserk,
        "created": key.created.to_rfc3339(),
        "current": key.current,
    });
    if with_file {
        v["file"] = json!(key.file.display().to_string());
    }
    if let Some(c) = &key.certificate {
        let g = c.grant();
        v["certificate"] = json!({
            "not_before": g.not_before.to_rfc3339(),
            "not_after": g.not_after.to_rfc3339(),
            "max_exp": g.max_exp.to_rfc3339(),
            "purposes": g.purposes.to_string(),
            "products": g.products,
        });
    }
    v
}

/// What a certificate grants, on one line.
fn certificate_text(c: &client_verifier::Certificate) -> String {
    let g = c.grant();
    format!(
        "{} for {} from {} to {}, tokens expiring by {}",
        g.purposes,
        if g.products.is_empty() {
            "every product".to_string()
        } else {
            g.products.join(", ")
        },
        g.not_before,
        g.not_after,
        g.max_exp
    )
}

fn list_table(keys: &[KeyInfo]) -> String {
    let mut rows = vec![[
        "KID".to_string(),
        "CREATED".to_string(),
        "CURRENT".to_string(),
        "FILE".to_string(),
    ]];
    for k in keys {
        rows.push([
            k.kid.to_string(),
            k.created.to_rfc3339(),
            if k.current { "yes" } else { "" }.to_string(),
            k.file.display().to_string(),
        ]);
    }
    let widths: Vec<usize> = (0..4)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in &rows {
        let line = format!(
            "{:<w0$}  {:<w1$}  {:<w2$}  {}",
            row[0],
            row[1],
            row[2],
            row[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
        );
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// PASERK lines first, so `licd keys export | head -n 1` is the signing key, then a Rust
/// snippet to paste into the licensed application: the keys as a `const` array and a function
/// that builds the verifier from them. Every key stays in the array: dropping one would reject
/// the tokens it signed.
/// The public keys, one PASERK a line, the signing one first.
fn export_keys(keys: &[KeyInfo]) -> String {
    let mut out = String::new();
    for k in keys {
        out.push_str(&k.public_paserk);
        out.push('\n');
    }
    out
}

/// The same keys as Rust to paste into the application, with the function that uses them.
fn export_snippet(keys: &[KeyInfo]) -> String {
    let mut out = String::new();
    out.push_str(concat!(
        "\n",
        "// Paste into the licensed application (crate `client-verifier`).\n",
        "// Public keys from `licd keys export`, current first; keep old ones while their tokens are in use.\n",
        "const LICENSE_KEYS: &[&str] = &[\n",
    ));
    for k in keys {
        let current = if k.current { ", current" } else { "" };
        out.push_str(&format!(
            "    \"{}\", // {} created {}{current}\n",
            k.public_paserk,
            k.kid,
            k.created.to_rfc3339()
        ));
    }
    out.push_str("];\n\n");
    // The same file is compiled by the tests, so the code handed out always builds.
    out.push_str(include_str!("verifier_snippet.rs"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};
    use client_verifier::{PublicKey, Verifier};

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        keys: KeysArgs,
    }

    fn ring_with_two_keys() -> (tempfile::TempDir, Vec<KeyInfo>) {
        let tmp = tempfile::tempdir().unwrap();
        let mut ring = KeyRing::generate(tmp.path()).unwrap();
        ring.rotate().unwrap();
        let keys = ring.public_keys();
        (tmp, keys)
    }

    #[test]
    fn export_lists_current_key_first() {
        let (_tmp, mut keys) = ring_with_two_keys();
        // The signing key is not always the newest: `current` may be pointed back by hand.
        keys[0].current = false;
        keys[1].current = true;
        let ordered = current_first(keys.clone());
        assert_eq!(ordered[0].kid, keys[1].kid);
        let text = export_keys(&ordered);
        assert_eq!(text.lines().next(), Some(keys[1].public_paserk.as_str()));
        // Nothing but keys: a file of them is read as it is by the C and C# examples.
        assert!(text.lines().all(|l| l.starts_with("k4.public.")), "{text}");
        assert_eq!(text.lines().count(), 2);
    }

    #[test]
    fn exported_snippet_lists_every_key_and_builds_a_verifier() {
        let (_tmp, keys) = ring_with_two_keys();
        let text = export_snippet(&current_first(keys.clone()));
        let quoted: Vec<&str> = text
            .lines()
            .filter_map(|l| l.trim().strip_prefix('"')?.split('"').next())
            .collect();
        assert_eq!(quoted.len(), 2);
        // The snippet itself compiles (see `snippet` below); this is its body with the keys
        // exported at run time.
        let build = |license_keys: &[&str]| -> Result<Verifier, client_verifier::KeyError> {
            let mut builder = client_verifier::Verifier::builder()
                .issuer("YOUR_ISSUER")
                .product("YOUR_PRODUCT_ID");
            for key in license_keys {
                builder = builder.trust(client_verifier::PublicKey::from_paserk(key)?);
            }
            Ok(builder.build())
        };
        build(&quoted).unwrap();
        assert!(text.contains("fn license_verifier()"), "{text}");
        assert!(
            text.contains("client_verifier::Verifier::builder()"),
            "{text}"
        );
        assert!(
            text.contains("const LICENSE_KEYS: &[&str] = &[\n"),
            "{text}"
        );
        assert!(text.trim_end().ends_with("&mut time_guard)?;"), "{text}");
        for k in &keys {
            assert!(quoted.contains(&k.public_paserk.as_str()));
            assert_eq!(
                PublicKey::from_paserk(&k.public_paserk).unwrap().id(),
                &k.kid
            );
        }
        assert!(!text.contains("k4.secret"));
    }

    /// The exported function, compiled here as the application would compile it.
    mod snippet {
        const LICENSE_KEYS: &[&str] = &[];
        include!("verifier_snippet.rs");

        #[test]
        fn exported_snippet_compiles_and_runs() {
            assert!(license_verifier().is_ok());
        }
    }

    #[test]
    fn list_table_aligns_columns_and_marks_current() {
        let (_tmp, keys) = ring_with_two_keys();
        let table = list_table(&keys);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 3);
        let col = lines[0].find("CREATED").unwrap();
        assert_eq!(lines[1].find(&keys[0].created.to_rfc3339()), Some(col));
        assert!(lines[1].contains("  yes  "));
        assert!(!lines[2].contains("yes"));
    }

    #[test]
    fn keys_args_parse_without_a_dir_and_each_help_has_an_example() {
        let cli = Cli::try_parse_from(["licd", "list"]).unwrap();
        if std::env::var_os("LICD_KEYS_DIR").is_none() {
            assert_eq!(
                cli.keys.keys_dir, None,
                "resolved later: --config, then ./keys"
            );
        }
        assert!(matches!(cli.keys.command, KeysCommand::List));
        let cli = Cli::try_parse_from(["licd", "--keys-dir", "/k", "export"]).unwrap();
        assert_eq!(cli.keys.keys_dir, Some(PathBuf::from("/k")));
        let mut cmd = Cli::command();
        for sub in ["generate", "rotate", "add", "activate", "list", "export"] {
            let help = cmd
                .find_subcommand_mut(sub)
                .unwrap()
                .render_long_help()
                .to_string();
            assert!(help.contains("Example: licd keys"), "{sub}: {help}");
        }
    }
}
