package clientverifier;

import com.sun.jna.ptr.PointerByReference;

/** This machine: its fingerprint, and air-gapped activation. */
public final class Machine {
    private Machine() {}

    /** This machine's fingerprint ({@code MAC|disk|board|CPU}). */
    public static String fingerprint() throws ClientVerifierException {
        PointerByReference out = new PointerByReference();
        CLib.check(CLib.LIB.cv_machine_fingerprint(out));
        return CLib.take(out);
    }

    /**
     * An activation request ({@code lor1.…}) for an air-gapped machine: the unbound license
     * {@code token} bound to this machine ({@code fingerprint} {@code null}) or the one named,
     * signed with the device key kept in {@code stateDir}.
     */
    public static String offlineRequest(String token, String fingerprint, String stateDir)
            throws ClientVerifierException {
        PointerByReference out = new PointerByReference();
        CLib.check(CLib.LIB.cv_offline_request(token, fingerprint, stateDir, out));
        return CLib.take(out);
    }

    /** A deactivation receipt ({@code ldr1.…}) giving back this machine's seat. */
    public static String offlineReceipt(String stateDir) throws ClientVerifierException {
        PointerByReference out = new PointerByReference();
        CLib.check(CLib.LIB.cv_offline_receipt(stateDir, out));
        return CLib.take(out);
    }

    /** The C ABI version of the loaded library. */
    public static int abiVersion() {
        return CLib.LIB.cv_abi_version();
    }
}
