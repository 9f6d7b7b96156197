//! `licctl verify` and `licctl fingerprint`, run as the built binary, against the golden vectors
//! the verifier crate pins: the CLI must reach the same verdict the library does.

use std::process::{Command, Output};

use client_verifier::Fingerprint;
use serde_json::Value;

const VECTORS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/client-verifier/tests/vectors/license-v1.json"
);

fn licctl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_licctl"))
        .args(args)
        .output()
        .unwrap()
}

fn vectors() -> Value {
    serde_json::from_str(&std::fs::read_to_string(VECTORS).unwrap()).unwrap()
}

#[test]
fn verify_reaches_the_golden_verdict_for_every_plain_case() {
    let doc = vectors();
    let mut checked = 0;
    for case in doc["cases"].as_array().unwrap() {
        // Guards, revocation lists and builder-only policies are library features the CLI does
        // not expose; every other case must come out the same.
        let v = &case["verifier"];
        if case.get("guard_last_seen").is_some()
            || v.get("policy").is_some()
            || v.get("min_revocation_seq").is_some()
            || v.get("binding").is_none() && case.get("device").is_none()
        {
            continue;
        }
        let mut args = vec!["--json", "verify", case["token"].as_str().unwrap()];
        for k in v["trust"].as_array().unwrap() {
            args.extend([
                "--public-key",
                doc["keys"][k.as_str().unwrap()]["public"].as_str().unwrap(),
            ]);
        }
        args.extend(["--issuer", v["issuer"].as_str().unwrap()]);
        args.extend(["--product", v["product"].as_str().unwrap()]);
        args.extend(["--at", case["now"].as_str().unwrap()]);
        if let Some(d) = case["device"].as_str() {
            args.extend(["--fingerprint", d]);
        }
        // A revocation list goes in through a file, as `licctl revocations export` writes it.
        let list_dir = tempfile::tempdir().unwrap();
        let list_file = list_dir.path().join("revocations");
        if let Some(list) = case["revocations"].as_str() {
            std::fs::write(&list_file, list).unwrap();
            args.extend(["--revocations", list_file.to_str().unwrap()]);
        }
        let out = licctl(&args);
        let got: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{}: {e}: {:?}", case["name"], out));
        let expect = &case["expect"];
        if let Some(err) = expect["error"].as_str() {
            assert_eq!(got["verdict"]["error"], err, "{}", case["name"]);
            assert_eq!(out.status.code(), Some(1), "{}", case["name"]);
        } else {
            assert_eq!(
                got["verdict"]["status"], expect["status"],
                "{}",
                case["name"]
            );
            assert!(out.status.success(), "{}", case["name"]);
        }
        checked += 1;
    }
    assert!(checked >= 25, "only {checked} cases ran");
}

#[test]
fn verify_without_device_says_it_did_not_check_it() {
    let doc = vectors();
    let case = &doc["cases"][0];
    let out = licctl(&[
        "verify",
        case["token"].as_str().unwrap(),
        "--public-key",
        doc["keys"]["current"]["public"].as_str().unwrap(),
        "--at",
        "2026-06-01T00:00:00Z",
    ]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("active until 2027-01-01T00:00:00Z"), "{text}");
    assert!(text.contains("not checked"), "{text}");
    assert!(text.contains("cust-6a1f"), "claims are printed: {text}");
}

#[test]
fn verify_refuses_bad_input_with_one_clear_line() {
    let out = licctl(&["verify", "v4.public.x", "--public-key", "k4.secret.AAAA"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("--public-key") && err.contains("k4.public"),
        "{err}"
    );
    assert!(
        !err.contains("AAAA"),
        "the key is abbreviated, not echoed: {err}"
    );

    let out = licctl(&[
        "verify",
        "v4.public.x",
        "--public-key",
        "k4.public.Hrnbu7wEfAP9cGBOAHHwmH4Wsot1ciXBHwBBXQ4gsaI",
        "--at",
        "yesterday",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8(out.stderr).unwrap().contains("RFC 3339"));

    // An empty token is bad input (2), not a license that failed to verify (1).
    let key = "k4.public.Hrnbu7wEfAP9cGBOAHHwmH4Wsot1ciXBHwBBXQ4gsaI";
    for token in ["", "  "] {
        let out = licctl(&["verify", token, "--public-key", key]);
        assert_eq!(out.status.code(), Some(2), "{token:?}");
        assert!(
            String::from_utf8(out.stderr)
                .unwrap()
                .contains("TOKEN is empty")
        );
    }
}

#[test]
fn fingerprint_prints_this_machine_in_marketplace_form() {
    let out = licctl(&["fingerprint"]);
    assert!(out.status.success(), "{out:?}");
    let printed = String::from_utf8(out.stdout).unwrap();
    let printed = printed.trim();
    assert_eq!(printed.matches('|').count(), 3, "{printed}");
    assert_eq!(printed, printed.to_uppercase());
    assert_eq!(
        Fingerprint::parse(printed).unwrap(),
        Fingerprint::collect().unwrap()
    );

    // Each empty component is explained (on stderr), and only those.
    let notes = String::from_utf8(out.stderr).unwrap();
    let empty: Vec<&str> = ["mac", "disk", "board", "cpu"]
        .into_iter()
        .zip(printed.split('|'))
        .filter(|(_, value)| value.is_empty())
        .map(|(name, _)| name)
        .collect();
    for name in ["mac", "disk", "board", "cpu"] {
        assert_eq!(
            notes.contains(&format!("{name}: none read: ")),
            empty.contains(&name),
            "{name}: {notes}"
        );
    }

    let out = licctl(&["fingerprint", "--json"]);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["fingerprint"], printed);
    assert!(doc["components"]["cpu"].is_array());
    let mut missing: Vec<&str> = doc["missing"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut empty = empty;
    missing.sort_unstable();
    empty.sort_unstable();
    assert_eq!(missing, empty, "{doc}");
}

#[test]
fn licd_describes_itself() {
    let out = Command::new(env!("CARGO_BIN_EXE_licd"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        String::from_utf8(out.stdout)
            .unwrap()
            .contains("License server")
    );
}

#[test]
fn a_closed_stdout_ends_quietly_like_a_unix_tool() {
    // `licctl fingerprint | head -0`: the reader is gone before licctl writes.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_licctl"))
        .arg("fingerprint")
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
