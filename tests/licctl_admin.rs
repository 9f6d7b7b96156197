//! `licctl` as the built binary against the real daemon: every admin subcommand through the
//! admin API, its `--json` output parsed, refusals (token, unknown id) as one stderr line with
//! the documented exit status, and `marketplace send` driving License 1.0 end to end.

mod common;

use std::collections::BTreeSet;
use std::process::{Command, Output};

use client_verifier::{Fingerprint, Timestamp, VerifyError};
use common::{ACCESS_KEY, CALLBACK, Daemon, client, v1, v2};
use serde_json::{Value, json};

const HOME: &str = "04:7C:16:5E:E3:5D|SN-HOME|BOARD-HOME|BFEBFBFF00090672";
const NEW_MACHINE: &str = "0B:11:22:33:44:55|SN-ELSE|BOARD-ELSE|BFEBFBFF000A0671";

/// licctl with no admin settings from the environment, as user `alice`.
fn bare() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_licctl"));
    cmd.env_remove("LICD_ADMIN_URL")
        .env_remove("LICD_ADMIN_TOKEN")
        .env("USER", "alice");
    cmd
}

/// licctl pointed at `d`'s admin API with its token file.
fn licctl(d: &Daemon, args: &[&str]) -> Output {
    bare()
        .arg("--admin-url")
        .arg(d.admin_url())
        .arg("--admin-token-file")
        .arg(d.dir.join("data/admin.token"))
        .args(args)
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs `args` with `--json`, expects success, parses stdout.
fn json_ok(d: &Daemon, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let o = licctl(d, &all);
    assert!(o.status.success(), "{args:?}: {o:?}");
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{args:?}: {e}: {o:?}"))
}

/// A License 1.0 purchase through a signed callback; returns the unbound token.
async fn buy(
    c: &reqwest::Client,
    d: &Daemon,
    id: &str,
    customer: &str,
    exp: &str,
    test: bool,
) -> String {
    let order = format!("O-{id}");
    let a = v1(
        c,
        d,
        &[
            ("activity", "getLicense"),
            ("customerId", customer),
            ("businessId", id),
            ("orderId", &order),
            ("productId", "OFFI-1"),
            ("skuCode", "sku-pro"),
            ("expireTime", exp),
            ("testFlag", if test { "1" } else { "0" }),
        ],
    )
    .await;
    assert_eq!(a.code(), "000000", "{:?}", a.json);
    a.json["license"].as_str().unwrap().to_string()
}

fn fp(raw: &str) -> Fingerprint {
    Fingerprint::parse(raw).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn marketplace_send_drives_the_license_1_0_lifecycle_with_signed_answers() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), &[]);
    let url = d.url(CALLBACK);
    let key_file = dir.path().join("access.key");
    let send = |activity: &str, params: &[&str]| -> Value {
        let mut cmd = bare();
        cmd.args(["--json", "marketplace", "send", activity, "--url", &url])
            .arg("--access-key-file")
            .arg(&key_file);
        for p in params {
            cmd.args(["--param", p]);
        }
        let o = cmd.output().unwrap();
        assert!(o.status.success(), "{activity}: {o:?}");
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v["http_status"], 200, "{activity}: {v}");
        assert_eq!(v["body_sign_valid"], true, "{activity}: {v}");
        assert_eq!(v["response"]["resultCode"], "000000", "{activity}: {v}");
        v["response"].clone()
    };
    let issued = send(
        "getLicense",
        &[
            "orderId=CS-LC-1",
            "businessId=lc-1",
            "customerId=cust-lc",
            "productId=OFFI-1",
            "skuCode=sku-pro",
            "expireTime=20991231000000",
        ],
    );
    assert_eq!(issued["instanceId"], "lc-1");
    let token = issued["license"].as_str().unwrap();
    let claims = d.verifier().verify(token, None, Timestamp::now()).unwrap();
    assert_eq!(claims.claims().jti, "lc-1");
    send(
        "refreshLicense",
        &[
            "instanceId=lc-1",
            "orderId=CS-LC-2",
            "expireTime=21001231000000",
        ],
    );
    assert_eq!(
        json_ok(&d, &["licenses", "show", "lc-1"])["exp"],
        "2100-12-31T00:00:00Z"
    );
    send("expireLicense", &["instanceId=lc-1", "orderId=CS-LC-1"]);
    assert_eq!(
        json_ok(&d, &["licenses", "show", "lc-1"])["status"],
        "frozen"
    );
    send("releaseLicense", &["instanceId=lc-1", "orderId=CS-LC-1"]);
    assert_eq!(
        json_ok(&d, &["licenses", "show", "lc-1"])["status"],
        "released"
    );

    // A callback signed with another key is answered, but the answer does not verify with it,
    // and licctl says so with exit status 1.
    let wrong = dir.path().join("wrong.key");
    std::fs::write(&wrong, "another-access-key-0000000000").unwrap();
    let o = bare()
        .args(["marketplace", "send", "getLicense", "--url", &url])
        .arg("--access-key-file")
        .arg(&wrong)
        .args(["--param", "orderId=X"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(stderr(&o).contains("Body-Sign"), "{}", stderr(&o));
    assert_ne!(ACCESS_KEY, "another-access-key-0000000000");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_pages_through_every_license_once_and_filters_on_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), &[]);
    let c = client();
    let soon = {
        let (y, m, day, ..) = Timestamp::now().add_secs(10 * 86_400).to_civil();
        format!("{y:04}{m:02}{day:02}000000")
    };
    let mut ids = BTreeSet::new();
    for i in 0..25 {
        let id = format!("pg-{i:02}");
        let customer = if i % 5 == 0 {
            "cust-five"
        } else {
            "cust-other"
        };
        let exp = if i == 7 {
            soon.as_str()
        } else {
            "20991231000000"
        };
        buy(&c, &d, &id, customer, exp, i == 3).await;
        ids.insert(id);
    }

    // One page of 10: a table with a header, and the cursor to go on from on stderr. Test
    // licenses (pg-03) are left out unless asked for.
    let o = licctl(&d, &["licenses", "list", "--limit", "10"]);
    assert!(o.status.success(), "{o:?}");
    let lines: Vec<String> = stdout(&o).lines().map(str::to_string).collect();
    assert_eq!(lines.len(), 11, "{lines:?}");
    assert!(lines[0].starts_with("ID") && lines[0].contains("STATUS"));
    let status_col = lines[0].find("STATUS").unwrap();
    assert_eq!(lines[1].find("active"), Some(status_col), "{lines:?}");
    assert!(!lines.iter().any(|l| l.starts_with("pg-03")), "{lines:?}");
    assert!(lines[10].starts_with("pg-10"), "{lines:?}");
    assert!(stderr(&o).contains("--after pg-10"), "{}", stderr(&o));

    // The next page starts right after the cursor.
    let o = licctl(
        &d,
        &[
            "--json", "licenses", "list", "--limit", "10", "--after", "pg-09",
        ],
    );
    let first: Value = serde_json::from_str(stdout(&o).lines().next().unwrap()).unwrap();
    assert_eq!(first["id"], "pg-10");

    // Everything, test licenses included, in pages of 10: each license exactly once.
    let o = licctl(
        &d,
        &[
            "--json",
            "licenses",
            "list",
            "--limit",
            "10",
            "--all",
            "--include-test",
        ],
    );
    assert!(o.status.success(), "{o:?}");
    let listed: Vec<Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let got: Vec<String> = listed
        .iter()
        .map(|l| l["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(got.len(), 25, "{got:?}");
    assert_eq!(got.iter().cloned().collect::<BTreeSet<_>>(), ids);
    assert!(
        listed
            .iter()
            .all(|l| l.get("token").is_none() && !l.to_string().contains("v4.public."))
    );

    // Filters, applied by the server while it scans.
    let ids_of = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["--json", "licenses", "list", "--all", "--limit", "2"];
        all.extend_from_slice(args);
        let o = licctl(&d, &all);
        assert!(o.status.success(), "{args:?}: {o:?}");
        stdout(&o)
            .lines()
            .map(|l| {
                serde_json::from_str::<Value>(l).unwrap()["id"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect()
    };
    assert_eq!(
        ids_of(&["--customer", "cust-five"]),
        ["pg-00", "pg-05", "pg-10", "pg-15", "pg-20"]
    );
    assert_eq!(ids_of(&["--test"]), ["pg-03"]);
    assert_eq!(ids_of(&["--expiring-days", "30"]), ["pg-07"]);
    assert_eq!(ids_of(&["--product", "OFFI-1"]).len(), 24);
    assert_eq!(ids_of(&["--product", "OFFI-1", "--include-test"]).len(), 25);
    assert_eq!(ids_of(&["--status", "frozen"]), Vec::<String>::new());
    let o = licctl(&d, &["licenses", "list", "--status", "bogus"]);
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    assert!(
        stderr(&o).contains("active, frozen or released"),
        "{}",
        stderr(&o)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reissue_binds_the_new_machine_and_revoke_reaches_the_revocation_list() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), &[]);
    let c = client();
    let unbound = buy(&c, &d, "ri-1", "cust-ri", "20991231000000", false).await;
    let now = Timestamp::now();

    // `token` prints the current token and nothing else.
    let o = licctl(&d, &["licenses", "token", "ri-1"]);
    assert!(o.status.success(), "{o:?}");
    assert_eq!(stdout(&o), format!("{unbound}\n"));

    // The customer's first machine takes the seat.
    let r = c
        .post(d.url("/v1/activate"))
        .json(&json!({ "license": unbound, "fingerprint": HOME }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let old_bound = r.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let show = json_ok(&d, &["licenses", "show", "ri-1"]);
    assert_eq!(show["activations"].as_array().unwrap().len(), 1, "{show}");
    assert!(
        !show.to_string().contains("v4.public."),
        "show leaks a token"
    );

    // Replaced machine: the new token is bound to it, not to the old one.
    let o = licctl(
        &d,
        &[
            "licenses",
            "reissue",
            "ri-1",
            "--fingerprint",
            NEW_MACHINE,
            "--reason",
            "mainboard replaced",
        ],
    );
    assert!(o.status.success(), "{o:?}");
    assert!(stderr(&o).contains("revision 2"), "{}", stderr(&o));
    let new_token = stdout(&o).trim().to_string();
    let verifier = d.verifier();
    let v = verifier
        .verify(&new_token, Some(&fp(NEW_MACHINE)), now)
        .unwrap();
    assert_eq!(v.claims().revision, 2);
    assert!(matches!(
        verifier.verify(&new_token, Some(&fp(HOME)), now),
        Err(VerifyError::DeviceMismatch { .. })
    ));

    // The old machine's binding is on the exported list.
    let o = licctl(&d, &["revocations", "export"]);
    assert!(o.status.success(), "{o:?}");
    let mut with_list = d.verifier();
    let seq1 = with_list.load_revocations(stdout(&o).trim()).unwrap();
    assert!(matches!(
        with_list.verify(&old_bound, Some(&fp(HOME)), now),
        Err(VerifyError::Revoked { .. })
    ));
    with_list
        .verify(&new_token, Some(&fp(NEW_MACHINE)), now)
        .unwrap();

    // Revoke needs a reason; then the whole license is on the list.
    let o = licctl(&d, &["licenses", "revoke", "ri-1"]);
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    let revoked = json_ok(
        &d,
        &["licenses", "revoke", "ri-1", "--reason", "refund 4711"],
    );
    assert_eq!(revoked["status"], "released");
    let export = json_ok(&d, &["revocations", "export"]);
    let mut with_list = d.verifier();
    let seq2 = with_list
        .load_revocations(export["list"].as_str().unwrap())
        .unwrap();
    assert_eq!(export["seq"], seq2);
    assert!(seq2 > seq1);
    assert!(matches!(
        with_list.verify(&new_token, Some(&fp(NEW_MACHINE)), now),
        Err(VerifyError::Revoked { .. })
    ));
    assert!(matches!(
        with_list.verify(&unbound, None, now),
        Err(VerifyError::Revoked { .. })
    ));

    // The audit log says who did what and why, and its chain holds.
    let audit = json_ok(&d, &["licenses", "audit", "ri-1"]);
    let events = audit["events"].as_array().unwrap();
    let by_action = |a: &str| events.iter().find(|e| e["action"] == a).cloned();
    let reissue = by_action("reissue").expect("a reissue event");
    assert_eq!(reissue["actor"], "licctl:alice");
    assert_eq!(reissue["detail"]["reason"], "mainboard replaced");
    let revoke = by_action("revoke").expect("a revoke event");
    assert_eq!(revoke["actor"], "licctl:alice");
    assert_eq!(revoke["detail"]["reason"], "refund 4711");
    assert_eq!(audit["chain"]["intact"], true);
    let o = licctl(&d, &["licenses", "audit", "ri-1"]);
    assert!(o.status.success(), "{o:?}");
    let text = stdout(&o);
    assert!(
        text.contains("licctl:alice") && text.contains("refund 4711"),
        "{text}"
    );
    assert!(text.contains("chain intact"), "{text}");

    // A released license cannot be reissued.
    let o = licctl(&d, &["licenses", "reissue", "ri-1"]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(stderr(&o).contains("revoked"), "{}", stderr(&o));
    assert!(
        !d.log().contains(&new_token),
        "a whole token reached the log"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_wrong_or_missing_admin_token_and_unknown_ids_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), &[]);

    // Wrong token: refused by the daemon, exit 1, one line saying so.
    let wrong = dir.path().join("wrong.token");
    std::fs::write(&wrong, "0123456789abcdef0123456789abcdef").unwrap();
    let o = bare()
        .args(["licenses", "list", "--admin-url", &d.admin_url()])
        .arg("--admin-token-file")
        .arg(&wrong)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(stderr(&o).contains("wrong admin token"), "{}", stderr(&o));
    assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));
    assert!(
        !d.log().contains(&d.admin_token()),
        "the token reached the log"
    );

    // No token anywhere: usage error naming the ways to give one.
    let empty = tempfile::tempdir().unwrap();
    let o = bare()
        .current_dir(empty.path())
        .args(["licenses", "list", "--admin-url", &d.admin_url()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    assert!(
        stderr(&o).contains("--admin-token-file") && stderr(&o).contains("LICD_ADMIN_TOKEN"),
        "{}",
        stderr(&o)
    );

    // The environment works instead of flags.
    let o = bare()
        .env("LICD_ADMIN_URL", d.admin_url())
        .env("LICD_ADMIN_TOKEN", d.admin_token())
        .args(["--json", "outbox", "list"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");

    // Nobody listening.
    let o = bare()
        .env("LICD_ADMIN_TOKEN", d.admin_token())
        .args(["licenses", "list", "--admin-url", "http://127.0.0.1:9"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(
        stderr(&o).contains("cannot reach the admin API"),
        "{}",
        stderr(&o)
    );

    // Unknown ids: exit 1 and a message naming the id, for every command that takes one.
    for args in [
        &["licenses", "show", "no-such-id"][..],
        &["licenses", "token", "no-such-id"],
        &["licenses", "audit", "no-such-id"],
        &["licenses", "reissue", "no-such-id"],
        &["licenses", "revoke", "no-such-id", "--reason", "x"],
        &["outbox", "retry", "no-such-id"],
    ] {
        let o = licctl(&d, args);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {o:?}");
        let err = stderr(&o);
        assert!(
            err.starts_with("licctl: ") && err.contains("no-such-id") && err.lines().count() == 1,
            "{args:?}: {err}"
        );
        assert!(o.stdout.is_empty(), "{args:?}: {o:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbox_lists_owed_calls_and_retry_is_audited() {
    let dir = tempfile::tempdir().unwrap();
    // No marketplace API configured: the order query of a new instance waits in the outbox.
    let d = Daemon::start(dir.path(), &[]);
    let c = client();
    let a = v2(
        &c,
        &d,
        &json!({"activity": "newInstance", "businessId": "ob-1", "orderId": "CS-OB-1",
                "orderLineId": "CS-OB-1-000001", "testFlag": "0"}),
    )
    .await;
    assert_eq!(a.code(), "000000", "{:?}", a.json);

    let jobs = json_ok(&d, &["outbox", "list"]);
    let jobs = jobs["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    let job = &jobs[0];
    assert_eq!(job["license_id"], "ob-1");
    assert_eq!(job["kind"], "queryOrder");
    assert_eq!(job["dead"], false);
    let id = job["id"].as_str().unwrap();
    assert_eq!(
        json_ok(&d, &["outbox", "list", "--dead"])["jobs"],
        json!([])
    );
    let o = licctl(&d, &["outbox", "list"]);
    assert!(
        stdout(&o).contains(id) && stdout(&o).contains("pending"),
        "{o:?}"
    );

    let retried = json_ok(&d, &["outbox", "retry", id]);
    assert_eq!(retried["id"], id);
    assert_eq!(retried["attempts"], 0);
    let audit = json_ok(&d, &["licenses", "audit", "ob-1"]);
    let retry = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "queryOrder.retry")
        .cloned()
        .expect("a retry event");
    assert_eq!(retry["actor"], "licctl:alice");

    // An online-activation instance has no license-wide token: said clearly.
    let o = licctl(&d, &["licenses", "token", "ob-1"]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(stderr(&o).contains("per device"), "{}", stderr(&o));
}

#[test]
fn local_subcommands_help_leaves_out_the_admin_flags_they_ignore() {
    for sub in [
        &["verify"][..],
        &["fingerprint"],
        &["marketplace"],
        &["marketplace", "load"],
    ] {
        let o = bare().args(sub).arg("--help").output().unwrap();
        assert!(o.status.success(), "{sub:?}: {o:?}");
        let help = stdout(&o);
        assert!(help.contains("Usage: licctl"), "{sub:?}: {help}");
        assert!(!help.contains("--admin-url"), "{sub:?}: {help}");
        assert!(!help.contains("--admin-token-file"), "{sub:?}: {help}");
    }
    // Still accepted anywhere, so a shell alias with the flags works for every command.
    let o = bare()
        .args(["verify", "not-a-token", "--public-key", "k4.public.x"])
        .args(["--admin-url", "http://127.0.0.1:9"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    assert!(stderr(&o).contains("--public-key"), "{}", stderr(&o));
}

#[test]
fn every_admin_subcommand_help_has_an_example() {
    for sub in [
        &["licenses", "list"][..],
        &["licenses", "show"],
        &["licenses", "token"],
        &["licenses", "audit"],
        &["licenses", "reissue"],
        &["licenses", "revoke"],
        &["revocations", "export"],
        &["outbox", "list"],
        &["outbox", "retry"],
        &["licenses"],
        &["revocations"],
        &["outbox"],
    ] {
        let o = bare().args(sub).arg("--help").output().unwrap();
        assert!(o.status.success(), "{sub:?}: {o:?}");
        let help = stdout(&o);
        assert!(help.contains("Example: licctl "), "{sub:?}: {help}");
        assert!(help.contains("--admin-url"), "{sub:?}: {help}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_reports_a_rewritten_history_and_exits_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), &[]);
    let c = client();
    buy(&c, &d, "au-1", "cust-au", "20991231000000", false).await;
    buy(&c, &d, "au-2", "cust-au", "20991231000000", false).await;
    assert!(d.terminate().success());

    // Someone with access to the disk rewrites the first event, keeping its stored hash.
    {
        let db = sled::open(dir.path().join("data/db")).unwrap();
        let audit = db.open_tree("audit").unwrap();
        let key = 1u64.to_be_bytes();
        let mut record: Value = serde_json::from_slice(&audit.get(key).unwrap().unwrap()).unwrap();
        record["event"]["actor"] = json!("nobody");
        audit
            .insert(key, serde_json::to_vec(&record).unwrap())
            .unwrap();
        db.flush().unwrap();
    }

    let d = Daemon::start(dir.path(), &[]);
    // Whichever license is asked about, the one chain is reported broken where it breaks.
    let o = licctl(&d, &["licenses", "audit", "au-2"]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(stdout(&o).contains("chain BROKEN at seq 1"), "{o:?}");
    assert!(stderr(&o).contains("BROKEN at seq 1"), "{o:?}");
    let o = licctl(&d, &["--json", "licenses", "audit", "au-1"]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        v["chain"],
        json!({"intact": false, "records": null, "broken_at": 1})
    );
}

/// `licctl marketplace send --v2 --reading R` signs under each documented reading, to check
/// what a licd pinned with `--v2-signature` accepts.
#[test]
fn marketplace_send_signs_under_the_reading_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), &["--v2-signature", "kit"]);
    let url = d.url(CALLBACK);
    let key_file = dir.path().join("access.key");
    let send = |business: &str, reading: Option<&str>| -> Value {
        let mut cmd = bare();
        cmd.args([
            "--json",
            "marketplace",
            "send",
            "newInstance",
            "--v2",
            "--url",
            &url,
        ])
        .arg("--access-key-file")
        .arg(&key_file)
        .args(["--param", &format!("businessId={business}")])
        .args(["--param", &format!("orderId=O-{business}")])
        .args(["--param", &format!("orderLineId=L-{business}")])
        .args(["--param", "testFlag=1"]);
        if let Some(r) = reading {
            cmd.args(["--reading", r]);
        }
        // licctl exits 1 for an answer other than 000000, and prints the answer all the same.
        let o = cmd.output().unwrap();
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(
            o.status.success(),
            v["response"]["resultCode"] == "000000",
            "{o:?}"
        );
        v["response"].clone()
    };
    assert_eq!(send("rd-kit", Some("kit"))["resultCode"], "000000");
    assert_eq!(send("rd-default", None)["resultCode"], "000001");
    assert_eq!(send("rd-saas", Some("saas"))["resultCode"], "000001");
    let o = bare()
        .args([
            "marketplace",
            "send",
            "getLicense",
            "--url",
            &url,
            "--reading",
            "kit",
        ])
        .arg("--access-key-file")
        .arg(&key_file)
        .output()
        .unwrap();
    assert!(!o.status.success(), "--reading without --v2 was taken");
}

/// `licenses list --csv`: a header and one row per license, and a name a callback supplied that
/// a spreadsheet would run as a formula comes out as text.
#[tokio::test]
async fn licenses_list_csv_is_a_spreadsheet_that_runs_no_formula() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), &[]);
    let evil = "=cmd|' /C calc'!A0";
    for (order, name) in [("CSV-A", evil), ("CSV-B", "Acme, \"Tooling\"")] {
        let mut p = common::get_license(order, order);
        p.retain(|(k, _)| *k != "customerName");
        p.push(("customerName", name));
        let a = v1(&client(), &d, &p).await;
        assert_eq!(a.code(), "000000", "{:?}", a.json);
    }
    let o = licctl(&d, &["licenses", "list", "--all", "--limit", "1", "--csv"]);
    assert!(o.status.success(), "{o:?}");
    let out = stdout(&o);
    let mut r = csv::Reader::from_reader(out.as_bytes());
    assert_eq!(
        &r.headers().unwrap()[0],
        "id",
        "one header, though the pages were of one"
    );
    let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 2, "{out}");
    assert_eq!(&rows[0][0], "CSV-A");
    assert_eq!(&rows[0][6], format!("'{evil}"));
    assert_eq!(&rows[1][6], "Acme, \"Tooling\"");
    let both = licctl(&d, &["--json", "licenses", "list", "--csv"]);
    assert_eq!(both.status.code(), Some(2), "{both:?}");
    assert!(stderr(&both).contains("--csv"), "{}", stderr(&both));
}
