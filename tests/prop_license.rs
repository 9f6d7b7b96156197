//! The license state machine against a model, under random sequences of marketplace callbacks.
//!
//! Drives the real `Service` over a sled store in a temp dir: purchases (`getLicense`), renewals,
//! freezes, unfreezes and releases, with small id spaces so that orders, renewal orders and
//! instance ids repeat, and an explicit "the marketplace sends the same call again" step. After
//! every step each license in the store is compared with a model a few lines long:
//!
//! - a repeated purchase answers the same instance id and the same license, byte for byte;
//! - a `businessId` already used as another order's instance id is refused;
//! - revision: 1 at issue, +1 on every renewal, freeze and unfreeze that changes something, not
//!   on a repeated call or a release;
//! - a renewal order is applied once; a renewal to a future time unfreezes;
//! - released stays released: renewal and unfreeze are refused, freeze and release change
//!   nothing;
//! - the current token verifies and says the model's revision, expiry and frozen state.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use client_verifier::{BindingRequirement, DAY, SecretKey, Timestamp, TokenStatus, Verifier};
use licd::license::DomainError;
use licd::license::Status;
use licd::service::{Caller, NewPurchase, Service, ServiceError, Settings};
use licd::store::{SledStore, Store};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

const ISSUER: &str = "acme";
const PRODUCT: &str = "P1";
const START: i64 = 1_780_272_000; // 2026-06-01T00:00:00Z

#[derive(Clone, Debug)]
enum Op {
    /// `getLicense` for purchase order `order`, sent with `businessId` `business`.
    Issue { order: u8, business: u8 },
    /// `refreshLicense` of instance `target` by renewal order `renewal`, to now + `days`.
    Renew { target: u8, renewal: u8, days: i64 },
    /// `expireLicense`.
    Freeze { target: u8 },
    /// `updateInstanceStatus` UNFREEZE.
    Unfreeze { target: u8 },
    /// `releaseLicense`.
    Release { target: u8 },
    /// The previous call, sent again (a marketplace retry).
    Repeat,
}

fn op() -> impl Strategy<Value = Op> {
    // Instance ids are the businessId of the first call for an order: targets share that space.
    prop_oneof![
        3 => (0u8..4, 0u8..5).prop_map(|(order, business)| Op::Issue { order, business }),
        3 => (0u8..5, 0u8..3, -30i64..400)
            .prop_map(|(target, renewal, days)| Op::Renew { target, renewal, days }),
        2 => (0u8..5).prop_map(|target| Op::Freeze { target }),
        2 => (0u8..5).prop_map(|target| Op::Unfreeze { target }),
        1 => (0u8..5).prop_map(|target| Op::Release { target }),
        2 => Just(Op::Repeat),
    ]
}

/// What a call answered, in the terms the model predicts.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Ok,
    Issued(String, String),
    NotFound,
    Released,
    Invalid,
}

#[derive(Debug)]
struct ModelLicense {
    status: Status,
    revision: u32,
    nbf: Timestamp,
    exp: Timestamp,
    issued_token: String,
}

#[derive(Default)]
struct Model {
    orders: HashMap<u8, String>,
    licenses: HashMap<String, ModelLicense>,
    applied: HashSet<(String, u8)>,
}

impl Model {
    /// Applies `op` at `now`; `token` is what the service minted when a purchase is new.
    fn apply(&mut self, ns: &str, op: &Op, now: Timestamp, minted: Option<&str>) -> Outcome {
        match *op {
            Op::Issue { order, business } => {
                if let Some(id) = self.orders.get(&order) {
                    let token = self.licenses[id].issued_token.clone();
                    return Outcome::Issued(id.clone(), token);
                }
                let id = instance(ns, business);
                if self.licenses.contains_key(&id) {
                    return Outcome::Invalid;
                }
                let token = minted.unwrap_or_default().to_string();
                self.orders.insert(order, id.clone());
                self.licenses.insert(
                    id.clone(),
                    ModelLicense {
                        status: Status::Active,
                        revision: 1,
                        nbf: now,
                        exp: now.add_secs(365 * DAY),
                        issued_token: token.clone(),
                    },
                );
                Outcome::Issued(id, token)
            }
            Op::Renew {
                target,
                renewal,
                days,
            } => {
                let id = instance(ns, target);
                let Some(l) = self.licenses.get_mut(&id) else {
                    return Outcome::NotFound;
                };
                if self.applied.contains(&(id.clone(), renewal)) {
                    return Outcome::Ok;
                }
                if l.status == Status::Released {
                    return Outcome::Released;
                }
                let exp = now.add_secs(days * DAY);
                l.exp = exp.max(l.nbf);
                if l.status == Status::Frozen && exp > now {
                    l.status = Status::Active;
                }
                l.revision += 1;
                self.applied.insert((id, renewal));
                Outcome::Ok
            }
            Op::Freeze { target } => match self.licenses.get_mut(&instance(ns, target)) {
                None => Outcome::NotFound,
                Some(l) => {
                    if l.status == Status::Active {
                        l.status = Status::Frozen;
                        l.revision += 1;
                    }
                    Outcome::Ok
                }
            },
            Op::Unfreeze { target } => match self.licenses.get_mut(&instance(ns, target)) {
                None => Outcome::NotFound,
                Some(l) if l.status == Status::Released => Outcome::Released,
                Some(l) => {
                    if l.status == Status::Frozen {
                        l.status = Status::Active;
                        l.revision += 1;
                    }
                    Outcome::Ok
                }
            },
            Op::Release { target } => match self.licenses.get_mut(&instance(ns, target)) {
                None => Outcome::NotFound,
                Some(l) => {
                    l.status = Status::Released;
                    Outcome::Ok
                }
            },
            Op::Repeat => unreachable!("resolved before"),
        }
    }
}

fn instance(ns: &str, business: u8) -> String {
    format!("{ns}-b{business}")
}

fn outcome<T>(r: Result<T, ServiceError>, ok: impl FnOnce(T) -> Outcome) -> Outcome {
    match r {
        Ok(v) => ok(v),
        Err(ServiceError::NotFound(_)) => Outcome::NotFound,
        Err(ServiceError::Domain(DomainError::Released { .. })) => Outcome::Released,
        Err(ServiceError::Invalid(_)) => Outcome::Invalid,
        Err(e) => panic!("unexpected error: {e}"),
    }
}

async fn call(service: &Service, ns: &str, op: &Op, now: Timestamp) -> Outcome {
    let caller = |action| Caller {
        action,
        test: false,
        signed_at: None,
    };
    match *op {
        Op::Issue { order, business } => {
            let purchase = NewPurchase {
                order: format!("{ns}-o{order}"),
                business_id: instance(ns, business),
                customer: "cust".into(),
                customer_name: None,
                product: PRODUCT.into(),
                sku: "S1".into(),
                exp: Some(now.add_secs(365 * DAY)),
                quantity: 1,
            };
            let r = service
                .issue_classic(purchase, caller("getLicense"), now)
                .await;
            outcome(r, |(id, token)| Outcome::Issued(id, token))
        }
        Op::Renew {
            target,
            renewal,
            days,
        } => {
            let r = service
                .renew(
                    &instance(ns, target),
                    &format!("{ns}-r{renewal}"),
                    now.add_secs(days * DAY),
                    None,
                    caller("refreshLicense"),
                    now,
                )
                .await;
            outcome(r, |()| Outcome::Ok)
        }
        Op::Freeze { target } => {
            let r = service
                .freeze(&instance(ns, target), caller("expireLicense"), now)
                .await;
            outcome(r, |()| Outcome::Ok)
        }
        Op::Unfreeze { target } => {
            let r = service
                .unfreeze(&instance(ns, target), caller("updateInstanceStatus"), now)
                .await;
            outcome(r, |()| Outcome::Ok)
        }
        Op::Release { target } => {
            let r = service
                .release(&instance(ns, target), caller("releaseLicense"), now)
                .await;
            outcome(r, |()| Outcome::Ok)
        }
        Op::Repeat => unreachable!("resolved before"),
    }
}

/// Every license the model knows matches the store, and its current token says so too.
fn check_store(
    rt: &tokio::runtime::Runtime,
    service: &Service,
    verifier: &Verifier,
    model: &Model,
    now: Timestamp,
    checked: &mut HashMap<String, (String, u32, Status)>,
) -> Result<(), TestCaseError> {
    for (id, m) in &model.licenses {
        let l = rt
            .block_on(service.store().license(id))
            .unwrap()
            .ok_or_else(|| TestCaseError::fail(format!("{id} missing from the store")))?;
        prop_assert_eq!(l.status, m.status, "status of {}", id);
        prop_assert_eq!(l.revision, m.revision, "revision of {}", id);
        prop_assert_eq!(l.exp, m.exp, "exp of {}", id);
        prop_assert_eq!(l.issued_token.as_deref(), Some(m.issued_token.as_str()));
        let token = l.current_token().unwrap_or_default();
        let seen = (token.to_string(), m.revision, m.status);
        if checked.get(id) == Some(&seen) {
            continue; // verified at an earlier step (signatures are slow in debug builds)
        }
        checked.insert(id.clone(), seen);
        let license = verifier
            .verify(token, None, now)
            .map_err(|e| TestCaseError::fail(format!("current token of {id}: {e}")))?;
        let c = license.claims();
        prop_assert_eq!(&c.jti, id);
        prop_assert_eq!(c.exp, m.exp);
        if m.status == Status::Released {
            // Release mints nothing: the id goes on the revocation list instead.
            prop_assert!(c.revision <= m.revision);
        } else {
            prop_assert_eq!(c.revision, m.revision, "token revision of {}", id);
            prop_assert_eq!(
                c.status == TokenStatus::Frozen,
                m.status == Status::Frozen,
                "token status of {}",
                id
            );
        }
    }
    Ok(())
}

#[test]
fn service_follows_the_license_model() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SledStore::open(dir.path(), 1 << 22).unwrap());
    let key = Arc::new(SecretKey::from_seed(&[7; 32]));
    let verifier = Verifier::builder()
        .trust(key.public_key().clone())
        .issuer(ISSUER)
        .product(PRODUCT)
        .binding(BindingRequirement::Optional)
        .build();
    let service = Service::new(
        store,
        key,
        Settings {
            issuer: ISSUER.into(),
            freeze_days: 15,
            require_fingerprint: false,
            min_fingerprint_components: 3,
        },
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut runner = TestRunner::new(Config {
        cases: 32,
        failure_persistence: None,
        ..Config::default()
    });
    let case = std::cell::Cell::new(0u32);
    let result = runner.run(&proptest::collection::vec(op(), 1..40), |ops| {
        // One store serves every case: each case's ids live in their own namespace.
        case.set(case.get() + 1);
        let ns = format!("c{}", case.get());
        let mut model = Model::default();
        let mut previous: Option<Op> = None;
        let mut checked = HashMap::new();
        for (step, op) in ops.iter().enumerate() {
            let op = match op {
                Op::Repeat => match &previous {
                    Some(p) => p.clone(),
                    None => continue,
                },
                op => op.clone(),
            };
            let now = Timestamp::from_unix(START + step as i64 * 3600);
            let got = rt.block_on(call(&service, &ns, &op, now));
            let minted = match &got {
                Outcome::Issued(_, token) => Some(token.as_str()),
                _ => None,
            };
            let expected = model.apply(&ns, &op, now, minted);
            prop_assert_eq!(&got, &expected, "step {}: {:?}", step, op);
            check_store(&rt, &service, &verifier, &model, now, &mut checked)?;
            previous = Some(op);
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}
