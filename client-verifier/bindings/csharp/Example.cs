// A C# console program over ClientVerifier.cs.
//
//   mono Example.exe check KEYS_FILE TOKEN_FILE STATE_FILE
//       The license check an application makes at start: this machine, now, the state saved
//       between runs. Prints what the user should see. Exit status as examples/c/minimal.c:
//       0 licensed, 3 frozen, 4 expired, 5 check-in due, 10 refused, 2 bad usage.
//
// Builds from the bundle alone: mcs -out:Example.exe ClientVerifier.cs Example.cs
using System;
using System.IO;
using System.Linq;
using ClientVerifier;

static class Example
{
    // licd's --issuer (by default "licd") and the marketplace productId.
    const string Issuer = "licd";
    const string Product = "OFFI454488918838374";

    static int Main(string[] args)
    {
        if (Machine.AbiVersion() != Native.AbiVersion)
        {
            Console.Error.WriteLine($"libclient_verifier has ABI {Machine.AbiVersion()}, this program expects {Native.AbiVersion}");
            return 2;
        }
        if (args.Length == 4 && args[0] == "check") return Check(args[1], args[2], args[3]);
        Console.Error.WriteLine("usage: Example.exe check KEYS_FILE TOKEN_FILE STATE_FILE");
        return 2;
    }

    static string Day(long unix) =>
        DateTimeOffset.FromUnixTimeSeconds(unix).UtcDateTime.ToString("yyyy-MM-dd");

    static int Check(string keysFile, string tokenFile, string stateFile)
    {
        string[] keys;
        string token;
        try
        {
            keys = File.ReadAllLines(keysFile).Select(l => l.Trim())
                .Where(l => l.Length > 0 && !l.StartsWith("#")).ToArray();
            token = File.ReadAllText(tokenFile).Trim();
        }
        catch (IOException e)
        {
            Console.Error.WriteLine($"cannot read the keys or the license: {e.Message}");
            return 2;
        }
        var state = new State();
        if (File.Exists(stateFile))
        {
            try { state = State.Decode(File.ReadAllText(stateFile).Trim()); }
            catch (ClientVerifierException) { Console.Error.WriteLine($"{stateFile} is not a saved state; starting afresh"); }
        }
        int code;
        using (var verifier = new Verifier(keys, Issuer, Product, VerifierFlags.BindingOptional, state.RevocationSeq))
        {
            try
            {
                using (var l = verifier.VerifyNow(token, null, ref state))
                {
                    switch (l.Status)
                    {
                        case LicenseStatus.Active:
                            Console.WriteLine($"Licensed{(l.Edition.Length > 0 ? ": " + l.Edition : "")} until {Day(l.ExpiresAt)} (license {l.Id}).");
                            long? layers = l.Limit("max_layers");
                            if (layers.HasValue) Console.WriteLine($"Up to {layers} layers.");
                            code = 0;
                            break;
                        case LicenseStatus.Frozen:
                            Console.WriteLine($"Your subscription ended on {Day(l.ExpiresAt)}. The software keeps working until {Day(l.FreezeUntil)}: renew it to keep using it.");
                            code = 3;
                            break;
                        case LicenseStatus.CheckInRequired:
                            Console.WriteLine($"This machine had to check in by {Day(l.CheckInBy)}. Connect it to the internet, or make an offline request, to go on.");
                            code = 5;
                            break;
                        default:
                            Console.WriteLine($"Your license ended on {Day(l.ExpiresAt)}. Renew it to use the software again.");
                            code = 4;
                            break;
                    }
                }
            }
            catch (ClientVerifierException e)
            {
                Console.Error.WriteLine($"license check: {e.Message}");
                if (e.ErrorName == "DeviceMismatch")
                {
                    Console.WriteLine("This license belongs to another machine.");
                    Console.WriteLine($"To move it here, send your vendor this machine's fingerprint:\n  {Machine.Fingerprint()}");
                }
                else if (e.ErrorName == "Revoked")
                    Console.WriteLine("This license has been revoked. Contact your vendor.");
                else
                    Console.WriteLine($"The license file is not a valid license for this product ({e.ErrorName}).");
                code = 10;
            }
        }
        File.WriteAllText(stateFile, state.Encode() + "\n");
        return code;
    }
}
