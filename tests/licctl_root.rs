//! `licctl root`, as an ISV runs it on an offline machine: make a 2-of-3 root, certify an
//! issuing key, verify a token through it, rotate the root. No licd, no network.

use std::path::Path;
use std::process::{Command, Output};

use client_verifier::{Certificate, Claims, Root, SecretKey, Timestamp, mint_certified};

fn licctl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_licctl"))
        .args(args)
        .output()
        .unwrap()
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "licctl failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn secrets(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".k4.secret"))
        .collect();
    v.sort();
    v
}

#[test]
fn an_isv_makes_a_root_certifies_a_key_verifies_and_rotates() {
    let tmp = tempfile::tempdir().unwrap();
    let root_dir = tmp.path().join("acme-root");
    let out = ok(&licctl(&[
        "root",
        "init",
        "--dir",
        s(&root_dir),
        "--keys",
        "3",
        "--threshold",
        "2",
    ]));
    assert!(out.contains("2 of 3 keys sign"), "{out}");
    assert!(
        out.contains("\"licd-root\""),
        "prints the document to embed: {out}"
    );
    let keys = secrets(&root_dir);
    assert_eq!(keys.len(), 3);
    #[cfg(unix)]
    for k in &keys {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(k).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{} is {mode:o}", k.display());
    }
    let root =
        Root::from_json(&std::fs::read_to_string(root_dir.join("root.json")).unwrap()).unwrap();
    assert_eq!(
        (root.version(), root.threshold(), root.keys().len()),
        (1, 2, 3)
    );
    // A second init over it is refused: a root is made once.
    let again = licctl(&["root", "init", "--dir", s(&root_dir)]);
    assert_eq!(again.status.code(), Some(2));

    // One holder takes a key away: two of three still sign.
    std::fs::remove_file(&keys[0]).unwrap();
    let issuing = SecretKey::generate().unwrap();
    let cert_file = tmp.path().join("k1.cert");
    let out = ok(&licctl(&[
        "root",
        "certify",
        "--dir",
        s(&root_dir),
        "--key",
        &issuing.public_key().to_paserk(),
        "--products",
        "P1",
        "--not-after",
        "2099-01-01",
        "--max-exp",
        "2100-01-01",
        "--out",
        s(&cert_file),
    ]));
    assert!(out.contains("licd keys certify"), "{out}");
    let cert = Certificate::decode(std::fs::read_to_string(&cert_file).unwrap().trim()).unwrap();
    root.check(&cert).unwrap();
    assert_eq!(cert.grant().products, vec!["P1".to_string()]);
    // With one secret left, below the threshold: refused, saying what to do.
    std::fs::remove_file(&keys[1]).unwrap();
    let short = licctl(&[
        "root",
        "certify",
        "--dir",
        s(&root_dir),
        "--key",
        &issuing.public_key().to_paserk(),
        "--out",
        s(&tmp.path().join("x.cert")),
    ]);
    assert_eq!(short.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&short.stderr).contains("2 must sign"));

    // A token under that certificate verifies with nothing but root.json.
    let now = Timestamp::now();
    let claims = Claims::new(
        "acme",
        "cust",
        "lic-1",
        "P1",
        "",
        "order",
        now,
        now.add_secs(86_400 * 30),
        now.add_secs(86_400 * 45),
    );
    let token = mint_certified(&issuing, &cert, &claims).unwrap();
    let root_json = root_dir.join("root.json");
    let out = ok(&licctl(&[
        "verify",
        &token,
        "--root",
        s(&root_json),
        "--product",
        "P1",
    ]));
    assert!(out.contains("active"), "{out}");
    // Under another root it does not.
    let other = tmp.path().join("other-root");
    ok(&licctl(&["root", "init", "--dir", s(&other)]));
    let refused = licctl(&["verify", &token, "--root", s(&other.join("root.json"))]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&refused.stdout).contains("not certified by the trusted root"),
        "{}",
        String::from_utf8_lossy(&refused.stdout)
    );

    // Rotation needs the old threshold: put the holders' keys back first.
    let rotated = tmp.path().join("acme-root-2");
    let short = licctl(&[
        "root",
        "rotate",
        "--dir",
        s(&root_dir),
        "--new-dir",
        s(&rotated),
    ]);
    assert_eq!(short.status.code(), Some(2));
    assert!(!rotated.join("root.json").exists());
    // (A holder copies theirs in for the signing.)
    let holder = tmp.path().join("holder");
    ok(&licctl(&["root", "init", "--dir", s(&holder)]));
    let stranger = secrets(&holder).remove(0);
    std::fs::copy(&stranger, root_dir.join("stranger.k4.secret")).unwrap();
    let still_short = licctl(&[
        "root",
        "rotate",
        "--dir",
        s(&root_dir),
        "--new-dir",
        s(&rotated),
    ]);
    assert_eq!(
        still_short.status.code(),
        Some(2),
        "a key of another root does not count"
    );
}

#[test]
fn a_rotated_root_is_accepted_from_the_old_one_and_keeps_the_chain() {
    let tmp = tempfile::tempdir().unwrap();
    let (old, new) = (tmp.path().join("r1"), tmp.path().join("r2"));
    ok(&licctl(&[
        "root",
        "init",
        "--dir",
        s(&old),
        "--keys",
        "2",
        "--threshold",
        "2",
    ]));
    let out = ok(&licctl(&[
        "root",
        "rotate",
        "--dir",
        s(&old),
        "--new-dir",
        s(&new),
        "--keys",
        "3",
        "--threshold",
        "2",
    ]));
    assert!(out.contains("root version 2"), "{out}");
    let v1 = Root::from_json(&std::fs::read_to_string(old.join("root.json")).unwrap()).unwrap();
    let v2_doc = std::fs::read_to_string(new.join("root.json")).unwrap();
    let v2 = v1.accept_next(&v2_doc).unwrap();
    assert_eq!((v2.version(), v2.threshold(), v2.keys().len()), (2, 2, 3));
    assert_eq!(
        std::fs::read_to_string(new.join("root.v1.json")).unwrap(),
        v1.to_json(),
        "the chain an application follows from v1"
    );
    // The old secrets stay in the old directory only.
    assert_eq!(secrets(&new).len(), 3);
}

#[test]
fn revoked_keys_accumulate_and_survive_a_root_rotation() {
    use client_verifier::KeyRevocations;
    let tmp = tempfile::tempdir().unwrap();
    let (old, new) = (tmp.path().join("r1"), tmp.path().join("r2"));
    ok(&licctl(&["root", "init", "--dir", s(&old)]));
    let kid = |k: &SecretKey| k.public_key().id().as_str().to_string();
    let (a, b) = (
        SecretKey::generate().unwrap(),
        SecretKey::generate().unwrap(),
    );
    let out = tmp.path().join("revoked.json");
    let revoke = |k: &str, floor: &str| {
        licctl(&[
            "root",
            "revoke-key",
            "--dir",
            s(&old),
            "--kid",
            k,
            "--list-floor",
            floor,
            "--out",
            s(&out),
        ])
    };
    assert_eq!(revoke("k4.pid.short", "3").status.code(), Some(2));
    ok(&revoke(&kid(&a), "3"));
    ok(&revoke(&kid(&b), "5"));
    let root = Root::from_json(&std::fs::read_to_string(old.join("root.json")).unwrap()).unwrap();
    let statement =
        KeyRevocations::from_json(&std::fs::read_to_string(&out).unwrap(), &root).unwrap();
    assert_eq!(statement.seq(), 2);
    assert!(statement.revokes(&kid(&a)) && statement.revokes(&kid(&b)));
    assert_eq!(statement.list_floor(), 5);

    ok(&licctl(&[
        "root",
        "rotate",
        "--dir",
        s(&old),
        "--new-dir",
        s(&new),
    ]));
    let v2 = root
        .accept_next(&std::fs::read_to_string(new.join("root.json")).unwrap())
        .unwrap();
    let carried = KeyRevocations::from_json(
        &std::fs::read_to_string(new.join("key-revocations.json")).unwrap(),
        &v2,
    )
    .unwrap();
    assert_eq!((carried.seq(), carried.root_version()), (3, 2));
    assert_eq!(carried.revoked(), statement.revoked());
}
