// The golden vectors through ClientVerifier.cs: every case of tests/vectors/license-v1.json
// (generated into GoldenCases.cs by examples/c/golden_cases.py --csharp) is verified and its
// verdict compared. A test of the binding, not part of the bundle:
//
//   mcs -out:Golden.exe ClientVerifier.cs Golden.cs GoldenCases.cs && mono Golden.exe
using System;
using ClientVerifier;

static class Golden
{
    static int Main()
    {
        if (Machine.AbiVersion() != Native.AbiVersion)
        {
            Console.Error.WriteLine($"libclient_verifier has ABI {Machine.AbiVersion()}, this program expects {Native.AbiVersion}");
            return 2;
        }
        return Run();
    }

    static int Run()
    {
        int wrong = 0;
        foreach (var c in GoldenCases.All)
        {
            string got;
            long at = 0;
            using (var v = new Verifier(c.Keys, c.Issuer, c.Product, (VerifierFlags)c.Flags, c.MinRevocationSeq))
            {
                try
                {
                    if (c.Revocations != null) v.LoadRevocations(c.Revocations);
                    long guard = c.GuardLastSeen;
                    using (var l = v.Verify(c.Token, c.Device, c.Now, ref guard))
                    {
                        var s = l.Status;
                        got = s == LicenseStatus.CheckInRequired ? "check_in_required" : s.ToString().ToLowerInvariant();
                        at = s == LicenseStatus.Active ? l.ExpiresAt
                            : s == LicenseStatus.CheckInRequired ? l.CheckInBy : l.FreezeUntil;
                        // Reading every accessor exercises the marshalling of each type.
                        if (l.Id.Length == 0 || l.Revision == 0 || l.EntitlementsJson[0] != '{')
                            got = "unreadable";
                        l.Feature("export");
                        l.Limit("max_projects");
                    }
                }
                catch (ClientVerifierException e)
                {
                    got = e.ErrorName;
                }
            }
            bool ok = c.ExpectError != null ? got == c.ExpectError
                : got == c.ExpectStatus && at == c.ExpectAt;
            Console.WriteLine($"{(ok ? "ok   " : "WRONG")} {c.Name}: {got}");
            if (!ok) wrong++;
        }
        Console.WriteLine($"C# binding: {GoldenCases.All.Length - wrong} of {GoldenCases.All.Length} golden cases as expected");
        int rootedWrong = Rooted();
        return wrong == 0 && rootedWrong == 0 ? 0 : 1;
    }

    // The root-trusting cases of rooted-v1.json: Verifier.Rooted, the root's key revocations
    // first, the token with the whole state (a Guard).
    static int Rooted()
    {
        int wrong = 0;
        foreach (var c in GoldenCases.Rooted)
        {
            string got;
            long at = 0;
            bool ok;
            using (var state = new Guard())
            {
                try
                {
                    using (var v = Verifier.Rooted(c.Root, c.Issuer, c.Product, VerifierFlags.BindingOptional))
                    {
                        if (c.KeyRevocations != null)
                        {
                            v.LoadKeyRevocations(c.KeyRevocations, state);
                            if (state.KeyRevocationSeq == 0) throw new InvalidOperationException("state not kept");
                        }
                        using (var l = v.Verify(c.Token, null, c.Now, state))
                        {
                            got = l.Status.ToString().ToLowerInvariant();
                            at = l.ExpiresAt;
                        }
                    }
                }
                catch (ClientVerifierException e)
                {
                    got = e.ErrorName;
                }
                ok = c.ExpectError != null ? got == c.ExpectError
                    : got == c.ExpectStatus && at == c.ExpectAt && state.LastSeen == c.Now;
            }
            Console.WriteLine($"{(ok ? "ok   " : "WRONG")} rooted {c.Name}: {got}");
            if (!ok) wrong++;
        }
        Console.WriteLine($"C# binding: {GoldenCases.Rooted.Length - wrong} of {GoldenCases.Rooted.Length} rooted cases as expected");
        return wrong;
    }
}
