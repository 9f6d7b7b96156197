// Reads a license and prints its status:
//   java -cp client-verifier-java-<version>.jar:jna.jar VerifyLicense.java LICENSE_FILE KEYS_FILE
import clientverifier.ClientVerifierException;
import clientverifier.License;
import clientverifier.State;
import clientverifier.Verifier;
import java.nio.file.Files;
import java.nio.file.Path;

public class VerifyLicense {
    public static void main(String[] args) throws Exception {
        String token = Files.readString(Path.of(args[0])).strip();
        String[] keys = Files.readString(Path.of(args[1])).strip().split("\\s+"); // licd keys export
        Path stateFile = Path.of(args.length > 2 ? args[2] : "license.state");
        String saved = Files.exists(stateFile) ? Files.readString(stateFile) : null;
        try (Verifier verifier = new Verifier(keys, "acme-isv", "OFFI454488918838374");
             State state = new State(saved)) {
            try (License l = verifier.verify(token, state)) { // this machine, the system clock
                System.out.println(l.getId() + ": " + l.getStatus() + " until " + l.getExpiresAt());
            } catch (ClientVerifierException e) {
                System.out.println("not licensed (" + e.getName() + "): " + e.getMessage());
            }
            Files.writeString(stateFile, state.encode()); // whatever the result
        }
    }
}
