// A floating license in a C# application: the LeaseClient holds a seat until disposed.
//
//   mono LeaseExample.exe SERVER_URL KEYS_FILE LICENSE_FILE INSTANCE FINGERPRINT ISSUER PRODUCT
//
// Exit status: 0 leased and released, 6 all seats taken, 7 refused, 8 unreachable, 10 other.
using System;
using System.IO;
using System.Linq;
using ClientVerifier;

static class LeaseExample
{
    static int Main(string[] args)
    {
        if (args.Length < 7)
        {
            Console.Error.WriteLine("usage: LeaseExample SERVER_URL KEYS_FILE LICENSE_FILE INSTANCE FINGERPRINT ISSUER PRODUCT");
            return 2;
        }
        var keys = File.ReadAllLines(args[1]).Where(l => l.Trim().Length > 0).ToArray();
        var license = File.ReadAllText(args[2]).Trim();
        try
        {
            using (var verifier = new Verifier(keys, args[5], args[6]))
            using (var lease = new LeaseClient(verifier, args[0], license, args[3], args[4]))
            {
                Console.WriteLine("state=" + lease.State.ToString().ToLowerInvariant()
                    + " valid=" + (lease.Valid ? 1 : 0) + " seat=" + lease.Seat
                    + " entitlements=" + lease.EntitlementsJson());
            }
        }
        catch (ClientVerifierException e)
        {
            Console.WriteLine("no seat: " + e.Message);
            switch (e.ErrorName)
            {
                case "SeatsTaken": return 6;
                case "LeaseRefused": return 7;
                case "ServerUnreachable": return 8;
                default: return 10;
            }
        }
        Console.WriteLine("released");
        return 0;
    }
}
