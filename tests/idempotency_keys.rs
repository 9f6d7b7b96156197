//! Operations applied once keep being recognised across versions: a renewal recorded by an
//! earlier licd (whose key spelled the scene with its Rust variant name) is not applied again
//! when the marketplace repeats it to this one.

mod common;

use std::sync::Arc;

use client_verifier::{SecretKey, Timestamp};
use licd::license::Status;
use licd::marketplace::{RefreshInstance, RefreshScene};
use licd::service::{Caller, Service, Settings};
use licd::store::{Batch, Store};

fn t(s: &str) -> Timestamp {
    Timestamp::parse_rfc3339(s).unwrap()
}

fn caller(action: &str) -> Caller<'_> {
    Caller {
        action,
        test: false,
        signed_at: None,
    }
}

fn service(store: Arc<dyn Store>) -> Service {
    Service::new(
        store,
        Arc::new(SecretKey::from_seed(&[4; 32])),
        Settings {
            issuer: "acme".into(),
            freeze_days: 15,
            require_fingerprint: true,
            min_fingerprint_components: 3,
        },
    )
}

fn renewal(scene: RefreshScene, exp: &str) -> RefreshInstance {
    RefreshInstance {
        scene,
        order_id: "CS-R1".into(),
        order_line_id: "CS-R1-1".into(),
        instance_id: "inst-k".into(),
        product_id: None,
        expire_time: t(exp),
        test_flag: false,
    }
}

#[tokio::test]
async fn a_renewal_applied_by_an_earlier_version_is_not_applied_again() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = common::pg::test_store(dir.path()).await;
    let svc = service(store.clone());
    let now = t("2026-06-01T00:00:00Z");
    svc.create_instance("CS-0", "CS-0-1", "inst-k", caller("newInstance"), now)
        .await
        .unwrap();
    // What licd 0.1 recorded after applying this refund: the scene's variant name, exactly.
    store
        .commit(Batch {
            applied: vec!["renew\0inst-k\0CS-R1\0CS-R1-1\0UnsubscribeRenewalPeriod".into()],
            ..Batch::default()
        })
        .await
        .unwrap();
    let before = store.license("inst-k").await.unwrap().unwrap();
    svc.renew_instance(
        &renewal(
            RefreshScene::UnsubscribeRenewalPeriod,
            "2026-07-01T00:00:00Z",
        ),
        caller("refreshInstance"),
        now,
    )
    .await
    .unwrap();
    let after = store.license("inst-k").await.unwrap().unwrap();
    assert_eq!(
        after.revision, before.revision,
        "the repeat changed nothing"
    );
    assert_eq!(after.exp, before.exp);

    // Another scene of the same order line is another operation, applied once, under the
    // spelled-out key.
    for _ in 0..2 {
        svc.renew_instance(
            &renewal(RefreshScene::Renewal, "2027-06-01T00:00:00Z"),
            caller("refreshInstance"),
            now,
        )
        .await
        .unwrap();
    }
    let renewed = store.license("inst-k").await.unwrap().unwrap();
    assert_eq!(renewed.revision, before.revision + 1);
    assert_eq!(renewed.exp, t("2027-06-01T00:00:00Z"));
    assert_eq!(renewed.status, Status::Active);
    assert!(
        store
            .applied("renew\0inst-k\0CS-R1\0CS-R1-1\0scene:RENEWAL")
            .await
            .unwrap()
    );
}
