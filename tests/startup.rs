//! Starting the daemon: built-in TLS, and refusing to start with a private key others can read.

mod common;

use std::process::Command;

use common::{ACCESS_KEY, CALLBACK, Daemon};
use licd::marketplace::{AccessKey, sign_v1_query};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_callbacks_over_tls() {
    let dir = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert_file = dir.path().join("cert.pem");
    let key_file = dir.path().join("key.pem");
    std::fs::write(&cert_file, cert.cert.pem()).unwrap();
    common::write_secret(&key_file, cert.key_pair.serialize_pem().as_bytes());
    let d = Daemon::start(
        &dir.path().join("licd"),
        &[
            "--tls-cert",
            cert_file.to_str().unwrap(),
            "--tls-key",
            key_file.to_str().unwrap(),
        ],
    );
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert.cert.pem().as_bytes()).unwrap())
        .resolve("localhost", d.addr)
        .build()
        .unwrap();
    let params = [
        ("activity", "getLicense"),
        ("customerId", "c1"),
        ("businessId", "b-tls"),
        ("orderId", "CS-TLS"),
        ("productId", "P1"),
    ];
    let q = sign_v1_query(
        &AccessKey::new(ACCESS_KEY),
        &params,
        client_verifier::Timestamp::now(),
    );
    let url = format!("https://localhost:{}{CALLBACK}?{q}", d.addr.port());
    let resp = client.get(url).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["resultCode"], "000000");
    assert_eq!(body["instanceId"], "b-tls");

    // Plain HTTP to the TLS port gets no answer.
    let plain = reqwest::Client::new()
        .get(format!("http://{}/healthz", d.addr))
        .send()
        .await;
    assert!(plain.is_err() || !plain.unwrap().status().is_success());
}

#[cfg(unix)]
#[test]
fn refuses_to_start_with_a_private_key_others_can_read() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let out = Command::new(env!("CARGO_BIN_EXE_licd"))
        .args(["keys", "generate", "--keys-dir"])
        .arg(&keys)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let key_file = std::fs::read_dir(&keys)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".k4.secret"))
        .unwrap();
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_licd"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .arg("--keys-dir")
        .arg(&keys)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(key_file.file_name().unwrap().to_str().unwrap()) && err.contains("chmod 600"),
        "{err}"
    );
}

#[test]
fn keys_commands_use_the_key_directory_of_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let from_file = dir.path().join("from-file");
    let toml = dir.path().join("licd.toml");
    std::fs::write(
        &toml,
        format!(
            "[serve]\nkeys_dir = {:?}\n",
            from_file.display().to_string()
        ),
    )
    .unwrap();
    let licd = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_licd"))
            .args(args)
            .env_remove("LICD_KEYS_DIR")
            .env_remove("LICD_CONFIG")
            .current_dir(dir.path())
            .output()
            .unwrap()
    };
    let cfg = toml.to_str().unwrap();
    let out = licd(&["keys", "generate", "--config", cfg]);
    assert!(out.status.success(), "{out:?}");
    assert!(from_file.is_dir(), "{out:?}");
    // --keys-dir wins over the file.
    let flag = dir.path().join("from-flag");
    let out = licd(&[
        "keys",
        "generate",
        "--config",
        cfg,
        "--keys-dir",
        flag.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{out:?}");
    assert!(flag.exists());
    // Listing through the file finds the key generated through the file.
    let out = licd(&["--json", "keys", "list", "--config", cfg]);
    assert!(out.status.success(), "{out:?}");
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert!(
        !dir.path().join("keys").exists(),
        "the ./keys default was not used"
    );
}

#[test]
fn warns_when_other_users_can_list_the_data_directory() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let d = Daemon::start(dir.path(), &[]);
    let log = d.log();
    assert!(
        log.lines()
            .any(|l| l.contains("WARN") && l.contains("mode=755") && l.contains("chmod 700")),
        "{log}"
    );
    drop(d);
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).unwrap();
    let d = Daemon::start(dir.path(), &[]);
    assert!(!d.log().contains("chmod 700"), "{}", d.log());
}

#[test]
fn a_second_licd_on_the_same_data_directory_says_so_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let first = Daemon::start(dir.path(), &[]);
    let out = Command::new(env!("CARGO_BIN_EXE_licd"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
        ])
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("--keys-dir")
        .arg(dir.path().join("keys"))
        .env_remove("LICD_ACCESS_KEY")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(&format!("another licd (pid {}) is using", first.pid())),
        "{err}"
    );
    assert!(
        !err.contains("generated"),
        "no misleading warning first: {err}"
    );
}

#[test]
fn a_start_that_cannot_listen_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_licd"))
        .current_dir(dir.path())
        .args(["serve", "--listen", &addr, "--admin-listen", "127.0.0.1:0"])
        .env_remove("LICD_ACCESS_KEY")
        .env_remove("LICD_DATA_DIR")
        .env_remove("LICD_KEYS_DIR")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("cannot listen on {addr}")), "{err}");
    assert!(!dir.path().join("data").exists() && !dir.path().join("keys").exists());
}

/// `--json` is taken before or after the subcommand, as licctl takes it.
#[test]
fn json_goes_before_or_after_the_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let licd = env!("CARGO_BIN_EXE_licd");
    let run = |args: &[&str]| {
        let o = Command::new(licd).args(args).output().unwrap();
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    };
    let k = keys.to_str().unwrap();
    run(&["keys", "generate", "--keys-dir", k]);
    let before = run(&["--json", "keys", "export", "--keys-dir", k]);
    let after = run(&["keys", "export", "--json", "--keys-dir", k]);
    assert_eq!(before, after);
    let list: serde_json::Value = serde_json::from_str(&after).unwrap();
    assert!(
        list[0]["public"]
            .as_str()
            .unwrap()
            .starts_with("k4.public."),
        "{list}"
    );
    // Without --json: the keys alone on stdout (a file the C and C# examples read), the Rust
    // snippet on stderr.
    let o = Command::new(licd)
        .args(["keys", "export", "--keys-dir", k])
        .output()
        .unwrap();
    let stdout = String::from_utf8(o.stdout).unwrap();
    assert!(
        !stdout.is_empty() && stdout.lines().all(|l| l.starts_with("k4.public.")),
        "{stdout}"
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("fn license_verifier()"));
}
