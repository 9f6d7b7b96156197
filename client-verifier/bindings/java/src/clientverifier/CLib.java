package clientverifier;

import com.sun.jna.IntegerType;
import com.sun.jna.Library;
import com.sun.jna.Native;
import com.sun.jna.Pointer;
import com.sun.jna.ptr.IntByReference;
import com.sun.jna.ptr.LongByReference;
import com.sun.jna.ptr.PointerByReference;
import java.util.Map;

/**
 * The C ABI of libclient_verifier ({@code include/client_verifier.h}), as JNA maps it. Not for
 * applications: {@link Verifier}, {@link License}, {@link State}, {@link Machine} and
 * {@link LeaseClient} are the API.
 */
interface CLib extends Library {
    /** The ABI this binding was written for ({@code CV_ABI_VERSION}). */
    int ABI_VERSION = 1;

    CLib LIB = load();

    static CLib load() {
        // Strings cross as UTF-8 whatever the platform's default charset is.
        CLib lib = Native.load("client_verifier", CLib.class,
                Map.of(Library.OPTION_STRING_ENCODING, "UTF-8"));
        int abi = lib.cv_abi_version();
        if (abi != ABI_VERSION) {
            throw new UnsatisfiedLinkError("libclient_verifier has ABI " + abi
                    + ", this binding needs " + ABI_VERSION);
        }
        return lib;
    }

    /** {@code size_t}, as wide as the platform's pointers. */
    final class SizeT extends IntegerType {
        private static final long serialVersionUID = 1L;

        public SizeT() {
            this(0);
        }

        SizeT(long value) {
            super(Native.SIZE_T_SIZE, value, true);
        }
    }

    int cv_abi_version();

    Pointer cv_last_error_message();

    Pointer cv_result_name(int code);

    int cv_verifier_new(Pointer publicKeys, SizeT keyCount, String issuer, String product,
            int flags, long minRevocationSeq, PointerByReference out);

    int cv_verifier_new_rooted(String rootJson, String issuer, String product, int flags,
            long minRevocationSeq, PointerByReference out);

    void cv_verifier_free(Pointer verifier);

    int cv_verifier_load_revocations(Pointer verifier, String list, LongByReference seq);

    int cv_verify(Pointer verifier, String token, String fingerprint, long unixTime,
            Pointer guardLastSeen, PointerByReference out);

    int cv_guard_new(String text, PointerByReference out);

    int cv_guard_encode(Pointer guard, PointerByReference out);

    int cv_guard_read(Pointer guard, LongByReference lastSeen, LongByReference revocationSeq,
            LongByReference keyRevocationSeq, IntByReference rootVersion);

    void cv_guard_free(Pointer guard);

    int cv_verify_guarded(Pointer verifier, String token, String fingerprint, long unixTime,
            Pointer guard, PointerByReference out);

    int cv_verifier_load_revocations_guarded(Pointer verifier, String list, Pointer guard);

    int cv_verifier_load_key_revocations(Pointer verifier, String statement, Pointer guard);

    void cv_license_free(Pointer license);

    int cv_license_status(Pointer license, IntByReference out);

    int cv_license_expires_at(Pointer license, LongByReference out);

    int cv_license_freeze_until(Pointer license, LongByReference out);

    int cv_license_check_in_by(Pointer license, LongByReference out);

    int cv_license_revision(Pointer license, IntByReference out);

    int cv_license_quantity(Pointer license, IntByReference out);

    int cv_license_id(Pointer license, PointerByReference out);

    int cv_license_edition(Pointer license, PointerByReference out);

    int cv_license_origin(Pointer license, PointerByReference out);

    int cv_license_entitlements_json(Pointer license, PointerByReference out);

    int cv_license_feature(Pointer license, String name, Pointer out);

    int cv_license_limit(Pointer license, String name, LongByReference out, Pointer present);

    int cv_machine_fingerprint(PointerByReference out);

    int cv_offline_request(String token, String fingerprint, String stateDir,
            PointerByReference out);

    int cv_offline_receipt(String stateDir, PointerByReference out);

    void cv_string_free(Pointer s);

    int cv_lease_client_acquire(Pointer verifier, String server, String license,
            String instance, String fingerprint, String caPem, int allowPlainHttp,
            PointerByReference out);

    int cv_lease_client_valid(Pointer client);

    int cv_lease_client_state(Pointer client, IntByReference state, IntByReference seat,
            LongByReference validForSecs);

    int cv_lease_client_token(Pointer client, PointerByReference out);

    int cv_lease_client_entitlements_json(Pointer client, PointerByReference out);

    void cv_lease_client_free(Pointer client);

    /** Throws the library's last error for a nonzero result. */
    static void check(int code) throws ClientVerifierException {
        if (code != 0) {
            throw ClientVerifierException.last(code);
        }
    }

    /** A string the library allocated, copied out and freed. */
    static String take(PointerByReference out) {
        Pointer p = out.getValue();
        if (p == null) {
            return null;
        }
        try {
            return p.getString(0, "UTF-8");
        } finally {
            LIB.cv_string_free(p);
        }
    }

    /** A string that belongs to a live handle, copied out. */
    static String borrow(PointerByReference out) {
        Pointer p = out.getValue();
        return p == null ? null : p.getString(0, "UTF-8");
    }
}
