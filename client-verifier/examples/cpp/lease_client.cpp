// A floating license in a C++ application: the LeaseClient object holds a seat for its
// lifetime (renewed by the library), and its destructor gives the seat back.
//
//   lease_client_cpp SERVER_URL KEYS_FILE LICENSE_FILE INSTANCE FINGERPRINT
//
// Exit status: 0 leased and released, 6 all seats taken, 7 refused, 8 unreachable, 10 other.
// Build with -DCV_LEASE_CLIENT against a library made with feature `ffi-lease`.
#include <fstream>
#include <iostream>
#include <sstream>

#include "client_verifier.hpp"

#ifndef APP_ISSUER
#define APP_ISSUER "licd"
#endif
#ifndef APP_PRODUCT
#define APP_PRODUCT "OFFI454488918838374"
#endif

static std::string slurp(const char *path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  std::string text = s.str();
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

int main(int argc, char **argv) {
  if (argc < 6) {
    std::cerr << "usage: " << argv[0] << " SERVER_URL KEYS_FILE LICENSE_FILE INSTANCE FINGERPRINT\n";
    return 2;
  }
  std::vector<std::string> keys;
  std::istringstream lines(slurp(argv[2]));
  for (std::string line; std::getline(lines, line);)
    if (!line.empty()) keys.push_back(line);
  const std::string fingerprint = argv[5];
  try {
    client_verifier::Verifier verifier(keys, APP_ISSUER, APP_PRODUCT);
    client_verifier::LeaseClient lease(verifier, argv[1], slurp(argv[3]), argv[4], &fingerprint);
    const auto s = lease.status();
    std::cout << "state=" << (s.state == CV_LEASE_STATE_LEASED ? "leased" : "other")
              << " valid=" << lease.valid() << " seat=" << s.seat
              << " entitlements=" << lease.entitlements_json() << std::endl;
  } catch (const client_verifier::Error &e) {
    std::cout << "no seat: " << e.name() << ": " << e.what() << std::endl;
    switch (e.code()) {
      case CV_RESULT_SEATS_TAKEN: return 6;
      case CV_RESULT_LEASE_REFUSED: return 7;
      case CV_RESULT_SERVER_UNREACHABLE: return 8;
      default: return 10;
    }
  }
  std::cout << "released" << std::endl;
  return 0;
}
