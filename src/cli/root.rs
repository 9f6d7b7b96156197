//! `licctl root`: the offline root of the key hierarchy. Runs without licd and without a
//! network, on the machine (ideally an offline one) where the root secrets live; licd never
//! reads them.
//!
//! A root directory holds `root.json` (public: what the application embeds), the root secrets
//! `root-key-N.k4.secret` (owner-only; each may live with a different person, and is copied in
//! only for a signing), and after a rotation the older documents `root.vN.json` (the chain
//! licd serves, so that an application trusting an old root can follow it).

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use client_verifier::{
    Certificate, Grant, KeyRevocations, PublicKey, Purposes, Root, SecretKey, Timestamp,
};

use super::CliError;
use crate::private_file::{check_private, write_private};

/// The root's subcommands.
#[derive(Debug, Subcommand)]
pub enum RootCommand {
    /// Make a new root: N root keys, each in its own owner-only file, and `root.json` signed
    /// by K of them. Prints the document the application embeds.
    ///
    /// Example: licctl root init --dir ./acme-root --keys 3 --threshold 2
    Init(InitArgs),
    /// Certify an issuing key (from `licd keys list`): what it may sign, for how long, and the
    /// latest expiry a token it signs may carry. Needs the threshold of root secrets in DIR.
    ///
    /// Example: licctl root certify --dir ./acme-root --key k4.public.… --out k1.cert
    Certify(CertifyArgs),
    /// Make the next root version with new keys, signed by the threshold of the old root and
    /// of the new one; applications follow it through `GET /v1/root`.
    ///
    /// Example: licctl root rotate --dir ./acme-root --new-dir ./acme-root-2
    Rotate(RotateArgs),
    /// Revoke issuing keys: a statement signed by the threshold of root keys, which licd
    /// serves with its revocation list and applications load (KeyRevocations). Cumulative: it
    /// lists every key this root revoked so far (kept in DIR/key-revocations.json).
    ///
    /// Example: licctl root revoke-key --dir ./acme-root --kid k4.pid.… --list-floor 12 --out revoked-keys.json
    RevokeKey(RevokeKeyArgs),
}

/// Arguments of `licctl root revoke-key`.
#[derive(Debug, Args)]
pub struct RevokeKeyArgs {
    /// The root directory: `root.json` and at least the threshold of root secrets.
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,
    /// The key id to revoke (`k4.pid.…`); repeat for several.
    #[arg(long = "kid", value_name = "KID", required = true)]
    pub kids: Vec<String>,
    /// The sequence number of licd's current revocation list (`seq` of GET /v1/revocations):
    /// applications put their list floor back to it, undoing a list with an absurd number that
    /// a revoked key may have signed.
    #[arg(long, value_name = "SEQ")]
    pub list_floor: u64,
    /// Where to write the statement (it is public; give it to licd).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

/// Arguments of `licctl root init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// The directory to write into (created; must not hold a root already).
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,
    /// How many root keys to make.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=16))]
    pub keys: u8,
    /// How many of them must sign a certificate or the next root.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=16))]
    pub threshold: u8,
}

/// Arguments of `licctl root certify`.
#[derive(Debug, Args)]
pub struct CertifyArgs {
    /// The root directory: `root.json` and at least the threshold of root secrets.
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,
    /// The issuing key's public half, `k4.public.…` (`licd keys list` prints it).
    #[arg(long, value_name = "PASERK")]
    pub key: String,
    /// When the key may start signing (default: now).
    #[arg(long, value_name = "DATE")]
    pub not_before: Option<String>,
    /// When licd must stop signing with it (default: a year from now). Tokens it signed stay
    /// valid until their own expiry.
    #[arg(long, value_name = "DATE")]
    pub not_after: Option<String>,
    /// The latest expiry a token it signs may carry (default: three years after --not-after).
    /// This bounds what a thief of the key can sign; a product sold without an end (an
    /// expiry such as 2099) needs a later one.
    #[arg(long, value_name = "DATE")]
    pub max_exp: Option<String>,
    /// The products it may sign for, comma-separated (default: all).
    #[arg(long, value_name = "A,B", value_delimiter = ',')]
    pub products: Vec<String>,
    /// What it may sign: licenses, leases, site-allotments, revocation-lists (default: all).
    #[arg(long, value_name = "LIST")]
    pub purposes: Option<String>,
    /// Where to write the certificate (it is public).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

/// Arguments of `licctl root rotate`.
#[derive(Debug, Args)]
pub struct RotateArgs {
    /// The current root's directory (its `root.json` and the threshold of its secrets).
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,
    /// The new root's directory (created).
    #[arg(long, value_name = "DIR")]
    pub new_dir: PathBuf,
    /// How many keys the new root has.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=16))]
    pub keys: u8,
    /// Its threshold.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=16))]
    pub threshold: u8,
}

const ROOT_FILE: &str = "root.json";
const YEAR: i64 = 365 * client_verifier::DAY;

/// Runs a root subcommand.
pub fn run(cmd: RootCommand, json: bool) -> Result<(), CliError> {
    match cmd {
        RootCommand::Init(a) => init(&a, json),
        RootCommand::Certify(a) => certify(&a, json),
        RootCommand::Rotate(a) => rotate(&a, json),
        RootCommand::RevokeKey(a) => revoke_key(&a, json),
    }
}

fn io_err(what: &str, path: &Path, e: impl std::fmt::Display) -> CliError {
    CliError::negative(format!("{what} {}: {e}", path.display()))
}

/// Makes `dir` (owner-only) for a new root, refusing one that holds a root already.
fn new_root_dir(dir: &Path) -> Result<(), CliError> {
    if dir.join(ROOT_FILE).exists() {
        return Err(CliError::usage(format!(
            "{} holds a root already: choose another directory (a root is made once; `licctl root rotate` makes the next)",
            dir.display()
        )));
    }
    std::fs::create_dir_all(dir).map_err(|e| io_err("cannot create", dir, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| io_err("cannot restrict", dir, e))?;
    }
    Ok(())
}

/// Makes `n` root secrets in `dir`, each in its own owner-only file.
fn new_keys(dir: &Path, n: u8) -> Result<Vec<SecretKey>, CliError> {
    (1..=n)
        .map(|i| {
            let key = SecretKey::generate()
                .map_err(|e| CliError::negative(format!("no randomness for a root key: {e}")))?;
            let path = dir.join(format!("root-key-{i}.k4.secret"));
            write_private(&path, format!("{}\n", key.to_paserk().as_str()).as_bytes())
                .map_err(|e| io_err("cannot write", &path, e))?;
            Ok(key)
        })
        .collect()
}

fn check_threshold(keys: u8, threshold: u8) -> Result<(), CliError> {
    if threshold > keys {
        return Err(CliError::usage(format!(
            "--threshold {threshold} is more than --keys {keys}"
        )));
    }
    Ok(())
}

fn write_public(path: &Path, text: &str) -> Result<(), CliError> {
    std::fs::write(path, text).map_err(|e| io_err("cannot write", path, e))
}

fn init(a: &InitArgs, json: bool) -> Result<(), CliError> {
    check_threshold(a.keys, a.threshold)?;
    new_root_dir(&a.dir)?;
    let secrets = new_keys(&a.dir, a.keys)?;
    let public: Vec<PublicKey> = secrets.iter().map(|s| s.public_key().clone()).collect();
    let signers: Vec<&SecretKey> = secrets.iter().take(a.threshold.into()).collect();
    let root = Root::sign(1, a.threshold, &public, &signers).map_err(CliError::negative)?;
    let path = a.dir.join(ROOT_FILE);
    write_public(&path, root.to_json())?;
    report(&root, &a.dir, json);
    Ok(())
}

fn report(root: &Root, dir: &Path, json: bool) {
    if json {
        println!(
            "{}",
            serde_json::json!({
                "root": dir.join(ROOT_FILE),
                "version": root.version(),
                "threshold": root.threshold(),
                "keys": root.keys().iter().map(PublicKey::to_paserk).collect::<Vec<_>>(),
                "document": root.to_json(),
            })
        );
        return;
    }
    println!(
        "root version {} written to {}: {} of {} keys sign",
        root.version(),
        dir.join(ROOT_FILE).display(),
        root.threshold(),
        root.keys().len()
    );
    println!(
        "the root secrets are {}/root-key-*.k4.secret: give each to its holder, keep them off every server, and delete them here",
        dir.display()
    );
    println!(
        "embed this document in the application (in Rust: Verifier::builder().trust_root(Root::from_json(…)); to check a token: licctl verify TOKEN --root root.json):"
    );
    println!("{}", root.to_json());
}

/// The root in `dir` and the secrets of its keys found there (at least its threshold).
fn load_root(dir: &Path) -> Result<(Root, Vec<SecretKey>), CliError> {
    let path = dir.join(ROOT_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| io_err("cannot read", &path, e))?;
    let root =
        Root::from_json(&text).map_err(|e| CliError::usage(format!("{}: {e}", path.display())))?;
    let mut secrets = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| io_err("cannot list", dir, e))?;
    for entry in entries.flatten() {
        let p = entry.path();
        if !p.to_string_lossy().ends_with(".k4.secret") {
            continue;
        }
        check_private(&p, "root secret").map_err(CliError::usage)?;
        let text = std::fs::read_to_string(&p).map_err(|e| io_err("cannot read", &p, e))?;
        let key = SecretKey::from_paserk(text.trim())
            .map_err(|e| CliError::usage(format!("{}: {e}", p.display())))?;
        if root.keys().contains(key.public_key())
            && !secrets
                .iter()
                .any(|s: &SecretKey| s.public_key() == key.public_key())
        {
            secrets.push(key);
        }
    }
    if secrets.len() < usize::from(root.threshold()) {
        return Err(CliError::usage(format!(
            "{} holds {} of this root's secrets and {} must sign: copy the holders' root-key files in for the signing",
            dir.display(),
            secrets.len(),
            root.threshold()
        )));
    }
    secrets.truncate(root.threshold().into());
    Ok((root, secrets))
}

fn date(flag: &str, value: &Option<String>, default: Timestamp) -> Result<Timestamp, CliError> {
    match value {
        None => Ok(default),
        Some(v) => Timestamp::parse_rfc3339(v)
            .or_else(|| Timestamp::parse_rfc3339(&format!("{v}T00:00:00Z")))
            .ok_or_else(|| {
                CliError::usage(format!(
                    "{flag} {v:?}: expected a date (2027-12-31) or RFC 3339 time"
                ))
            }),
    }
}

fn certify(a: &CertifyArgs, json: bool) -> Result<(), CliError> {
    let key = PublicKey::from_paserk(&a.key).map_err(|e| {
        CliError::usage(format!(
            "--key: {e} (expected the issuing key's k4.public.…)"
        ))
    })?;
    let now = Timestamp::now();
    let not_before = date("--not-before", &a.not_before, now)?;
    let not_after = date("--not-after", &a.not_after, now.add_secs(YEAR))?;
    let max_exp = date("--max-exp", &a.max_exp, not_after.add_secs(3 * YEAR))?;
    if not_after <= not_before {
        return Err(CliError::usage(
            "--not-after must be later than --not-before",
        ));
    }
    if max_exp < not_after {
        return Err(CliError::usage(
            "--max-exp must not be earlier than --not-after: a token signed on the last day would already be out of bounds",
        ));
    }
    let purposes = match &a.purposes {
        Some(list) => {
            Purposes::parse(list).map_err(|e| CliError::usage(format!("--purposes: {e}")))?
        }
        None => Purposes::DEFAULT,
    };
    let products: Vec<String> = a
        .products
        .iter()
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect();
    let (_, secrets) = load_root(&a.dir)?;
    let signers: Vec<&SecretKey> = secrets.iter().collect();
    let grant = Grant {
        key: key.clone(),
        not_before,
        not_after,
        max_exp,
        purposes,
        products: products.clone(),
    };
    let cert = Certificate::sign(grant, &signers).map_err(CliError::usage)?;
    write_public(&a.out, &format!("{}\n", cert.encode()))?;
    if json {
        println!(
            "{}",
            serde_json::json!({
                "certificate": a.out, "key": key.id().as_str(),
                "not_before": not_before.to_rfc3339(), "not_after": not_after.to_rfc3339(),
                "max_exp": max_exp.to_rfc3339(), "purposes": purposes.to_string(),
                "products": products,
            })
        );
    } else {
        println!(
            "certificate for {} written to {}: signs {} for {} from {} to {}, tokens expiring by {}",
            key.id().as_str(),
            a.out.display(),
            purposes,
            if products.is_empty() {
                "every product".to_string()
            } else {
                products.join(", ")
            },
            not_before.to_rfc3339(),
            not_after.to_rfc3339(),
            max_exp.to_rfc3339()
        );
        println!(
            "on the server: licd keys certify {} {}",
            key.id().as_str(),
            a.out.display()
        );
    }
    Ok(())
}

fn rotate(a: &RotateArgs, json: bool) -> Result<(), CliError> {
    check_threshold(a.keys, a.threshold)?;
    let (old, old_secrets) = load_root(&a.dir)?;
    let version = old
        .version()
        .checked_add(1)
        .ok_or_else(|| CliError::usage("the root is at its last version"))?;
    new_root_dir(&a.new_dir)?;
    let secrets = new_keys(&a.new_dir, a.keys)?;
    let public: Vec<PublicKey> = secrets.iter().map(|s| s.public_key().clone()).collect();
    let signers: Vec<&SecretKey> = old_secrets
        .iter()
        .chain(secrets.iter().take(a.threshold.into()))
        .collect();
    let next = Root::sign(version, a.threshold, &public, &signers).map_err(CliError::negative)?;
    // What an application holding the old root will check.
    old.accept_next(next.to_json())
        .map_err(|e| CliError::negative(format!("the new root would not be accepted: {e}")))?;
    // The chain: every older document, then the new one.
    for entry in std::fs::read_dir(&a.dir)
        .map_err(|e| io_err("cannot list", &a.dir, e))?
        .flatten()
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("root.v") && name.ends_with(".json") {
            std::fs::copy(entry.path(), a.new_dir.join(&name))
                .map_err(|e| io_err("cannot copy", &entry.path(), e))?;
        }
    }
    write_public(
        &a.new_dir.join(format!("root.v{}.json", old.version())),
        old.to_json(),
    )?;
    write_public(&a.new_dir.join(ROOT_FILE), next.to_json())?;
    // Keys the old root revoked stay revoked under the new one: the statement is signed again,
    // numbered on, so applications that loaded the old one take the new one.
    let kept = a.dir.join(KEY_REVOCATIONS_FILE);
    if let Ok(text) = std::fs::read_to_string(&kept) {
        let prior = KeyRevocations::from_json(&text, &old)
            .map_err(|e| CliError::usage(format!("{}: {e}", kept.display())))?;
        let signers: Vec<&SecretKey> = secrets.iter().take(a.threshold.into()).collect();
        let doc = KeyRevocations::sign(
            next.version(),
            prior.seq() + 1,
            prior.revoked().to_vec(),
            prior.list_floor(),
            &signers,
        )
        .map_err(CliError::usage)?;
        write_public(&a.new_dir.join(KEY_REVOCATIONS_FILE), &doc)?;
    }
    report(&next, &a.new_dir, json);
    if !json {
        println!(
            "certify the issuing keys under the new root (licctl root certify --dir {}) before servers trust it: certificates signed only by the old keys no longer chain",
            a.new_dir.display()
        );
    }
    Ok(())
}

/// The root's statement of revoked keys kept in its directory, the newest.
const KEY_REVOCATIONS_FILE: &str = "key-revocations.json";

fn revoke_key(a: &RevokeKeyArgs, json: bool) -> Result<(), CliError> {
    let (root, secrets) = load_root(&a.dir)?;
    for kid in &a.kids {
        if !kid.starts_with("k4.pid.") || kid.len() != "k4.pid.".len() + 44 {
            return Err(CliError::usage(format!(
                "--kid {kid:?}: expected a whole key id, k4.pid. and 44 characters (licd keys list)"
            )));
        }
    }
    let kept = a.dir.join(KEY_REVOCATIONS_FILE);
    let (seq, mut revoked) = match std::fs::read_to_string(&kept) {
        Ok(text) => {
            let prior = KeyRevocations::from_json(&text, &root)
                .map_err(|e| CliError::usage(format!("{}: {e}", kept.display())))?;
            (prior.seq() + 1, prior.revoked().to_vec())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => (1, Vec::new()),
        Err(e) => return Err(io_err("cannot read", &kept, e)),
    };
    for kid in &a.kids {
        if !revoked.contains(kid) {
            revoked.push(kid.clone());
        }
    }
    let signers: Vec<&SecretKey> = secrets.iter().collect();
    let doc = KeyRevocations::sign(root.version(), seq, revoked.clone(), a.list_floor, &signers)
        .map_err(CliError::usage)?;
    write_public(&kept, &doc)?;
    write_public(&a.out, &doc)?;
    if json {
        println!(
            "{}",
            serde_json::json!({ "seq": seq, "revoked": revoked, "list_floor": a.list_floor, "out": a.out })
        );
    } else {
        println!(
            "key revocations {seq} written to {}: {} key(s) revoked under root version {}, list floor {}",
            a.out.display(),
            revoked.len(),
            root.version(),
            a.list_floor
        );
        println!("applications load it with Verifier::load_key_revocations_guarded");
    }
    Ok(())
}
