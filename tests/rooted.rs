//! licd in rooted mode, as an ISV sets it up: an offline root certifies the server's signing
//! key, the key ring trusts the root, and every token licd mints verifies in an application that
//! embeds nothing but `root.json`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use client_verifier::{BindingRequirement, Root, Timestamp, Verifier, VerifyError};
use common::{Daemon, client, get_license, v1};

fn run(bin: &str, args: &[&str]) -> Output {
    Command::new(bin).args(args).output().unwrap()
}

fn licd(args: &[&str]) -> Output {
    run(env!("CARGO_BIN_EXE_licd"), args)
}

fn licctl(args: &[&str]) -> Output {
    run(env!("CARGO_BIN_EXE_licctl"), args)
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn refused(out: Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `GET path` on the daemon's public listener, as JSON.
async fn get_json(c: &reqwest::Client, d: &Daemon, path: &str) -> serde_json::Value {
    c.get(d.url(path))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// An offline root in `dir/root` and a fresh key ring in `dir/keys` (not rooted yet): the two
/// directories, and the signing key's kid and public PASERK.
fn root_and_ring(dir: &Path) -> (PathBuf, PathBuf, String, String) {
    let (root_dir, keys) = (dir.join("root"), dir.join("keys"));
    ok(licctl(&["root", "init", "--dir", s(&root_dir)]));
    ok(licd(&["keys", "generate", "--keys-dir", s(&keys)]));
    let listed: serde_json::Value = serde_json::from_str(&ok(licd(&[
        "--json",
        "keys",
        "list",
        "--keys-dir",
        s(&keys),
    ])))
    .unwrap();
    let kid = listed[0]["kid"].as_str().unwrap().to_string();
    let public = listed[0]["public"].as_str().unwrap().to_string();
    (root_dir, keys, kid, public)
}

/// Where the root and the ring of [`root_and_ring`] live, for the helpers below.
struct Setup<'a> {
    dir: &'a Path,
    root_dir: &'a Path,
    keys: &'a Path,
}

impl Setup<'_> {
    /// Certifies the key `public` (id `kid`) under the root, signing expiries up to `max_exp`,
    /// into `name` beside the others, and attaches it to the ring. Returns the certificate file.
    fn certify(&self, public: &str, kid: &str, name: &str, max_exp: &str) -> PathBuf {
        let cert = self.dir.join(name);
        ok(licctl(&[
            "root",
            "certify",
            "--dir",
            s(self.root_dir),
            "--key",
            public,
            "--max-exp",
            max_exp,
            "--out",
            s(&cert),
        ]));
        ok(licd(&[
            "keys",
            "certify",
            kid,
            s(&cert),
            "--keys-dir",
            s(self.keys),
        ]));
        cert
    }

    /// Puts the ring in rooted mode.
    fn trust_root(&self) {
        ok(licd(&[
            "keys",
            "trust-root",
            s(&self.root_dir.join("root.json")),
            "--keys-dir",
            s(self.keys),
        ]));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rooted_ring_mints_tokens_that_verify_with_the_root_alone() {
    let dir = tempfile::tempdir().unwrap();
    let (root_dir, keys, kid, public) = root_and_ring(dir.path());
    let root_json = root_dir.join("root.json");

    // The ring will not trust a root that has not certified its signing key: no node is left
    // without a key to sign with.
    let why = refused(licd(&[
        "keys",
        "trust-root",
        s(&root_json),
        "--keys-dir",
        s(&keys),
    ]));
    assert!(why.contains("no certificate"), "{why}");

    let cert = dir.path().join("k1.cert");
    ok(licctl(&[
        "root",
        "certify",
        "--dir",
        s(&root_dir),
        "--key",
        &public,
        "--max-exp",
        "2100-01-01",
        "--out",
        s(&cert),
    ]));
    // A certificate is for one key: the wrong key's is refused.
    ok(licd(&["keys", "add", "--keys-dir", s(&keys)]));
    let listed: serde_json::Value = serde_json::from_str(&ok(licd(&[
        "--json",
        "keys",
        "list",
        "--keys-dir",
        s(&keys),
    ])))
    .unwrap();
    let other = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] != kid.as_str())
        .unwrap()["kid"]
        .as_str()
        .unwrap()
        .to_string();
    let why = refused(licd(&[
        "keys",
        "certify",
        &other,
        s(&cert),
        "--keys-dir",
        s(&keys),
    ]));
    assert!(why.contains("is for"), "{why}");
    ok(licd(&[
        "keys",
        "certify",
        &kid,
        s(&cert),
        "--keys-dir",
        s(&keys),
    ]));
    let out = ok(licd(&[
        "keys",
        "trust-root",
        s(&root_json),
        "--keys-dir",
        s(&keys),
    ]));
    assert!(out.contains("root version 1"), "{out}");
    // Rooted: an uncertified key can neither be made nor activated as the signing key.
    let why = refused(licd(&["keys", "rotate", "--keys-dir", s(&keys)]));
    assert!(why.contains("certified"), "{why}");
    let why = refused(licd(&["keys", "activate", &other, "--keys-dir", s(&keys)]));
    assert!(why.contains("no certificate"), "{why}");

    let d = Daemon::start(dir.path(), &[]);
    d.wait_log("rooted mode");
    let c = client();
    let a = v1(&c, &d, &get_license("CS-ROOT-1", "biz-root-1")).await;
    assert_eq!(a.code(), "000000", "{:?}", a.json);
    let token = a.json["license"].as_str().unwrap().to_string();
    assert!(token.len() < 1024, "{} characters", token.len());

    // The application embeds root.json only.
    let root = Root::from_json(&std::fs::read_to_string(&root_json).unwrap()).unwrap();
    let app = Verifier::builder()
        .trust_root(root.clone())
        .product("OFFI454488918838374")
        .binding(BindingRequirement::Optional)
        .build();
    let license = app.verify(&token, None, Timestamp::now()).unwrap();
    assert!(license.is_active());
    assert_eq!(license.key_id().as_str(), kid);
    // An application built before the hierarchy, embedding the issuing key, accepts it too.
    let old_app = d.verifier();
    assert!(old_app.verify(&token, None, Timestamp::now()).is_ok());
    // And licctl verify --root says so.
    let out = ok(licctl(&["verify", &token, "--root", s(&root_json)]));
    assert!(out.contains("active"), "{out}");

    // Another root's application refuses it.
    let elsewhere = dir.path().join("elsewhere");
    ok(licctl(&["root", "init", "--dir", s(&elsewhere)]));
    let stranger =
        Root::from_json(&std::fs::read_to_string(elsewhere.join("root.json")).unwrap()).unwrap();
    let foreign = Verifier::builder()
        .trust_root(stranger)
        .binding(BindingRequirement::Optional)
        .build();
    assert!(matches!(
        foreign.verify(&token, None, Timestamp::now()),
        Err(VerifyError::Uncertified { .. })
    ));

    // The revocation list travels with the certificate too (it grants lists by default).
    let list = get_json(&c, &d, "/v1/revocations").await;
    let mut app = app;
    app.load_revocations(list["list"].as_str().unwrap())
        .unwrap();

    // GET /v1/root: the documents an application follows from the root it embeds.
    let served: serde_json::Value = get_json(&c, &d, "/v1/root").await;
    assert_eq!(served["version"], 1);
    d.terminate();

    // The root drill: rotate offline, certify the signing key under the new root, then move
    // the ring to it. Until the ring trusts version 2, it keeps signing under version 1.
    let root2_dir = dir.path().join("root2");
    ok(licctl(&[
        "root",
        "rotate",
        "--dir",
        s(&root_dir),
        "--new-dir",
        s(&root2_dir),
    ]));
    let cert2 = dir.path().join("k1-v2.cert");
    ok(licctl(&[
        "root",
        "certify",
        "--dir",
        s(&root2_dir),
        "--key",
        &public,
        "--max-exp",
        "2100-01-01",
        "--out",
        s(&cert2),
    ]));
    let out = ok(licd(&[
        "keys",
        "certify",
        &kid,
        s(&cert2),
        "--keys-dir",
        s(&keys),
    ]));
    assert!(out.contains("does not trust yet"), "{out}");
    // Another root (not the next version of the trusted one) is refused.
    let why = refused(licd(&[
        "keys",
        "trust-root",
        s(&elsewhere.join("root.json")),
        "--keys-dir",
        s(&keys),
    ]));
    assert!(why.contains("version"), "{why}");
    ok(licd(&[
        "keys",
        "trust-root",
        s(&root2_dir.join("root.json")),
        "--keys-dir",
        s(&keys),
    ]));
    let d = Daemon::start(dir.path(), &[]);
    d.wait_log("rooted mode");
    let a = v1(&c, &d, &get_license("CS-ROOT-2", "biz-root-2")).await;
    assert_eq!(a.code(), "000000", "{:?}", a.json);
    let token2 = a.json["license"].as_str().unwrap().to_string();
    // The application still embeds version 1: it follows the chain licd serves.
    let served: serde_json::Value = get_json(&c, &d, "/v1/root").await;
    assert_eq!(served["version"], 2);
    let docs: Vec<&str> = served["roots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap())
        .collect();
    let followed = root.follow(docs).unwrap();
    assert_eq!(followed.version(), 2);
    let app2 = Verifier::builder()
        .trust_root(followed)
        .binding(BindingRequirement::Optional)
        .build();
    assert!(
        app2.verify(&token2, None, Timestamp::now())
            .unwrap()
            .is_active()
    );
    // A version-1 application cannot take the version-2 token without following the chain.
    assert!(matches!(
        app.verify(&token2, None, Timestamp::now()),
        Err(VerifyError::Uncertified { .. })
    ));
    d.terminate();
}

#[test]
fn a_rooted_ring_whose_signing_key_lost_its_certificate_does_not_start() {
    let dir = tempfile::tempdir().unwrap();
    let (root_dir, keys, kid, public) = root_and_ring(dir.path());
    let cert = dir.path().join("k1.cert");
    ok(licctl(&[
        "root",
        "certify",
        "--dir",
        s(&root_dir),
        "--key",
        &public,
        "--out",
        s(&cert),
    ]));
    ok(licd(&[
        "keys",
        "certify",
        &kid,
        s(&cert),
        "--keys-dir",
        s(&keys),
    ]));
    ok(licd(&[
        "keys",
        "trust-root",
        s(&root_dir.join("root.json")),
        "--keys-dir",
        s(&keys),
    ]));
    // What the nodes of a cluster must agree on now includes the root and the certificate
    // (`licd keys publish` records it; a node whose ring differs refuses to start).
    let ids = licd::keys::KeyRing::open(&keys).unwrap().published_ids();
    assert_eq!(ids[0], kid);
    assert!(ids.iter().any(|i| i.starts_with("root:v1:")), "{ids:?}");
    assert!(ids.iter().any(|i| i.starts_with("cert:")), "{ids:?}");
    // The certificate file goes missing (a bad copy of the key directory to a new node).
    for e in std::fs::read_dir(&keys).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "cert") {
            std::fs::remove_file(p).unwrap();
        }
    }
    // licd does not start signing without it, and says how to repair it...
    let out = common::serve_refused(dir.path(), &[]);
    let why = String::from_utf8_lossy(&out.stderr);
    assert!(
        why.contains("no certificate") && why.contains("licd keys certify"),
        "{why}"
    );
    // ...which the keys commands can still do.
    let listed = ok(licd(&["keys", "list", "--keys-dir", s(&keys)]));
    assert!(listed.contains("rooted"), "{listed}");
    ok(licd(&[
        "keys",
        "certify",
        &kid,
        s(&cert),
        "--keys-dir",
        s(&keys),
    ]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_root_there_is_no_chain_to_follow() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), &[]);
    let r = client().get(d.url("/v1/root")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"], "not_rooted");
    d.terminate();
}

/// The root revokes an issuing key that is not the signing one (a key copied with an old
/// backup, say): licd keeps the statement, serves it with its list, and refuses to sign with
/// that key again; an application that loads the list refuses what the key signed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn licd_serves_the_roots_key_revocations_with_its_list() {
    let dir = tempfile::tempdir().unwrap();
    let (root_dir, keys, kid, public) = root_and_ring(dir.path());
    let setup = Setup {
        dir: dir.path(),
        root_dir: &root_dir,
        keys: &keys,
    };
    let certify = |public: &str, kid: &str, name: &str| {
        setup.certify(public, kid, name, "2100-01-01");
    };
    certify(&public, &kid, "a.cert");
    setup.trust_root();
    let statement = |kid: &str, name: &str| {
        let out = dir.path().join(name);
        ok(licctl(&[
            "root",
            "revoke-key",
            "--dir",
            s(&root_dir),
            "--kid",
            kid,
            "--list-floor",
            "0",
            "--out",
            s(&out),
        ]));
        out
    };
    // Revoking the only key that can sign is refused: licd would have nothing to sign with.
    let own = statement(&kid, "own.json");
    let why = refused(licd(&[
        "keys",
        "revocations",
        s(&own),
        "--keys-dir",
        s(&keys),
    ]));
    assert!(
        why.contains("no other key has a valid certificate"),
        "{why}"
    );
    // A second key, certified, that leaks.
    let added: serde_json::Value = serde_json::from_str(&ok(licd(&[
        "--json",
        "keys",
        "add",
        "--keys-dir",
        s(&keys),
    ])))
    .unwrap();
    let (leaked_kid, leaked_file) = (
        added["kid"].as_str().unwrap().to_string(),
        added["file"].as_str().unwrap().to_string(),
    );
    certify(added["public"].as_str().unwrap(), &leaked_kid, "b.cert");
    let thief_key = client_verifier::SecretKey::from_paserk(
        std::fs::read_to_string(&leaked_file).unwrap().trim(),
    )
    .unwrap();

    // The leaked one (the statement is cumulative: it still names the signing key too, so
    // the root signs a fresh one naming the leaked key alone, from a clean directory).
    std::fs::remove_file(root_dir.join("key-revocations.json")).unwrap();
    let leaked = statement(&leaked_kid, "leaked.json");
    ok(licd(&[
        "keys",
        "revocations",
        s(&leaked),
        "--keys-dir",
        s(&keys),
    ]));
    let why = refused(licd(&[
        "keys",
        "activate",
        &leaked_kid,
        "--keys-dir",
        s(&keys),
    ]));
    assert!(why.contains("revoked"), "{why}");

    let d = Daemon::start(dir.path(), &[]);
    d.wait_log("rooted mode");
    let c = client();
    let served: serde_json::Value = get_json(&c, &d, "/v1/revocations").await;
    let root =
        Root::from_json(&std::fs::read_to_string(root_dir.join("root.json")).unwrap()).unwrap();
    let mut app = Verifier::builder()
        .trust_root(root)
        .binding(BindingRequirement::Optional)
        .build();
    let mut guard = client_verifier::TimeGuard::default();
    app.load_key_revocations_guarded(served["keys"].as_str().unwrap(), &mut guard)
        .unwrap();
    app.load_revocations_guarded(served["list"].as_str().unwrap(), &mut guard)
        .unwrap();
    // What the thief signs with the leaked key and its certificate is refused...
    let cert_b = client_verifier::Certificate::decode(
        std::fs::read_to_string(dir.path().join("b.cert"))
            .unwrap()
            .trim(),
    )
    .unwrap();
    let now = Timestamp::now();
    let forged_claims = client_verifier::Claims::new(
        "licd",
        "thief",
        "free-1",
        "OFFI454488918838374",
        "",
        "x",
        now,
        now.add_secs(86_400 * 30),
        now.add_secs(86_400 * 45),
    );
    let forged = client_verifier::mint_certified(&thief_key, &cert_b, &forged_claims).unwrap();
    assert!(matches!(
        app.verify_guarded(&forged, None, now, &mut guard),
        Err(VerifyError::Uncertified { .. })
    ));
    // ...while licd's own tokens verify.
    let a = v1(&c, &d, &get_license("CS-ROOT-9", "biz-root-9")).await;
    let token = a.json["license"].as_str().unwrap().to_string();
    // (At the time after licd minted it: its nbf may be a second past `now`.)
    let after = Timestamp::now();
    assert!(app.verify_guarded(&token, None, after, &mut guard).is_ok());
    // licctl verify checks both from the URL.
    let out = licctl(&[
        "verify",
        &forged,
        "--root",
        s(&root_dir.join("root.json")),
        "--revocations",
        &d.url("/v1/revocations"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("revoked") && said.contains("key revocations 1"),
        "{said}"
    );
    d.terminate();
}

/// `POST path` on the public listener: (status, JSON body).
async fn post_json(
    c: &reqwest::Client,
    d: &Daemon,
    path: &str,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    let r = c.post(d.url(path)).json(&body).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

/// The compromise drill of docs/operations.md §5c, end to end: the signing key is stolen and
/// the thief mints licenses with it; the ISV certifies a new key, has the root revoke the old
/// one and re-signs; applications that load the new list refuse both the thief's tokens and the
/// customer's old ones, licd refuses the thief's tokens on every route that takes a token, and
/// the customer, after one refresh, holds a token that verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compromise_drill_a_stolen_signing_key_is_revoked_and_customers_keep_working() {
    const MACHINE: &str = "04:7C:16:5E:E3:5D|001B_444A_488B_5CEC.|BOARD-A1|BFEBFBFF00090672";
    const THIEF: &str = "0A:0B:0C:0D:0E:0F|THIEF-DISK-0001|THIEF-BOARD|BFEBFBFF000906EA";
    let dir = tempfile::tempdir().unwrap();
    let (root_dir, keys, old_kid, old_public) = root_and_ring(dir.path());
    let setup = Setup {
        dir: dir.path(),
        root_dir: &root_dir,
        keys: &keys,
    };
    let certify =
        |public: &str, kid: &str, name: &str| setup.certify(public, kid, name, "2100-01-01");
    let old_cert = certify(&old_public, &old_kid, "old.cert");
    setup.trust_root();
    let root =
        Root::from_json(&std::fs::read_to_string(root_dir.join("root.json")).unwrap()).unwrap();
    let fp = client_verifier::Fingerprint::parse(MACHINE).unwrap();

    // Before: a customer bought a license and activated it on their machine.
    let d = Daemon::start(dir.path(), &[]);
    d.wait_log("rooted mode");
    let c = client();
    let bought = v1(&c, &d, &get_license("CS-DRILL-1", "biz-drill-1")).await;
    let unbound = bought.json["license"].as_str().unwrap().to_string();
    let (status, body) = post_json(
        &c,
        &d,
        "/v1/activate",
        serde_json::json!({"license": unbound, "fingerprint": MACHINE}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let old_seat = body["token"].as_str().unwrap().to_string();
    // A check-in token (minted by a refresh, stored nowhere but as a digest).
    let (status, body) = post_json(
        &c,
        &d,
        "/v1/refresh",
        serde_json::json!({"token": old_seat}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let refreshed_seat = body["token"].as_str().unwrap().to_string();
    d.terminate();

    // The theft: a copy of the key directory. The thief mints a license of their own and a
    // token for the customer's license bound to their machine.
    let listed: serde_json::Value = serde_json::from_str(&ok(licd(&[
        "--json",
        "keys",
        "list",
        "--keys-dir",
        s(&keys),
    ])))
    .unwrap();
    let stolen = client_verifier::SecretKey::from_paserk(
        std::fs::read_to_string(listed[0]["file"].as_str().unwrap())
            .unwrap()
            .trim(),
    )
    .unwrap();
    let cert =
        client_verifier::Certificate::decode(std::fs::read_to_string(&old_cert).unwrap().trim())
            .unwrap();
    let now = Timestamp::now();
    let claims = |jti: &str| {
        client_verifier::Claims::new(
            "acme-isv",
            "thief",
            jti,
            "OFFI454488918838374",
            "",
            "x",
            now,
            now.add_secs(86_400 * 3000),
            now.add_secs(86_400 * 3015),
        )
    };
    let forged_own = client_verifier::mint_certified(&stolen, &cert, &claims("free-1")).unwrap();
    let customer_id = d_license_id(&unbound);
    let forged_theirs =
        client_verifier::mint_certified(&stolen, &cert, &claims(&customer_id)).unwrap();

    // The answer: a new key, certified; the root revokes the stolen one; licd switches.
    let added: serde_json::Value = serde_json::from_str(&ok(licd(&[
        "--json",
        "keys",
        "add",
        "--keys-dir",
        s(&keys),
    ])))
    .unwrap();
    let new_kid = added["kid"].as_str().unwrap().to_string();
    certify(added["public"].as_str().unwrap(), &new_kid, "new.cert");
    let statement = dir.path().join("revoked.json");
    ok(licctl(&[
        "root",
        "revoke-key",
        "--dir",
        s(&root_dir),
        "--kid",
        &old_kid,
        "--list-floor",
        "0",
        "--out",
        s(&statement),
    ]));
    let said = ok(licd(&[
        "keys",
        "revocations",
        s(&statement),
        "--keys-dir",
        s(&keys),
    ]));
    assert!(said.contains(&format!("{new_kid} signs")), "{said}");
    // Several nodes on PostgreSQL (LICD_TEST_BACKEND=postgres): the new ring is published.
    if let Some(url) = common::pg::database_for(dir.path()) {
        ok(licd(&[
            "keys",
            "publish",
            "--database-url",
            &url,
            "--keys-dir",
            s(&keys),
        ]));
    }

    let d = Daemon::start(dir.path(), &[]);
    d.wait_log("rooted mode");
    let said = ok(d.licctl(&[
        "keys",
        "revoke",
        &old_kid,
        "--reason",
        "drill: key directory copied",
    ]));
    assert!(said.contains("1 license token(s), 1 seat(s)"), "{said}");
    // Revoking the key that signs now is refused.
    let out = d.licctl(&["keys", "revoke", &new_kid, "--reason", "oops"]);
    assert!(!out.status.success());

    // licd refuses the thief's tokens on every route that takes one.
    for forged in [&forged_theirs, &forged_own] {
        let (status, body) =
            post_json(&c, &d, "/v1/refresh", serde_json::json!({"token": forged})).await;
        assert_eq!(status, 400, "{body}");
        assert!(
            body["message"].as_str().unwrap().contains("revoked"),
            "{body}"
        );
        let (status, body) = post_json(
            &c,
            &d,
            "/v1/activate",
            serde_json::json!({"license": forged, "fingerprint": THIEF}),
        )
        .await;
        assert_eq!(status, 400, "{body}");
    }

    // Offline activation proves possession of a token licd handed out: the thief's forgery
    // for the customer's license is not one.
    let thief_machine =
        client_verifier::offline::state::OfflineState::open(dir.path().join("thief")).unwrap();
    let request = thief_machine
        .request(
            &forged_theirs,
            &client_verifier::Fingerprint::parse(THIEF).unwrap(),
        )
        .unwrap();
    let (status, body) = post_json(
        &c,
        &d,
        "/v1/offline/activate",
        serde_json::json!({"request": request}),
    )
    .await;
    assert_eq!(status, 400, "{body}");

    // An application that loads the new list refuses the thief's and the old tokens alike.
    let served = get_json(&c, &d, "/v1/revocations").await;
    let mut app = Verifier::builder()
        .trust_root(root)
        .issuer("acme-isv")
        .binding(BindingRequirement::Optional)
        .build();
    let mut guard = client_verifier::TimeGuard::default();
    app.load_key_revocations_guarded(served["keys"].as_str().unwrap(), &mut guard)
        .unwrap();
    app.load_revocations_guarded(served["list"].as_str().unwrap(), &mut guard)
        .unwrap();
    let now = Timestamp::now();
    for token in [
        &forged_own,
        &forged_theirs,
        &unbound,
        &old_seat,
        &refreshed_seat,
    ] {
        assert!(
            matches!(
                app.verify_guarded(token, Some(&fp), now, &mut guard),
                Err(VerifyError::Uncertified { .. })
            ),
            "a token of the revoked key verified"
        );
    }
    // The customer refreshes any token licd gave them and gets one that verifies.
    for (held, bound) in [
        (&refreshed_seat, true),
        (&old_seat, true),
        (&unbound, false),
    ] {
        let (status, body) =
            post_json(&c, &d, "/v1/refresh", serde_json::json!({"token": held})).await;
        assert_eq!(status, 200, "{body}");
        let fresh = body["token"].as_str().unwrap();
        let v = app
            .verify_guarded(fresh, Some(&fp), Timestamp::now(), &mut guard)
            .unwrap();
        assert!(v.is_active(), "{:?}", v.status());
        assert_eq!(v.key_id().as_str(), new_kid);
        assert_eq!(v.claims().binding.is_some(), bound);
    }
    d.terminate();
}

/// The license id (`jti`) a token carries, read without checking it.
fn d_license_id(token: &str) -> String {
    let body = token.split('.').nth(2).unwrap();
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(body)
        .unwrap();
    let claims: serde_json::Value = serde_json::from_slice(&bytes[..bytes.len() - 64]).unwrap();
    claims["jti"].as_str().unwrap().to_string()
}

/// `licd doctor` in rooted mode checks that the signing key's certificate covers every expiry
/// the licenses will mint: a license sold until 2099 under a certificate bounded at 2060 could
/// never be renewed or refreshed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_says_when_the_certificate_cannot_sign_what_was_sold() {
    let dir = tempfile::tempdir().unwrap();
    let (root_dir, keys, kid, public) = root_and_ring(dir.path());
    let setup = Setup {
        dir: dir.path(),
        root_dir: &root_dir,
        keys: &keys,
    };
    let certify = |max_exp: &str, name: &str| {
        setup.certify(&public, &kid, name, max_exp);
    };
    certify("2100-01-01", "wide.cert");
    setup.trust_root();
    let d = Daemon::start(dir.path(), &[]);
    d.wait_log("rooted mode");
    let sold = v1(&client(), &d, &get_license("CS-BOUND-1", "biz-bound-1")).await;
    assert_eq!(sold.code(), "000000");
    d.terminate();

    let doctor = || {
        let out = licd(&[
            "--json",
            "doctor",
            "--data-dir",
            s(&dir.path().join("data")),
            "--keys-dir",
            s(&keys),
            "--admin-url",
            "http://127.0.0.1:9",
        ]);
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["check"] == "certificate bound")
            .cloned()
            .unwrap_or_else(|| panic!("no certificate bound check: {report}"))
    };
    let line = doctor();
    assert_eq!(line["level"], "ok", "{line}");
    assert!(line["detail"].as_str().unwrap().contains("2099"), "{line}");
    // A narrower certificate: the license sold until 2099 is named, with the fix.
    certify("2060-01-01", "narrow.cert");
    let line = doctor();
    assert_eq!(line["level"], "failure", "{line}");
    let detail = line["detail"].as_str().unwrap();
    assert!(
        detail.contains("biz-bound-1") && detail.contains("2060"),
        "{line}"
    );
    assert!(
        line["fix"].as_str().unwrap().contains("--max-exp"),
        "{line}"
    );
}
