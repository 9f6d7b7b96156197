//! Property tests of tolerant device matching (`MatchPolicy::Tolerant`): a binding holds when at
//! least 2 of the components that were non-empty at binding time still share a value, one of
//! them the disk or mainboard serial (components 1 and 2): MAC and CPU id never hold alone.

use client_verifier::{Binding, Fingerprint, MatchPolicy};
use proptest::prelude::*;

/// Values of one component. Old and new values come from disjoint alphabets (digits first vs a
/// letter first), so a "changed" component shares no value with the one it replaces.
fn old_values() -> impl Strategy<Value = Vec<String>> {
    proptest::collection::vec("[0-9][0-9A-F:]{3,16}", 1..4)
}

fn new_values() -> impl Strategy<Value = Vec<String>> {
    proptest::collection::vec("[G-Z][0-9A-Z:]{3,16}", 1..4)
}

fn fp(parts: [Vec<String>; 4]) -> Fingerprint {
    Fingerprint::from_parts(parts).unwrap()
}

fn holds(bound: &Fingerprint, device: &Fingerprint, salt: [u8; 8]) -> bool {
    Binding::new(bound, salt)
        .check(device, MatchPolicy::Tolerant)
        .holds()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn four_components_tolerate_any_one_changed(
        old in proptest::array::uniform4(old_values()),
        replacement in new_values(),
        which in 0usize..4,
        salt in any::<[u8; 8]>(),
    ) {
        let mut device = old.clone();
        device[which] = replacement;
        prop_assert!(holds(&fp(old), &fp(device), salt));
    }

    #[test]
    fn three_components_do_not_tolerate_two_changed(
        old in proptest::array::uniform4(old_values()),
        replacements in proptest::array::uniform2(new_values()),
        empty in 0usize..4,
        changed in proptest::sample::subsequence(vec![0usize, 1, 2], 2),
        fill_empty in proptest::option::of(new_values()),
        salt in any::<[u8; 8]>(),
    ) {
        let mut bound = old;
        bound[empty].clear();
        // The components other than the empty one, two of which change.
        let present: Vec<usize> = (0..4).filter(|&i| i != empty).collect();
        let mut device = bound.clone();
        for (k, values) in changed.iter().zip(replacements) {
            device[present[*k]] = values;
        }
        // What the device has where the binding had nothing does not count.
        if let Some(values) = fill_empty {
            device[empty] = values;
        }
        prop_assert!(!holds(&fp(bound.clone()), &fp(device.clone()), salt));
        // One changed component alone is still tolerated while a disk or mainboard serial that
        // was bound still matches.
        let which = present[changed[0]];
        let mut one = bound.clone();
        one[which] = device[which].clone();
        let serial_left = [1, 2].iter().any(|&i| i != which && !bound[i].is_empty());
        prop_assert_eq!(holds(&fp(bound), &fp(one), salt), serial_left);
    }

    #[test]
    fn mac_and_cpu_id_alone_never_hold(
        old in proptest::array::uniform4(old_values()),
        serials in proptest::array::uniform2(proptest::option::of(new_values())),
        salt in any::<[u8; 8]>(),
    ) {
        // Another machine with this one's MAC and CPU id, and other (or no) serials.
        let mut device = old.clone();
        device[1] = serials[0].clone().unwrap_or_default();
        device[2] = serials[1].clone().unwrap_or_default();
        for policy in [MatchPolicy::Tolerant, MatchPolicy::All, MatchPolicy::AtLeast(1), MatchPolicy::AtLeast(2)] {
            prop_assert!(!Binding::new(&fp(old.clone()), salt).check(&fp(device.clone()), policy).holds());
        }
    }

    #[test]
    fn a_different_machine_never_matches(
        bound in proptest::array::uniform4(proptest::collection::vec("[0-9][0-9A-F:]{3,16}", 0..3)),
        other in proptest::array::uniform4(proptest::collection::vec("[G-Z][0-9A-Z:]{3,16}", 0..3)),
        salt in any::<[u8; 8]>(),
    ) {
        let (Ok(bound), Ok(other)) = (Fingerprint::from_parts(bound), Fingerprint::from_parts(other)) else {
            return Err(TestCaseError::reject("all components empty"));
        };
        for policy in [MatchPolicy::Tolerant, MatchPolicy::All, MatchPolicy::AtLeast(1)] {
            prop_assert!(!Binding::new(&bound, salt).check(&other, policy).holds());
        }
    }

    #[test]
    fn opaque_fingerprints_match_only_themselves(
        a in "[0-9a-f]{8,64}",
        b in "[0-9a-f]{8,64}",
        salt in any::<[u8; 8]>(),
    ) {
        let (fa, fb) = (Fingerprint::parse(&a).unwrap(), Fingerprint::parse(&b).unwrap());
        prop_assert!(holds(&fa, &fa, salt));
        prop_assert_eq!(holds(&fa, &fb, salt), a == b);
    }
}
