package clientverifier;

import com.sun.jna.Pointer;

/**
 * A license, key, fingerprint or argument was refused. {@link #getName()} is the reason's
 * stable name, the C ABI's result name ({@code DeviceMismatch}, {@code Revoked},
 * {@code ClockRollback}, {@code BadKey}, …): the same in every language.
 */
public class ClientVerifierException extends Exception {
    private static final long serialVersionUID = 1L;

    private final int code;
    private final String name;

    ClientVerifierException(int code, String name, String message) {
        super(message);
        this.code = code;
        this.name = name;
    }

    static ClientVerifierException last(int code) {
        Pointer name = CLib.LIB.cv_result_name(code);
        Pointer message = CLib.LIB.cv_last_error_message();
        return new ClientVerifierException(code,
                name == null ? "Unknown" : name.getString(0, "UTF-8"),
                message == null ? "" : message.getString(0, "UTF-8"));
    }

    static ClientVerifierException invalid(String message) {
        return new ClientVerifierException(3, "InvalidArgument", message);
    }

    /** The stable name of the reason. */
    public String getName() {
        return name;
    }

    /** The C ABI's numeric result code ({@code CV_RESULT_*}). */
    public int getCode() {
        return code;
    }
}
