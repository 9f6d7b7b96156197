package clientverifier;

import com.sun.jna.ptr.IntByReference;
import com.sun.jna.ptr.LongByReference;
import com.sun.jna.ptr.PointerByReference;

/**
 * What the application keeps between runs: the latest time seen (clock rollback), the newest
 * revocation list, key revocation statement and root version accepted. Save {@link #encode()}
 * after each verification, whatever its result; give the text to {@code new State(text)} at
 * the next start.
 */
public final class State implements AutoCloseable {
    final Handle handle;

    /** A first run's state. */
    public State() throws ClientVerifierException {
        this(null);
    }

    /** The state saved last run ({@code null} or empty: a first run's). */
    public State(String text) throws ClientVerifierException {
        PointerByReference out = new PointerByReference();
        CLib.check(CLib.LIB.cv_guard_new(text, out));
        handle = new Handle(this, out.getValue(), CLib.LIB::cv_guard_free);
    }

    /** The text to save. */
    public String encode() throws ClientVerifierException {
        PointerByReference out = new PointerByReference();
        CLib.check(CLib.LIB.cv_guard_encode(handle.get("state"), out));
        return CLib.take(out);
    }

    /** The latest time seen, seconds since 1970. */
    public long getLastSeen() throws ClientVerifierException {
        LongByReference v = new LongByReference();
        CLib.check(CLib.LIB.cv_guard_read(handle.get("state"), v, null, null, null));
        return v.getValue();
    }

    /** The newest revocation list accepted. */
    public long getRevocationSeq() throws ClientVerifierException {
        LongByReference v = new LongByReference();
        CLib.check(CLib.LIB.cv_guard_read(handle.get("state"), null, v, null, null));
        return v.getValue();
    }

    /** The newest statement of revoked issuing keys accepted. */
    public long getKeyRevocationSeq() throws ClientVerifierException {
        LongByReference v = new LongByReference();
        CLib.check(CLib.LIB.cv_guard_read(handle.get("state"), null, null, v, null));
        return v.getValue();
    }

    /** The newest root version accepted. */
    public int getRootVersion() throws ClientVerifierException {
        IntByReference v = new IntByReference();
        CLib.check(CLib.LIB.cv_guard_read(handle.get("state"), null, null, null, v));
        return v.getValue();
    }

    @Override
    public void close() {
        handle.close();
    }
}
