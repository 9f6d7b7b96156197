package clientverifier;

import com.sun.jna.Pointer;
import com.sun.jna.StringArray;
import com.sun.jna.ptr.LongByReference;
import com.sun.jna.ptr.PointerByReference;
import java.time.Instant;

/**
 * Checks licenses offline: the signature against the ISV's public keys (or its root), the
 * issuer, the product, validity, the freeze window, the device binding, revocation and clock
 * rollback. Thread-safe; {@link #close()} frees it (the garbage collector would too).
 *
 * <pre>{@code
 * try (Verifier v = new Verifier(new String[] {"k4.public.…"}, "acme-isv", "OFFI454488918838374");
 *      State state = new State(savedText)) {
 *     License l = v.verify(token, state);         // this machine, now
 *     if (l.getStatus() == LicenseStatus.ACTIVE) { … }
 *     save(state.encode());
 * }
 * }</pre>
 */
public final class Verifier implements AutoCloseable {
    /** Accept licenses that carry no device binding ({@code CV_FLAG_BINDING_OPTIONAL}). */
    public static final int BINDING_OPTIONAL = 1;
    /** Require every fingerprint component to match ({@code CV_FLAG_MATCH_ALL}). */
    public static final int MATCH_ALL = 2;

    final Handle handle;

    /** Trusts the PASERK {@code k4.public} keys from {@code licd keys export}. */
    public Verifier(String[] publicKeys, String issuer, String product)
            throws ClientVerifierException {
        this(publicKeys, issuer, product, 0, 0);
    }

    /**
     * As {@link #Verifier(String[], String, String)}, with {@code flags} ({@link
     * #BINDING_OPTIONAL}, {@link #MATCH_ALL}) and the newest revocation list sequence number
     * accepted before.
     */
    public Verifier(String[] publicKeys, String issuer, String product, int flags,
            long minRevocationSeq) throws ClientVerifierException {
        if (publicKeys == null || publicKeys.length == 0) {
            throw ClientVerifierException.invalid("trust at least one public key");
        }
        PointerByReference out = new PointerByReference();
        CLib.check(CLib.LIB.cv_verifier_new(new StringArray(publicKeys, "UTF-8"),
                new CLib.SizeT(publicKeys.length), issuer, product, flags, minRevocationSeq,
                out));
        handle = new Handle(this, out.getValue(), CLib.LIB::cv_verifier_free);
    }

    private Verifier(Pointer p) {
        handle = new Handle(this, p, CLib.LIB::cv_verifier_free);
    }

    /**
     * A verifier that trusts the ISV's root ({@code root.json}, as {@code licctl root init}
     * prints it): tokens signed by any issuing key the root certifies verify, so a new issuing
     * key needs no new build of the application.
     */
    public static Verifier rooted(String rootJson, String issuer, String product, int flags)
            throws ClientVerifierException {
        PointerByReference out = new PointerByReference();
        CLib.check(CLib.LIB.cv_verifier_new_rooted(rootJson, issuer, product, flags, 0, out));
        return new Verifier(out.getValue());
    }

    /** {@link #rooted(String, String, String, int)} with no flags. */
    public static Verifier rooted(String rootJson, String issuer, String product)
            throws ClientVerifierException {
        return rooted(rootJson, issuer, product, 0);
    }

    /**
     * Verifies {@code token} for the machine {@code fingerprint} ({@code null}: this machine)
     * at {@code unixSeconds}, without a state (no clock rollback check).
     */
    public License verify(String token, String fingerprint, long unixSeconds)
            throws ClientVerifierException {
        PointerByReference out = new PointerByReference();
        CLib.check(CLib.LIB.cv_verify(handle.get("verifier"), token, fingerprint, unixSeconds,
                null, out));
        return new License(out.getValue());
    }

    /** Verifies with the state kept between runs; save {@code state.encode()} afterwards. */
    public License verify(String token, String fingerprint, long unixSeconds, State state)
            throws ClientVerifierException {
        PointerByReference out = new PointerByReference();
        CLib.check(CLib.LIB.cv_verify_guarded(handle.get("verifier"), token, fingerprint,
                unixSeconds, state.handle.get("state"), out));
        return new License(out.getValue());
    }

    /** Verifies on this machine at the system clock's time, with the state. */
    public License verify(String token, State state) throws ClientVerifierException {
        return verify(token, null, Instant.now().getEpochSecond(), state);
    }

    /** Loads a signed revocation list; returns its sequence number. */
    public long loadRevocations(String list) throws ClientVerifierException {
        LongByReference seq = new LongByReference();
        CLib.check(CLib.LIB.cv_verifier_load_revocations(handle.get("verifier"), list, seq));
        return seq.getValue();
    }

    /** Loads a revocation list no older than the newest in {@code state}, which advances. */
    public long loadRevocations(String list, State state) throws ClientVerifierException {
        CLib.check(CLib.LIB.cv_verifier_load_revocations_guarded(handle.get("verifier"), list,
                state.handle.get("state")));
        return state.getRevocationSeq();
    }

    /** Loads the root's statement of revoked issuing keys; {@code state} keeps the newest. */
    public long loadKeyRevocations(String statement, State state)
            throws ClientVerifierException {
        CLib.check(CLib.LIB.cv_verifier_load_key_revocations(handle.get("verifier"), statement,
                state.handle.get("state")));
        return state.getKeyRevocationSeq();
    }

    @Override
    public void close() {
        handle.close();
    }
}
