//! Property tests of tolerant device matching (`MatchPolicy::Tolerant`): a binding holds when at
//! least 2 of the components that were non-empty at binding time still share a value and the
//! binding is anchored: a majority of its mainboard values, or with none bound a majority of its
//! disk serials, are the device's. MAC and CPU id never hold alone, and no binding, whatever
//! values it was made from, holds on two machines that share no disk or mainboard serial.

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

/// One machine's four components, as a collector gives them: one mainboard value (a machine has
/// one), one CPU id, some MACs and disks.
fn machine() -> impl Strategy<Value = [Vec<String>; 4]> {
    (
        old_values(),
        old_values(),
        proptest::collection::vec("[0-9][0-9A-F:]{3,16}", 1..=1),
        proptest::collection::vec("[0-9][0-9A-F:]{3,16}", 1..=1),
    )
        .prop_map(|(m, d, b, c)| [m, d, b, c])
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
    fn four_components_tolerate_any_one_changed_but_the_mainboard(
        old in machine(),
        replacement in new_values(),
        which in 0usize..4,
        salt in any::<[u8; 8]>(),
    ) {
        let mut device = old.clone();
        device[which] = replacement;
        // The mainboard value names the machine: a new one is a new machine.
        prop_assert_eq!(holds(&fp(old), &fp(device), salt), which != 2);
    }

    #[test]
    fn three_components_do_not_tolerate_two_changed(
        old in machine(),
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
        let anchor = if bound[2].is_empty() { 1 } else { 2 };
        prop_assert_eq!(holds(&fp(bound), &fp(one), salt), which != anchor);
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

    /// The attack of hardening round 3: one activation with a fingerprint pooling values of many
    /// machines. Whatever values a binding is made from, and whatever the policy, at most one of
    /// a set of distinct machines (no two share a disk or mainboard serial; MACs may be copied
    /// and the CPU model is shared) satisfies it.
    #[test]
    fn one_binding_holds_on_at_most_one_machine(
        machines in proptest::collection::vec(
            (proptest::collection::vec(0u8..6, 1..3), 1usize..5, any::<bool>()), 2..8),
        pick in proptest::array::uniform4(proptest::collection::vec(any::<proptest::sample::Index>(), 0..10)),
        salt in any::<[u8; 8]>(),
    ) {
        // Machine m: MACs from a small shared pool (copied at will), disks D<m>-<k>, mainboard
        // B<m> (or none), and the same CPU model everywhere.
        let machines: Vec<[Vec<String>; 4]> = machines
            .iter()
            .enumerate()
            .map(|(m, (macs, disks, board))| {
                [
                    macs.iter().map(|x| format!("02:00:00:00:00:0{x}")).collect(),
                    (0..*disks).map(|k| format!("D{m}-{k}")).collect(),
                    if *board { vec![format!("B{m}")] } else { vec![] },
                    vec!["BFEBFBFF000906EA".to_string()],
                ]
            })
            .collect();
        // The attacker's fingerprint: any values of any machines, per component.
        let bound: [Vec<String>; 4] = core::array::from_fn(|i| {
            let pool: Vec<&String> = machines.iter().flat_map(|m| &m[i]).collect();
            if pool.is_empty() {
                return vec![];
            }
            pick[i].iter().map(|ix| ix.get(&pool).to_string()).collect()
        });
        let Ok(bound) = Fingerprint::from_parts(bound) else {
            return Err(TestCaseError::reject("all components empty"));
        };
        let binding = Binding::new(&bound, salt);
        for policy in [MatchPolicy::Tolerant, MatchPolicy::All, MatchPolicy::AtLeast(1)] {
            let holding: Vec<usize> = machines
                .iter()
                .enumerate()
                .filter(|(_, m)| binding.check(&fp((*m).clone()), policy).holds())
                .map(|(i, _)| i)
                .collect();
            prop_assert!(holding.len() <= 1, "{policy:?}: machines {holding:?} all hold {bound}");
        }
        // Made from one machine's own fingerprint, the binding holds on that machine.
        let own = fp(machines[0].clone());
        if own.identifies_machine() {
            prop_assert!(Binding::new(&own, salt).check(&own, MatchPolicy::Tolerant).holds());
        }
    }
}
