package clientverifier;

import com.sun.jna.Memory;
import com.sun.jna.Pointer;
import com.sun.jna.ptr.IntByReference;
import com.sun.jna.ptr.LongByReference;
import com.sun.jna.ptr.PointerByReference;
import java.time.Instant;
import java.util.Optional;
import java.util.OptionalLong;

/**
 * A license that verified: its status, dates, identity and entitlements. Frozen and expired
 * licenses verify too: read {@link #getStatus()}. The fields are read once, when verified;
 * {@link #feature} and {@link #limit} ask the native license, which {@link #close()} (or the
 * garbage collector) frees.
 */
public final class License implements AutoCloseable {
    private final Handle handle;
    private final LicenseStatus status;
    private final Instant expiresAt;
    private final Instant freezeUntil;
    private final Instant checkInBy;
    private final String id;
    private final String edition;
    private final String origin;
    private final String entitlementsJson;
    private final int revision;
    private final int quantity;

    License(Pointer p) throws ClientVerifierException {
        handle = new Handle(this, p, CLib.LIB::cv_license_free);
        IntByReference i = new IntByReference();
        LongByReference l = new LongByReference();
        PointerByReference s = new PointerByReference();
        CLib.check(CLib.LIB.cv_license_status(p, i));
        status = LicenseStatus.of(i.getValue());
        CLib.check(CLib.LIB.cv_license_expires_at(p, l));
        expiresAt = Instant.ofEpochSecond(l.getValue());
        CLib.check(CLib.LIB.cv_license_freeze_until(p, l));
        freezeUntil = Instant.ofEpochSecond(l.getValue());
        CLib.check(CLib.LIB.cv_license_check_in_by(p, l));
        checkInBy = l.getValue() == 0 ? null : Instant.ofEpochSecond(l.getValue());
        CLib.check(CLib.LIB.cv_license_revision(p, i));
        revision = i.getValue();
        CLib.check(CLib.LIB.cv_license_quantity(p, i));
        quantity = i.getValue();
        CLib.check(CLib.LIB.cv_license_id(p, s));
        id = CLib.borrow(s);
        CLib.check(CLib.LIB.cv_license_edition(p, s));
        String e = CLib.borrow(s);
        edition = e == null || e.isEmpty() ? null : e;
        CLib.check(CLib.LIB.cv_license_origin(p, s));
        String o = CLib.borrow(s);
        origin = o == null || o.isEmpty() ? null : o;
        CLib.check(CLib.LIB.cv_license_entitlements_json(p, s));
        entitlementsJson = CLib.borrow(s);
    }

    public LicenseStatus getStatus() {
        return status;
    }

    /** Whether the license is in force now. */
    public boolean isActive() {
        return status == LicenseStatus.ACTIVE;
    }

    /** The end of the paid period. */
    public Instant getExpiresAt() {
        return expiresAt;
    }

    /** The end of the freeze window. */
    public Instant getFreezeUntil() {
        return freezeUntil;
    }

    /** The check-in deadline, when the product sets one. */
    public Optional<Instant> getCheckInBy() {
        return Optional.ofNullable(checkInBy);
    }

    /** The license id ({@code jti}). */
    public String getId() {
        return id;
    }

    /** The edition, when the issuer names one. */
    public Optional<String> getEdition() {
        return Optional.ofNullable(edition);
    }

    /** {@code "direct"} or {@code "trial"} for a license the ISV issued itself; empty for a marketplace one. */
    public Optional<String> getOrigin() {
        return Optional.ofNullable(origin);
    }

    /** An evaluation the ISV issued: show the user it is one. */
    public boolean isTrial() {
        return "trial".equals(origin);
    }

    /** The entitlements as a JSON object. */
    public String getEntitlementsJson() {
        return entitlementsJson;
    }

    public int getRevision() {
        return revision;
    }

    public int getQuantity() {
        return quantity;
    }

    /** Whether the feature flag {@code name} is on. */
    public boolean feature(String name) throws ClientVerifierException {
        Memory out = new Memory(1);
        out.setByte(0, (byte) 0);
        CLib.check(CLib.LIB.cv_license_feature(handle.get("license"), name, out));
        return out.getByte(0) != 0;
    }

    /** The integer limit {@code name}, empty when the license sets none. */
    public OptionalLong limit(String name) throws ClientVerifierException {
        LongByReference value = new LongByReference();
        Memory present = new Memory(1);
        present.setByte(0, (byte) 0);
        CLib.check(CLib.LIB.cv_license_limit(handle.get("license"), name, value, present));
        return present.getByte(0) != 0 ? OptionalLong.of(value.getValue()) : OptionalLong.empty();
    }

    @Override
    public String toString() {
        return "License(" + id + ", " + status.wireName() + ", expires " + expiresAt + ")";
    }

    @Override
    public void close() {
        handle.close();
    }
}
