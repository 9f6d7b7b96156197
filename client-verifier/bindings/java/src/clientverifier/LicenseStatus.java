package clientverifier;

/** Where a license stands when it was verified ({@code CV_STATUS_*}). */
public enum LicenseStatus {
    /** In force until {@link License#getExpiresAt()}. */
    ACTIVE,
    /** Locked, data kept: renew before {@link License#getFreezeUntil()} to unlock. */
    FROZEN,
    /** Past the freeze window. */
    EXPIRED,
    /** Paid for, but the machine has not checked in by {@link License#getCheckInBy()}. */
    CHECK_IN_REQUIRED,
    /** A floating license: run on a lease of one of its seats ({@link LeaseClient}). */
    LEASE_REQUIRED;

    static LicenseStatus of(int code) {
        switch (code) {
            case 1: return ACTIVE;
            case 2: return FROZEN;
            case 3: return EXPIRED;
            case 4: return CHECK_IN_REQUIRED;
            case 5: return LEASE_REQUIRED;
            default: throw new IllegalStateException("unknown license status " + code);
        }
    }

    /** The name the other languages use: {@code active}, {@code check_in_required}, … */
    public String wireName() {
        return name().toLowerCase(java.util.Locale.ROOT);
    }
}
