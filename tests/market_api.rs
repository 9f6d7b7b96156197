//! `licd::market_api` against the fake marketplace of `common::fake_market`, which checks every
//! signature with its own implementation of protocol §3.6.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::fake_market::{FakeMarket, Upload};
use licd::market_api::{ApiConfig, CallError, MarketplaceApi};
use serde_json::json;
use zeroize::Zeroizing;

fn config(market: &FakeMarket) -> ApiConfig {
    ApiConfig {
        base_urls: vec![market.url()],
        ak: market.ak().to_string(),
        sk: Zeroizing::new(market.sk().to_string()),
        timeout: Duration::from_secs(5),
    }
}

fn client(market: &FakeMarket) -> MarketplaceApi {
    MarketplaceApi::new(config(market)).unwrap()
}

/// A port nothing listens on: bound, then released.
fn refused_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    drop(l);
    url
}

fn period_order() -> serde_json::Value {
    json!({
        "orderId": "CS2207261447AUY4H",
        "orderType": "NEW",
        "createTime": "20240317144237",
        "buyerInfo": {"customerId": "cust-9", "customerName": "acme-buyer"},
        "orderLine": [{
            "orderLineId": "CS2207261447AUY4H-000001",
            "chargingMode": "PERIOD",
            "expireTime": "20250317144237",
            "productInfo": [{"productId": "OFFI1", "skuCode": "sku-1", "linearValue": 3}]
        }]
    })
}

fn ts(s: &str) -> Option<client_verifier::Timestamp> {
    Some(client_verifier::Timestamp::parse_rfc3339(s).unwrap())
}

#[tokio::test]
async fn signed_query_is_accepted_and_parsed() {
    let market = FakeMarket::start();
    market.add_order(period_order());
    let order = client(&market)
        .query_order("CS2207261447AUY4H", Some("CS2207261447AUY4H-000001"))
        .await
        .unwrap_or_else(|e| panic!("{e}; fake says {:?}", market.last_rejection()));
    assert_eq!(market.rejected_signatures(), 0);
    assert_eq!(order.order_type, "NEW");
    assert_eq!(order.create_time, ts("2024-03-17T14:42:37Z"));
    assert_eq!(order.customer_id.as_deref(), Some("cust-9"));
    assert_eq!(order.customer_name.as_deref(), Some("acme-buyer"));
    let line = order.line("CS2207261447AUY4H-000001").unwrap();
    assert_eq!(line.charging_mode, "PERIOD");
    assert_eq!(line.expire_time, ts("2025-03-17T14:42:37Z"));
    assert_eq!(line.product_id.as_deref(), Some("OFFI1"));
    assert_eq!(line.sku_code.as_deref(), Some("sku-1"));
    assert_eq!(line.quantity, Some(3));
}

#[tokio::test]
async fn query_parses_line_level_shape() {
    let market = FakeMarket::start();
    market.add_order_response(
        "MOCKONETIMENEW",
        json!({
            "resultCode": "CBC.0000", "resultMsg": "ok", "somethingNew": {"x": 1},
            "orderInfo": {
                "orderId": "MOCKONETIMENEW", "orderType": "NEW",
                "orderLine": [{
                    "orderLineId": "MOCKONETIMENEW-000001", "chargingMode": "ONE_TIME",
                    "expireTime": "20250317144237123",
                    "productId": "P-line", "skuCode": "S-line", "quantity": "7"
                }]
            }
        }),
    );
    let order = client(&market)
        .query_order("MOCKONETIMENEW", None)
        .await
        .unwrap();
    let line = &order.lines[0];
    assert_eq!(line.expire_time, ts("2025-03-17T14:42:37Z"));
    assert_eq!(line.product_id.as_deref(), Some("P-line"));
    assert_eq!(line.sku_code.as_deref(), Some("S-line"));
    assert_eq!(line.quantity, Some(7));
    assert_eq!(order.customer_id, None);
}

#[tokio::test]
async fn unknown_order_is_a_permanent_invalid_parameter() {
    let market = FakeMarket::start();
    let err = client(&market)
        .query_order("NOSUCHORDER", None)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("CBC.0101"), "{err}");
    assert!(!err.retryable());
    let msg = err.to_string();
    assert!(
        msg.contains("NOSUCHORDER") && msg.contains(&market.url()),
        "{msg}"
    );
}

#[tokio::test]
async fn rejects_client_signed_with_wrong_sk() {
    let market = FakeMarket::start();
    market.add_order(period_order());
    let mut cfg = config(&market);
    cfg.sk = Zeroizing::new("not-the-sk".to_string());
    let err = MarketplaceApi::new(cfg)
        .unwrap()
        .query_order("CS2207261447AUY4H", None)
        .await
        .unwrap_err();
    assert_eq!(market.rejected_signatures(), 1);
    assert!(
        market
            .last_rejection()
            .unwrap()
            .contains("signature mismatch"),
        "{:?}",
        market.last_rejection()
    );
    assert_eq!(err.code(), Some("CBC.0150"));
    assert_eq!(err.status(), Some(403));
    assert!(err.retryable(), "an operator can fix the AK/SK");
    assert!(err.to_string().contains("AK/SK"), "{err}");
}

#[tokio::test]
async fn upload_records_exact_characters() {
    let market = FakeMarket::start();
    let api = client(&market);
    let token = "v4.public.eyJ\"quote\\back/slash+plus=eq&amp;é中文\u{1F511}";
    api.upload_characters("8e5694c8-ev 1", token)
        .await
        .unwrap_or_else(|e| panic!("{e}; fake says {:?}", market.last_rejection()));
    assert_eq!(market.rejected_signatures(), 0);
    assert_eq!(
        market.uploads(),
        vec![Upload {
            event_id: "8e5694c8-ev 1".into(),
            kind: "CHARACTERS".into(),
            characters: token.into(),
        }]
    );
}

#[tokio::test]
async fn failing_uploads_are_retryable_then_succeed() {
    let market = FakeMarket::start();
    let api = client(&market);
    market.fail_next_uploads(2);
    for _ in 0..2 {
        let err = api.upload_characters("EV1", "LIC").await.unwrap_err();
        assert_eq!(err.code(), Some("CBC.0999"));
        assert_eq!(err.status(), Some(500));
        assert!(err.retryable(), "{err}");
        assert!(err.to_string().contains("event EV1"), "{err}");
    }
    assert!(market.uploads().is_empty());
    api.upload_characters("EV1", "LIC").await.unwrap();
    assert_eq!(market.uploads().len(), 1);
}

#[tokio::test]
async fn rejected_license_format_is_permanent() {
    let market = FakeMarket::start();
    market.fail_next_upload_with(200, "91381037", "Invalid license format.");
    let err = client(&market)
        .upload_characters("EV1", "LIC")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("91381037"));
    assert!(!err.retryable());
}

#[tokio::test]
async fn falls_back_to_second_base_url_when_first_refuses_connections() {
    let market = FakeMarket::start();
    market.add_order(period_order());
    let mut cfg = config(&market);
    cfg.base_urls = vec![refused_url(), market.url()];
    let api = MarketplaceApi::new(cfg).unwrap();
    api.query_order("CS2207261447AUY4H", None).await.unwrap();
    api.upload_characters("EV2", "LIC-2").await.unwrap();
    assert_eq!(market.uploads()[0].characters, "LIC-2");
    assert_eq!(market.rejected_signatures(), 0);
}

#[tokio::test]
async fn falls_back_on_server_error_and_signs_for_the_second_host() {
    let first = FakeMarket::start();
    let second = FakeMarket::start();
    first.fail_next_uploads(1);
    let mut cfg = config(&first);
    cfg.base_urls = vec![first.url(), second.url()];
    let api = MarketplaceApi::new(cfg).unwrap();
    api.upload_characters("EV3", "LIC-3").await.unwrap();
    assert!(first.uploads().is_empty());
    assert_eq!(second.uploads()[0].event_id, "EV3");
    // The second host checked a signature made for its own Host header.
    assert_eq!(second.rejected_signatures(), 0);
}

#[tokio::test]
async fn all_hosts_down_is_a_retryable_transport_error() {
    let mut cfg = ApiConfig::new("AK", Zeroizing::new("SK".to_string()));
    let last = refused_url();
    cfg.base_urls = vec![refused_url(), last.clone()];
    let err = MarketplaceApi::new(cfg)
        .unwrap()
        .query_order("CS1", None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, CallError::Transport { timeout: false, .. }),
        "{err:?}"
    );
    assert!(err.retryable());
    assert!(err.to_string().contains(&last), "{err}");
}

#[tokio::test]
async fn timeout_is_honoured() {
    let market = FakeMarket::start();
    market.add_order(period_order());
    market.set_delay(Duration::from_secs(3));
    let mut cfg = config(&market);
    cfg.timeout = Duration::from_millis(300);
    let started = Instant::now();
    let err = MarketplaceApi::new(cfg)
        .unwrap()
        .query_order("CS2207261447AUY4H", None)
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert!(
        matches!(err, CallError::Transport { timeout: true, .. }),
        "{err:?}"
    );
    assert!(err.retryable());
    assert!(err.to_string().contains("timed out"), "{err}");
    assert!(took < Duration::from_secs(2), "took {took:?}");
}

#[tokio::test]
async fn too_long_characters_refused_locally() {
    let market = FakeMarket::start();
    let api = client(&market);
    let err = api
        .upload_characters("EV4", &"é".repeat(1025))
        .await
        .unwrap_err();
    assert!(matches!(err, CallError::Invalid { .. }), "{err:?}");
    assert!(!err.retryable());
    assert!(
        err.to_string().contains("1025") && err.to_string().contains("1024"),
        "{err}"
    );
    assert_eq!(market.requests(), 0);
    // Exactly 1024 characters (2048 bytes) is fine.
    api.upload_characters("EV4", &"é".repeat(1024))
        .await
        .unwrap();
    assert_eq!(market.uploads()[0].characters.chars().count(), 1024);
}

#[test]
fn debug_hides_the_sk() {
    let cfg = ApiConfig {
        base_urls: vec!["https://mkt.myhuaweicloud.com".into()],
        ak: "AK-VISIBLE".into(),
        sk: Zeroizing::new("SK-MUST-NOT-LEAK".into()),
        timeout: Duration::from_secs(1),
    };
    let c = format!("{cfg:?} {cfg:#?}");
    assert!(!c.contains("SK-MUST-NOT-LEAK"), "{c}");
    let api = MarketplaceApi::new(cfg).unwrap();
    let d = format!("{api:?} {api:#?}");
    assert!(!d.contains("SK-MUST-NOT-LEAK"), "{d}");
    assert!(d.contains("AK-VISIBLE"), "{d}");
}

#[tokio::test]
async fn query_parameters_needing_escapes_are_signed_as_sent() {
    let market = FakeMarket::start();
    let id = "CS 1+2/é&x=y";
    let line = "CS 1+2/é&x=y-000001";
    market.add_order(json!({
        "orderId": id, "orderType": "RENEW",
        "orderLine": [{"orderLineId": line, "chargingMode": "PERIOD"}]
    }));
    let order = client(&market)
        .query_order(id, Some(line))
        .await
        .unwrap_or_else(|e| panic!("{e}; fake says {:?}", market.last_rejection()));
    assert_eq!(order.order_id, id);
    assert_eq!(order.lines[0].order_line_id, line);
    assert_eq!(market.rejected_signatures(), 0);
}

#[tokio::test]
async fn a_certificate_the_system_does_not_trust_is_refused_before_anything_is_sent() {
    use tokio::io::AsyncReadExt;
    use tokio_rustls::rustls;
    // An HTTPS server on loopback with a self-signed certificate for localhost.
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.key_pair.serialize_der().into());
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert.cert.der().clone()], key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = tokio::sync::oneshot::channel::<Option<usize>>();
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        // The handshake fails on the client's side; no request byte may arrive.
        let read = match acceptor.accept(tcp).await {
            Ok(mut tls) => {
                let mut buf = vec![0u8; 4096];
                Some(tls.read(&mut buf).await.unwrap_or(0))
            }
            Err(_) => None,
        };
        let _ = tx.send(read);
    });
    let api = MarketplaceApi::new(ApiConfig {
        base_urls: vec![format!("https://localhost:{port}")],
        ak: "AK".into(),
        sk: Zeroizing::new("SK".into()),
        timeout: Duration::from_secs(5),
    })
    .unwrap();
    let err = api.query_order("CS1", None).await.unwrap_err();
    assert!(matches!(err, CallError::Transport { .. }), "{err:?}");
    let received = tokio::time::timeout(Duration::from_secs(5), rx)
        .await
        .unwrap()
        .unwrap();
    assert!(
        received.is_none_or(|n| n == 0),
        "the request reached an untrusted server: {received:?}"
    );
}
