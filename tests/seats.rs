//! License 1.0 seats through the real service and sled store: activation, re-activation by the
//! same device, seats running out, refresh after a renewal, and a reissue that revokes the old
//! binding (checked with client-verifier and the signed revocation list).

mod common;

use client_verifier::{Fingerprint, Timestamp, Verifier, VerifyError};
use licd::service::{Caller, Service, ServiceError};

const HOME: &str = "04:7C:16:5E:E3:5D|SN-HOME|BOARD-HOME|BFEBFBFF00090672";
const HOME_NEW_NIC: &str = "0A:0A:0A:0A:0A:0A|SN-HOME|BOARD-HOME|BFEBFBFF00090672";
const OTHER: &str = "0B:11:22:33:44:55|SN-ELSE|BOARD-ELSE|BFEBFBFF000A0671";

fn t(s: &str) -> Timestamp {
    Timestamp::parse_rfc3339(s).unwrap()
}

struct Setup {
    _dir: tempfile::TempDir,
    service: Service,
    verifier: Verifier,
}

async fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let (service, verifier) = common::acme_service(dir.path()).await;
    Setup {
        _dir: dir,
        service,
        verifier,
    }
}

fn caller(action: &str) -> Caller<'_> {
    Caller {
        action,
        test: false,
        signed_at: None,
    }
}

async fn purchase(s: &Setup, quantity: u32) -> String {
    common::acme_purchase(&s.service, "O1", "lic-1", quantity).await
}

#[tokio::test]
async fn same_device_gets_its_seat_back_and_another_device_is_refused_when_seats_run_out() {
    let s = setup().await;
    let unbound = purchase(&s, 1).await;
    let now = t("2026-02-01T00:00:00Z");
    let first = s.service.activate(&unbound, HOME, now).await.unwrap();
    assert!(first.new);
    let home = Fingerprint::parse(HOME).unwrap();
    assert!(
        s.verifier
            .verify(&first.token, Some(&home), now)
            .unwrap()
            .is_active()
    );
    // A new network card: the tolerant match keeps the seat, byte for byte the same token.
    let again = s
        .service
        .activate(&unbound, HOME_NEW_NIC, now)
        .await
        .unwrap();
    assert!(!again.new);
    assert_eq!(again.token, first.token);
    match s.service.activate(&unbound, OTHER, now).await {
        Err(ServiceError::SeatsTaken { license, quantity }) => {
            assert_eq!((license.as_str(), quantity), ("lic-1", 1));
        }
        other => panic!("expected SeatsTaken, got {other:?}"),
    }
    // A bound token cannot take a second seat.
    assert!(matches!(
        s.service.activate(&first.token, OTHER, now).await,
        Err(ServiceError::Invalid(_))
    ));
}

#[tokio::test]
async fn refresh_returns_the_renewed_revision_for_the_same_binding() {
    let s = setup().await;
    let unbound = purchase(&s, 2).await;
    let now = t("2026-02-01T00:00:00Z");
    let seat = s.service.activate(&unbound, HOME, now).await.unwrap();
    s.service
        .renew(
            "lic-1",
            "R1",
            t("2028-01-01T00:00:00Z"),
            None,
            caller("refreshLicense"),
            now,
        )
        .await
        .unwrap();
    let fresh = s.service.refresh(&seat.token, now).await.unwrap();
    assert_eq!(fresh.revision, 2);
    let home = Fingerprint::parse(HOME).unwrap();
    let v = s.verifier.verify(&fresh.token, Some(&home), now).unwrap();
    assert_eq!(v.claims().exp, t("2028-01-01T00:00:00Z"));
    assert_eq!(v.claims().revision, 2);
    assert_eq!(
        s.service.refresh(&seat.token, now).await.unwrap().token,
        fresh.token,
        "a second refresh at the same revision returns the stored token"
    );
}

#[tokio::test]
async fn reissue_revokes_the_old_binding_and_binds_the_new_machine() {
    let mut s = setup().await;
    let unbound = purchase(&s, 1).await;
    let now = t("2026-02-01T00:00:00Z");
    let old = s.service.activate(&unbound, HOME, now).await.unwrap();
    let (seq0, _) = s.service.revocation_list(now).await.unwrap();
    let new_token = s
        .service
        .reissue(
            "lic-1",
            Some(OTHER),
            &licd::accounts::Principal::admin_token("admin:test"),
            "machine replaced",
            now,
        )
        .await
        .unwrap()
        .token;
    let (seq1, list) = s.service.revocation_list(now).await.unwrap();
    assert!(seq1 > seq0, "the list moved: {seq0} -> {seq1}");
    s.verifier.load_revocations(&list).unwrap();
    let home = Fingerprint::parse(HOME).unwrap();
    let other = Fingerprint::parse(OTHER).unwrap();
    assert!(matches!(
        s.verifier.verify(&old.token, Some(&home), now),
        Err(VerifyError::Revoked { .. })
    ));
    assert!(
        s.verifier
            .verify(&new_token, Some(&other), now)
            .unwrap()
            .is_active()
    );
    assert!(matches!(
        s.verifier.verify(&new_token, Some(&home), now),
        Err(VerifyError::DeviceMismatch { .. })
    ));
    assert!(matches!(
        s.service.refresh(&old.token, now).await,
        Err(ServiceError::Revoked(_))
    ));
    // The old unbound license was superseded by the reissue: it takes no seat, not even the
    // one the new machine does not hold.
    assert!(matches!(
        s.service.activate(&unbound, HOME, now).await,
        Err(ServiceError::Superseded { revision: 1, .. })
    ));
}
