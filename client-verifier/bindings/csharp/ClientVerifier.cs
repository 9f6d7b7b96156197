// client-verifier for C#: P/Invoke over the C ABI (client_verifier.h).
//
// Owned pointers live in SafeHandles, so the library's objects are released even when an
// exception unwinds past them; strings cross as UTF-8 both ways; a refusal is a
// ClientVerifierException carrying the library's code and its stable name ("DeviceMismatch").
//
// The native library is libclient_verifier.so (Linux), client_verifier.dll (Windows) or
// libclient_verifier.dylib (macOS), found by the usual rules of the runtime (next to the
// program, or on the library path). Builds with Mono's mcs and with .NET (C# 7 and later).
using System;
using System.Runtime.InteropServices;
using System.Text;

namespace ClientVerifier
{
    /// <summary>Where a verified license stands.</summary>
    public enum LicenseStatus
    {
        Active = 1,
        /// <summary>Past its paid period, within the freeze window: renewal due.</summary>
        Frozen = 2,
        Expired = 3,
        /// <summary>The machine had to check in with the issuer by CheckInBy.</summary>
        CheckInRequired = 4,
        /// <summary>A floating license in force until ExpiresAt: the application runs on a
        /// lease of one of its seats, not on the license itself.</summary>
        LeaseRequired = 5,
    }

    /// <summary>Flags for <see cref="Verifier"/>.</summary>
    [Flags]
    public enum VerifierFlags : uint
    {
        None = 0,
        /// <summary>Accept licenses not bound to a device (bound ones are still matched).</summary>
        BindingOptional = 1,
        /// <summary>Every bound component must still match, not the tolerant two.</summary>
        MatchAll = 2,
    }

    /// <summary>A call the library refused.</summary>
    public sealed class ClientVerifierException : Exception
    {
        /// <summary>The cv_result code (100 and up: the license itself was refused).</summary>
        public int Code { get; }
        /// <summary>The code's stable name, for logs: "DeviceMismatch", "Revoked", …</summary>
        public string ErrorName { get; }

        internal ClientVerifierException(int code, string name, string message)
            : base(name + ": " + message)
        {
            Code = code;
            ErrorName = name;
        }
    }

    /// <summary>The persisted state: save <see cref="Encode"/>'s text after every check.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct State
    {
        public long LastSeen;
        public ulong RevocationSeq;

        public static State Decode(string text)
        {
            var s = new State();
            if (!string.IsNullOrEmpty(text))
                Native.Check(Native.cv_state_decode(Native.Utf8(text), out s));
            return s;
        }

        public string Encode()
        {
            Native.StringHandle text;
            Native.Check(Native.cv_state_encode(ref this, out text));
            using (text) return text.Value;
        }
    }

    /// <summary>The whole persisted state, for a verifier that trusts a root (and any other):
    /// what <see cref="State"/> holds, and the root version accepted and the root's newest key
    /// revocations loaded, so that deleting the stored root or statement cannot bring back what
    /// they replaced. Save <see cref="Encode"/>'s text after every check; it reads the text of
    /// every earlier version, a <see cref="State"/>'s included. Owns a native handle: dispose
    /// it.</summary>
    public sealed class Guard : IDisposable
    {
        internal readonly Native.GuardHandle Handle;

        /// <summary>A fresh state (the first run).</summary>
        public Guard() : this((string)null) { }

        Guard(string text)
        {
            Native.Check(Native.cv_guard_new(Native.Utf8(text), out Handle));
        }

        /// <summary>The state saved as <paramref name="text"/> (null or empty: a fresh one).</summary>
        public static Guard Decode(string text) => new Guard(string.IsNullOrEmpty(text) ? null : text);

        public string Encode()
        {
            Native.StringHandle text;
            Native.Check(Native.cv_guard_encode(Handle, out text));
            using (text) return text.Value;
        }

        public long LastSeen { get { long v; ulong a, b; uint r; Read(out v, out a, out b, out r); return v; } }
        public ulong RevocationSeq { get { long v; ulong a, b; uint r; Read(out v, out a, out b, out r); return a; } }
        public ulong KeyRevocationSeq { get { long v; ulong a, b; uint r; Read(out v, out a, out b, out r); return b; } }
        public uint RootVersion { get { long v; ulong a, b; uint r; Read(out v, out a, out b, out r); return r; } }

        void Read(out long lastSeen, out ulong revocationSeq, out ulong keyRevocationSeq, out uint rootVersion)
        {
            Native.Check(Native.cv_guard_read(Handle, out lastSeen, out revocationSeq,
                out keyRevocationSeq, out rootVersion));
        }

        public void Dispose() => Handle.Dispose();
    }

    /// <summary>Trusted keys, expected issuer and product, the revocation list in use.</summary>
    public sealed class Verifier : IDisposable
    {
        readonly Native.VerifierHandle handle;
        internal Native.VerifierHandle Handle => handle;

        public Verifier(string[] publicKeys, string issuer, string product,
                        VerifierFlags flags = VerifierFlags.None, ulong minRevocationSeq = 0)
        {
            if (publicKeys == null) throw new ArgumentNullException(nameof(publicKeys));
            var pointers = new IntPtr[publicKeys.Length];
            try
            {
                for (int i = 0; i < publicKeys.Length; i++)
                    pointers[i] = Native.AllocUtf8(publicKeys[i]);
                Native.Check(Native.cv_verifier_new(pointers, (UIntPtr)pointers.Length,
                    Native.Utf8(issuer), Native.Utf8(product), (uint)flags, minRevocationSeq,
                    out handle));
            }
            finally
            {
                foreach (var p in pointers)
                    if (p != IntPtr.Zero) Marshal.FreeHGlobal(p);
            }
        }

        Verifier(Native.VerifierHandle handle) { this.handle = handle; }

        /// <summary>A verifier that trusts a root (root.json, or the newest root document the
        /// application stored) instead of keys: tokens verify through the certificate in their
        /// footer.</summary>
        public static Verifier Rooted(string rootJson, string issuer, string product,
                                      VerifierFlags flags = VerifierFlags.None, ulong minRevocationSeq = 0)
        {
            Native.VerifierHandle h;
            Native.Check(Native.cv_verifier_new_rooted(Native.Utf8(rootJson), Native.Utf8(issuer),
                Native.Utf8(product), (uint)flags, minRevocationSeq, out h));
            return new Verifier(h);
        }

        /// <summary>Under a root: loads the root's statement of revoked keys (the "keys" field of
        /// licd's GET /v1/revocations), before the list it came with. Store it beside the
        /// state.</summary>
        public void LoadKeyRevocations(string statementJson, Guard state)
        {
            Native.Check(Native.cv_verifier_load_key_revocations(handle, Native.Utf8(statementJson), state.Handle));
        }

        /// <summary>Under a root: follows licd's GET /v1/root body (or a JSON array of root
        /// documents). Returns the new root document to store when the root moved on, null
        /// otherwise.</summary>
        public string UpdateRoot(string documents, Guard state)
        {
            Native.StringHandle doc;
            Native.Check(Native.cv_verifier_update_root(handle, Native.Utf8(documents), state.Handle, out doc));
            using (doc) return doc.IsInvalid ? null : doc.Value;
        }

        /// <summary>Loads a list, refusing one older than <paramref name="state"/> has seen.</summary>
        public void LoadRevocations(string list, Guard state)
        {
            Native.Check(Native.cv_verifier_load_revocations_guarded(handle, Native.Utf8(list), state.Handle));
        }

        /// <summary>Verifies at <paramref name="unixTime"/> with the whole persisted state (moved
        /// forward on success). fingerprint null: this machine's.</summary>
        public License Verify(string token, string fingerprint, long unixTime, Guard state)
        {
            Native.LicenseHandle lic;
            Native.Check(Native.cv_verify_guarded(handle, Native.Utf8(token),
                Native.Utf8(fingerprint), unixTime, state.Handle, out lic));
            return new License(lic);
        }

        /// <summary>Loads a signed revocation list; returns its sequence number.</summary>
        public ulong LoadRevocations(string list)
        {
            ulong seq;
            Native.Check(Native.cv_verifier_load_revocations(handle, Native.Utf8(list), out seq));
            return seq;
        }

        /// <summary>Verifies at <paramref name="unixTime"/>. fingerprint null: this machine's.
        /// <paramref name="guardLastSeen"/> is the clock-rollback guard: persist it.</summary>
        public License Verify(string token, string fingerprint, long unixTime, ref long guardLastSeen)
        {
            Native.LicenseHandle lic;
            Native.Check(Native.cv_verify(handle, Native.Utf8(token), Native.Utf8(fingerprint),
                unixTime, ref guardLastSeen, out lic));
            return new License(lic);
        }

        /// <summary>Verifies now, with the whole persisted state (moved forward on success).</summary>
        public License VerifyNow(string token, string fingerprint, ref State state)
        {
            long now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
            Native.LicenseHandle lic;
            Native.Check(Native.cv_verify_with_state(handle, Native.Utf8(token),
                Native.Utf8(fingerprint), now, ref state, out lic));
            return new License(lic);
        }

        /// <summary>Verifies now with the whole state (moved forward on success).</summary>
        public License VerifyNow(string token, string fingerprint, Guard state)
        {
            return Verify(token, fingerprint, DateTimeOffset.UtcNow.ToUnixTimeSeconds(), state);
        }

        public void Dispose() => handle.Dispose();
    }

    /// <summary>A license that verified (read <see cref="Status"/>).</summary>
    public sealed class License : IDisposable
    {
        readonly Native.LicenseHandle handle;

        internal License(Native.LicenseHandle h) { handle = h; }

        public LicenseStatus Status
        {
            get { int s; Native.Check(Native.cv_license_status(handle, out s)); return (LicenseStatus)s; }
        }
        public long ExpiresAt => I64(Native.cv_license_expires_at);
        public long FreezeUntil => I64(Native.cv_license_freeze_until);
        /// <summary>0 when no check-in is required.</summary>
        public long CheckInBy => I64(Native.cv_license_check_in_by);
        public uint Revision
        {
            get { uint v; Native.Check(Native.cv_license_revision(handle, out v)); return v; }
        }
        public uint Quantity
        {
            get { uint v; Native.Check(Native.cv_license_quantity(handle, out v)); return v; }
        }
        public string Id => Str(Native.cv_license_id);
        public string Edition => Str(Native.cv_license_edition);
        /// <summary>"direct" or "trial" for a license the ISV issued itself; empty for a marketplace one.</summary>
        public string Origin => Str(Native.cv_license_origin);
        public string EntitlementsJson => Str(Native.cv_license_entitlements_json);

        /// <summary>Whether the feature flag is on (its entitlement is true).</summary>
        public bool Feature(string name)
        {
            byte on;
            Native.Check(Native.cv_license_feature(handle, Native.Utf8(name), out on));
            return on != 0;
        }

        /// <summary>The integer limit, or null when there is none.</summary>
        public long? Limit(string name)
        {
            long value = 0;
            byte present;
            Native.Check(Native.cv_license_limit(handle, Native.Utf8(name), ref value, out present));
            return present != 0 ? value : (long?)null;
        }

        long I64(Native.I64Getter f)
        {
            long v;
            Native.Check(f(handle, out v));
            return v;
        }

        string Str(Native.StrGetter f)
        {
            IntPtr p;
            Native.Check(f(handle, out p));
            string s = Native.FromUtf8(p);
            // The string belongs to the license: keep it alive until the copy is made.
            GC.KeepAlive(this);
            return s;
        }

        public void Dispose() => handle.Dispose();
    }

    /// <summary>This machine, and air-gapped activation.</summary>
    /// <summary>Where a <see cref="LeaseClient"/> stands.</summary>
    public enum LeaseState
    {
        /// <summary>A lease is held and the last renewal succeeded.</summary>
        Leased = 0,
        /// <summary>A lease is held, but renewing it failed; retrying until it ends.</summary>
        Renewing = 1,
        /// <summary>The lease ended; asking for a seat again in the background.</summary>
        Lost = 2,
        /// <summary>The license cannot lease any more (revoked, frozen): the client stopped.</summary>
        Refused = 3,
    }

    /// <summary>A floating license's lease (a native library built with feature
    /// <c>ffi-lease</c>): the constructor leases a seat (one blocking request), the library
    /// renews it in the background, and <see cref="Dispose"/> gives the seat back. A refusal is a
    /// <see cref="ClientVerifierException"/>: "SeatsTaken", "LeaseRefused", "ServerUnreachable",
    /// or why the server's lease did not verify.</summary>
    public sealed class LeaseClient : IDisposable
    {
        readonly Native.LeaseClientHandle handle;

        /// <param name="server">licd's base URL (https; plain http only to loopback unless
        /// <paramref name="allowPlainHttp"/>).</param>
        /// <param name="fingerprint">null for this machine's.</param>
        /// <param name="caPem">PEM of the only CA certificates to trust, or null for Mozilla's roots.</param>
        public LeaseClient(Verifier verifier, string server, string license, string instance,
                           string fingerprint = null, string caPem = null, bool allowPlainHttp = false)
        {
            if (verifier == null) throw new ArgumentNullException(nameof(verifier));
            Native.Check(Native.cv_lease_client_acquire(verifier.Handle, Native.Utf8(server),
                Native.Utf8(license), Native.Utf8(instance), Native.Utf8(fingerprint),
                Native.Utf8(caPem), allowPlainHttp ? 1 : 0, out handle));
        }

        /// <summary>Whether the program may use its licensed features now.</summary>
        public bool Valid => Native.cv_lease_client_valid(handle) != 0;

        /// <summary>The state, the seat held and how long the lease held stays valid.</summary>
        public LeaseState State => Status().Item1;
        public uint Seat => Status().Item2;
        public TimeSpan ValidFor => TimeSpan.FromSeconds(Status().Item3);

        Tuple<LeaseState, uint, ulong> Status()
        {
            int state;
            uint seat;
            ulong validFor;
            Native.Check(Native.cv_lease_client_state(handle, out state, out seat, out validFor));
            return Tuple.Create((LeaseState)state, seat, validFor);
        }

        /// <summary>The lease's feature flags and limits, as a JSON object.</summary>
        public string EntitlementsJson()
        {
            Native.StringHandle s;
            Native.Check(Native.cv_lease_client_entitlements_json(handle, out s));
            using (s) return s.Value;
        }

        /// <summary>Stops renewing and gives the seat back.</summary>
        public void Dispose() => handle.Dispose();
    }

    public static class Machine
    {
        /// <summary>This machine's fingerprint (MAC|disk|board|CPU), for support.</summary>
        public static string Fingerprint()
        {
            Native.StringHandle s;
            Native.Check(Native.cv_machine_fingerprint(out s));
            using (s) return s.Value;
        }

        /// <summary>An activation request (lor1.…) for the unbound license; see docs/offline.md.</summary>
        public static string OfflineRequest(string token, string fingerprint, string stateDir)
        {
            Native.StringHandle s;
            Native.Check(Native.cv_offline_request(Native.Utf8(token), Native.Utf8(fingerprint),
                Native.Utf8(stateDir), out s));
            using (s) return s.Value;
        }

        /// <summary>The receipt (ldr1.…) giving this machine's seat back.</summary>
        public static string OfflineReceipt(string stateDir)
        {
            Native.StringHandle s;
            Native.Check(Native.cv_offline_receipt(Native.Utf8(stateDir), out s));
            using (s) return s.Value;
        }

        /// <summary>The library's C ABI version, to compare with <see cref="Native.AbiVersion"/>.</summary>
        public static uint AbiVersion() => Native.cv_abi_version();
    }

    /// <summary>The C functions, as declared in client_verifier.h.</summary>
    public static class Native
    {
        const string Lib = "client_verifier";
        /// <summary>CV_ABI_VERSION of the header these declarations follow.</summary>
        public const uint AbiVersion = 1;

        public sealed class VerifierHandle : SafeHandle
        {
            VerifierHandle() : base(IntPtr.Zero, true) { }
            public override bool IsInvalid => handle == IntPtr.Zero;
            protected override bool ReleaseHandle() { cv_verifier_free(handle); return true; }
        }

        public sealed class LicenseHandle : SafeHandle
        {
            LicenseHandle() : base(IntPtr.Zero, true) { }
            public override bool IsInvalid => handle == IntPtr.Zero;
            protected override bool ReleaseHandle() { cv_license_free(handle); return true; }
        }

        /// <summary>A string the library allocated, freed with cv_string_free.</summary>
        public sealed class GuardHandle : SafeHandle
        {
            GuardHandle() : base(IntPtr.Zero, true) { }
            public override bool IsInvalid => handle == IntPtr.Zero;
            protected override bool ReleaseHandle() { cv_guard_free(handle); return true; }
        }

        public sealed class LeaseClientHandle : SafeHandle
        {
            LeaseClientHandle() : base(IntPtr.Zero, true) { }
            public override bool IsInvalid => handle == IntPtr.Zero;
            protected override bool ReleaseHandle() { cv_lease_client_free(handle); return true; }
        }

        public sealed class StringHandle : SafeHandle
        {
            StringHandle() : base(IntPtr.Zero, true) { }
            public override bool IsInvalid => handle == IntPtr.Zero;
            public string Value => FromUtf8(handle);
            protected override bool ReleaseHandle() { cv_string_free(handle); return true; }
        }

        internal delegate int I64Getter(LicenseHandle l, out long v);
        internal delegate int StrGetter(LicenseHandle l, out IntPtr s);

        [DllImport(Lib)] internal static extern uint cv_abi_version();
        [DllImport(Lib)] internal static extern IntPtr cv_last_error_message();
        [DllImport(Lib)] internal static extern IntPtr cv_result_name(int code);
        [DllImport(Lib)] internal static extern int cv_verifier_new(IntPtr[] keys, UIntPtr count,
            byte[] issuer, byte[] product, uint flags, ulong minRevocationSeq, out VerifierHandle v);
        [DllImport(Lib)] internal static extern void cv_verifier_free(IntPtr v);
        [DllImport(Lib)] internal static extern int cv_verifier_load_revocations(VerifierHandle v,
            byte[] list, out ulong seq);
        [DllImport(Lib)] internal static extern int cv_verify(VerifierHandle v, byte[] token,
            byte[] fingerprint, long unixTime, ref long guard, out LicenseHandle license);
        [DllImport(Lib)] internal static extern int cv_verify_with_state(VerifierHandle v,
            byte[] token, byte[] fingerprint, long unixTime, ref State state, out LicenseHandle license);
        [DllImport(Lib)] internal static extern int cv_state_decode(byte[] text, out State state);
        [DllImport(Lib)] internal static extern int cv_state_encode(ref State state, out StringHandle text);
        [DllImport(Lib)] internal static extern int cv_guard_new(byte[] text, out GuardHandle guard);
        [DllImport(Lib)] internal static extern int cv_guard_encode(GuardHandle guard, out StringHandle text);
        [DllImport(Lib)] internal static extern int cv_guard_read(GuardHandle guard, out long lastSeen,
            out ulong revocationSeq, out ulong keyRevocationSeq, out uint rootVersion);
        [DllImport(Lib)] internal static extern void cv_guard_free(IntPtr guard);
        [DllImport(Lib)] internal static extern int cv_verify_guarded(VerifierHandle v,
            byte[] token, byte[] fingerprint, long unixTime, GuardHandle guard, out LicenseHandle license);
        [DllImport(Lib)] internal static extern int cv_verifier_load_revocations_guarded(VerifierHandle v,
            byte[] list, GuardHandle guard);
        [DllImport(Lib)] internal static extern int cv_verifier_new_rooted(byte[] rootJson, byte[] issuer,
            byte[] product, uint flags, ulong minRevocationSeq, out VerifierHandle v);
        [DllImport(Lib)] internal static extern int cv_verifier_load_key_revocations(VerifierHandle v,
            byte[] statement, GuardHandle guard);
        [DllImport(Lib)] internal static extern int cv_verifier_update_root(VerifierHandle v,
            byte[] documents, GuardHandle guard, out StringHandle newRoot);
        [DllImport(Lib)] internal static extern void cv_license_free(IntPtr l);
        [DllImport(Lib)] internal static extern int cv_license_status(LicenseHandle l, out int status);
        [DllImport(Lib)] internal static extern int cv_license_expires_at(LicenseHandle l, out long v);
        [DllImport(Lib)] internal static extern int cv_license_freeze_until(LicenseHandle l, out long v);
        [DllImport(Lib)] internal static extern int cv_license_check_in_by(LicenseHandle l, out long v);
        [DllImport(Lib)] internal static extern int cv_license_revision(LicenseHandle l, out uint v);
        [DllImport(Lib)] internal static extern int cv_license_quantity(LicenseHandle l, out uint v);
        [DllImport(Lib)] internal static extern int cv_license_id(LicenseHandle l, out IntPtr s);
        [DllImport(Lib)] internal static extern int cv_license_edition(LicenseHandle l, out IntPtr s);
        [DllImport(Lib)] internal static extern int cv_license_origin(LicenseHandle l, out IntPtr s);
        [DllImport(Lib)] internal static extern int cv_license_entitlements_json(LicenseHandle l, out IntPtr s);
        [DllImport(Lib)] internal static extern int cv_license_feature(LicenseHandle l, byte[] name, out byte on);
        [DllImport(Lib)] internal static extern int cv_license_limit(LicenseHandle l, byte[] name,
            ref long value, out byte present);
        [DllImport(Lib)] internal static extern int cv_machine_fingerprint(out StringHandle s);
        [DllImport(Lib)] internal static extern int cv_offline_request(byte[] token, byte[] fingerprint,
            byte[] stateDir, out StringHandle s);
        [DllImport(Lib)] internal static extern int cv_offline_receipt(byte[] stateDir, out StringHandle s);
        [DllImport(Lib)] internal static extern void cv_string_free(IntPtr s);
        // The lease client: present in a library built with feature `ffi-lease`.
        [DllImport(Lib)] internal static extern int cv_lease_client_acquire(VerifierHandle v,
            byte[] server, byte[] license, byte[] instance, byte[] fingerprint, byte[] caPem,
            int allowPlainHttp, out LeaseClientHandle client);
        [DllImport(Lib)] internal static extern int cv_lease_client_valid(LeaseClientHandle c);
        [DllImport(Lib)] internal static extern int cv_lease_client_state(LeaseClientHandle c,
            out int state, out uint seat, out ulong validForSecs);
        [DllImport(Lib)] internal static extern int cv_lease_client_entitlements_json(LeaseClientHandle c,
            out StringHandle s);
        [DllImport(Lib)] internal static extern void cv_lease_client_free(IntPtr c);

        /// <summary>Throws for anything but 0, with the message of this thread's failed call.</summary>
        internal static void Check(int rc)
        {
            if (rc == 0) return;
            string message = FromUtf8(cv_last_error_message()) ?? "";
            throw new ClientVerifierException(rc, FromUtf8(cv_result_name(rc)), message);
        }

        /// <summary>A NUL-terminated UTF-8 copy of s, or null for null.</summary>
        internal static byte[] Utf8(string s)
        {
            if (s == null) return null;
            int n = Encoding.UTF8.GetByteCount(s);
            var bytes = new byte[n + 1];
            Encoding.UTF8.GetBytes(s, 0, s.Length, bytes, 0);
            return bytes;
        }

        internal static IntPtr AllocUtf8(string s)
        {
            byte[] bytes = Utf8(s ?? "");
            IntPtr p = Marshal.AllocHGlobal(bytes.Length);
            Marshal.Copy(bytes, 0, p, bytes.Length);
            return p;
        }

        internal static string FromUtf8(IntPtr p)
        {
            if (p == IntPtr.Zero) return null;
            int n = 0;
            while (Marshal.ReadByte(p, n) != 0) n++;
            var bytes = new byte[n];
            Marshal.Copy(p, bytes, 0, n);
            return Encoding.UTF8.GetString(bytes);
        }
    }
}
