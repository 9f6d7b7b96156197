// The shared golden cases through the Java binding: every case of license-v1.json and the
// root-trusting cases of rooted-v1.json (generated into GoldenCases.java by
// examples/c/golden_cases.py --java), then the binding's own behaviour. Run by
// scripts/build-java.sh --test; exit status 0 only when every check holds.
package clientverifier;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalLong;

public final class Golden {
    private static final List<String> FAILURES = new ArrayList<>();

    private static void check(boolean ok, String what) {
        System.out.println((ok ? "ok    " : "WRONG ") + what);
        if (!ok) {
            FAILURES.add(what);
        }
    }

    private static long at(License l) {
        switch (l.getStatus()) {
            case ACTIVE: return l.getExpiresAt().getEpochSecond();
            case CHECK_IN_REQUIRED: return l.getCheckInBy().get().getEpochSecond();
            default: return l.getFreezeUntil().getEpochSecond();
        }
    }

    static void licenses() throws Exception {
        for (GoldenCases.Case c : GoldenCases.ALL) {
            String got;
            long when = 0;
            try (Verifier v = new Verifier(c.keys, c.issuer, c.product, c.flags, c.minRevocationSeq);
                 State state = new State("tg1." + c.guardLastSeen)) {
                try {
                    if (c.revocations != null) {
                        v.loadRevocations(c.revocations);
                    }
                    try (License l = v.verify(c.token, c.device, c.now, state)) {
                        got = l.getStatus().wireName();
                        when = at(l);
                        // Every accessor, so each conversion runs on every case.
                        if (l.getId().isEmpty() || l.getRevision() == 0
                                || !l.getEntitlementsJson().startsWith("{")) {
                            got = "unreadable";
                        }
                        l.feature("export");
                        if (!java.util.Objects.equals(l.getOrigin().orElse(null), c.origin)
                                || l.isTrial() != "trial".equals(c.origin)) {
                            got = "wrong origin";
                        }
                        OptionalLong max = l.limit("max_projects");
                        if (max.isPresent() && max.getAsLong() != 20) {
                            got = "wrong limit";
                        }
                    }
                } catch (ClientVerifierException e) {
                    got = e.getName();
                }
            }
            boolean ok = c.expectError != null ? got.equals(c.expectError)
                    : got.equals(c.expectStatus) && when == c.expectAt;
            check(ok, c.name + ": " + got);
        }
    }

    static void rooted() throws Exception {
        for (GoldenCases.RootedCase c : GoldenCases.ROOTED) {
            String got;
            long when = 0;
            boolean stateKept = true;
            try (State state = new State()) {
                try (Verifier v = Verifier.rooted(c.root, c.issuer, c.product, Verifier.BINDING_OPTIONAL)) {
                    if (c.keyRevocations != null) {
                        stateKept = v.loadKeyRevocations(c.keyRevocations, state) > 0;
                    }
                    try (License l = v.verify(c.token, null, c.now, state)) {
                        got = l.getStatus().wireName();
                        when = l.getExpiresAt().getEpochSecond();
                        stateKept &= state.getLastSeen() == c.now;
                    }
                } catch (ClientVerifierException e) {
                    got = e.getName();
                }
            }
            boolean ok = c.expectError != null ? got.equals(c.expectError)
                    : got.equals(c.expectStatus) && when == c.expectAt && stateKept;
            check(ok, "rooted " + c.name + ": " + got);
        }
    }

    static void api() throws Exception {
        GoldenCases.Case c = GoldenCases.ALL[0];
        check(c.name.equals("active_on_bound_device"), "the first case is the bound active one");
        try (Verifier v = new Verifier(c.keys, c.issuer, c.product)) {
            License l = v.verify(c.token, c.device, c.now);
            check(l.isActive() && l.getId().equals("lic-0001") && !l.getEdition().isPresent()
                    && l.getEntitlementsJson().contains("\"max_projects\":20")
                    && !l.limit("nope").isPresent() && !l.getCheckInBy().isPresent(),
                    "a license reads as Java values: " + l);
            l.close();
            l.close(); // twice is harmless
            try {
                l.feature("export");
                check(false, "a closed license is not used");
            } catch (IllegalStateException expected) {
                check(true, "a closed license is not used");
            }
            try (State state = new State()) {
                v.verify(c.token, c.device, c.now, state).close();
                String saved = state.encode();
                try (State next = new State(saved)) {
                    check(next.getLastSeen() == c.now, "the state keeps the latest time seen");
                    v.verify(c.token, c.device, c.now - 2 * 86400, next);
                    check(false, "a clock set back two days is refused");
                } catch (ClientVerifierException e) {
                    check(e.getName().equals("ClockRollback"), "a clock set back two days is refused: " + e.getName());
                }
            }
        }
        try (Verifier v = new Verifier(c.keys, c.issuer, "another-product")) {
            v.verify(c.token, c.device, c.now);
            check(false, "another product's verifier refuses");
        } catch (ClientVerifierException e) {
            check(e.getName().equals("WrongProduct") && e.getMessage().contains("another-product"),
                    "another product's verifier refuses: " + e.getMessage());
        }
        try {
            new Verifier(new String[] {"k4.public.nonsense"}, c.issuer, c.product).close();
            check(false, "a bad key is refused");
        } catch (ClientVerifierException e) {
            check(e.getName().equals("BadKey"), "a bad key is refused: " + e.getName());
        }
        String fp = Machine.fingerprint();
        check(fp.split("\\|", -1).length == 4, "this machine has a fingerprint");
        Path dir = Files.createTempDirectory("cv-java-");
        GoldenCases.Case unbound = null;
        for (GoldenCases.Case u : GoldenCases.ALL) {
            if (u.name.equals("unbound_accepted_when_binding_optional")) {
                unbound = u;
            }
        }
        String request = Machine.offlineRequest(unbound.token, c.device, dir.toString());
        check(request.startsWith("lor1.") && request.length() <= 700, "an offline request is made");
        try {
            Machine.offlineReceipt(dir.resolve("never-activated").toString());
            check(false, "no receipt without an activation");
        } catch (ClientVerifierException e) {
            check(e.getName().equals("OfflineState"), "no receipt without an activation: " + e.getName());
        }
        try (Verifier v = new Verifier(c.keys, c.issuer, c.product)) {
            LeaseClient.acquire(v, "http://127.0.0.1:9", c.token, "java-test", c.device, null, false).close();
            check(false, "an unreachable lease server is reported");
        } catch (ClientVerifierException e) {
            check(e.getName().equals("ServerUnreachable"), "an unreachable lease server is reported: " + e.getName());
        }
    }

    public static void main(String[] args) throws Exception {
        licenses();
        rooted();
        api();
        int total = GoldenCases.ALL.length + GoldenCases.ROOTED.length;
        System.out.println("Java binding: " + GoldenCases.ALL.length + " license and "
                + GoldenCases.ROOTED.length + " rooted golden cases (" + total + "), "
                + FAILURES.size() + " checks wrong");
        System.exit(FAILURES.isEmpty() ? 0 : 1);
    }
}
