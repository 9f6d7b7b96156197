package clientverifier;

import com.sun.jna.ptr.IntByReference;
import com.sun.jna.ptr.LongByReference;
import com.sun.jna.ptr.PointerByReference;

/**
 * A floating license's seat, leased from licd and renewed on a thread of the library until
 * {@link #close()} gives it back. Every lease is verified with the application's verifier.
 */
public final class LeaseClient implements AutoCloseable {
    /** Where the client stands. */
    public enum State { LEASED, RENEWING, LOST, REFUSED }

    private final Handle handle;

    private LeaseClient(com.sun.jna.Pointer p) {
        handle = new Handle(this, p, CLib.LIB::cv_lease_client_free);
    }

    /**
     * Leases a seat of the floating license {@code license} (its token) from {@code server}
     * for this running program {@code instance}; blocks for one request. {@code fingerprint}
     * and {@code caPem} may be {@code null} (this machine; the Mozilla roots).
     */
    public static LeaseClient acquire(Verifier verifier, String server, String license,
            String instance, String fingerprint, String caPem, boolean allowPlainHttp)
            throws ClientVerifierException {
        PointerByReference out = new PointerByReference();
        CLib.check(CLib.LIB.cv_lease_client_acquire(verifier.handle.get("verifier"), server,
                license, instance, fingerprint, caPem, allowPlainHttp ? 1 : 0, out));
        return new LeaseClient(out.getValue());
    }

    /** Whether the program may use its licensed features now. */
    public boolean isValid() {
        return CLib.LIB.cv_lease_client_valid(handle.get("lease client")) != 0;
    }

    public State getState() throws ClientVerifierException {
        IntByReference state = new IntByReference();
        CLib.check(CLib.LIB.cv_lease_client_state(handle.get("lease client"), state, null, null));
        return State.values()[state.getValue()];
    }

    /** The seat held. */
    public int getSeat() throws ClientVerifierException {
        IntByReference seat = new IntByReference();
        CLib.check(CLib.LIB.cv_lease_client_state(handle.get("lease client"), null, seat, null));
        return seat.getValue();
    }

    /** How many seconds the lease held stays valid. */
    public long getValidForSeconds() throws ClientVerifierException {
        LongByReference secs = new LongByReference();
        CLib.check(CLib.LIB.cv_lease_client_state(handle.get("lease client"), null, null, secs));
        return secs.getValue();
    }

    /** The lease token held. */
    public String getToken() throws ClientVerifierException {
        PointerByReference out = new PointerByReference();
        CLib.check(CLib.LIB.cv_lease_client_token(handle.get("lease client"), out));
        return CLib.take(out);
    }

    /** The lease's entitlements as a JSON object. */
    public String getEntitlementsJson() throws ClientVerifierException {
        PointerByReference out = new PointerByReference();
        CLib.check(CLib.LIB.cv_lease_client_entitlements_json(handle.get("lease client"), out));
        return CLib.take(out);
    }

    /** Gives the seat back and stops renewing. */
    @Override
    public void close() {
        handle.close();
    }
}
