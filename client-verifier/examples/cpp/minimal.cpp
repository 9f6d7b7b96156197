// The license check a C++ application makes at start, with the RAII wrapper
// (client_verifier.hpp): nothing to free, a refusal is an exception.
//
//   minimal_cpp KEYS_FILE TOKEN_FILE STATE_FILE
//
// Arguments, output and exit status as examples/c/minimal.c: 0 licensed, 3 frozen, 4 expired,
// 5 check-in due, 10 refused, 2 bad usage or unreadable files.
#include <ctime>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "client_verifier.hpp"

namespace cv = client_verifier;

// licd's --issuer (by default "licd") and the marketplace productId.
#ifndef APP_ISSUER
#define APP_ISSUER "licd"
#endif
#ifndef APP_PRODUCT
#define APP_PRODUCT "OFFI454488918838374"
#endif

static bool read_file(const std::string &path, std::string &out) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return false;
  std::stringstream s;
  s << f.rdbuf();
  out = s.str();
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r' || out.back() == ' ')) {
    out.pop_back();
  }
  return true;
}

static std::string day(int64_t t) {
  std::time_t tt = static_cast<std::time_t>(t);
  char buf[11] = "?";
  if (std::tm *tm = std::gmtime(&tt)) std::strftime(buf, sizeof buf, "%Y-%m-%d", tm);
  return buf;
}

static int explain(const cv::Error &e) {
  switch (e.code()) {
    case CV_RESULT_DEVICE_MISMATCH:
      std::cout << "This license belongs to another machine.\n";
      try {
        std::cout << "To move it here, send your vendor this machine's fingerprint:\n  "
                  << cv::machine_fingerprint() << "\n";
      } catch (const cv::Error &) {
      }
      break;
    case CV_RESULT_REVOKED:
      std::cout << "This license has been revoked. Contact your vendor.\n";
      break;
    case CV_RESULT_CLOCK_ROLLBACK:
      std::cout << "The system clock is behind the time this program last saw. Correct it and start again.\n";
      break;
    default:
      std::cout << "The license file is not a valid license for this product (" << e.name()
                << ").\n";
  }
  std::cerr << "license check: " << e.name() << ": " << e.what() << "\n";
  return 10;
}

int main(int argc, char **argv) {
  if (argc != 4) {
    std::cerr << "usage: " << argv[0] << " KEYS_FILE TOKEN_FILE STATE_FILE\n";
    return 2;
  }
  std::string keys_text, token, saved;
  if (!read_file(argv[1], keys_text) || !read_file(argv[2], token)) {
    std::cerr << "cannot read the keys or the license file\n";
    return 2;
  }
  std::vector<std::string> keys;
  std::istringstream lines(keys_text);
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty() && line[0] != '#') keys.push_back(line);
  }
  cv::State state;
  if (read_file(argv[3], saved)) {
    try {
      state = cv::State::decode(saved);
    } catch (const cv::Error &) {
      std::cerr << argv[3] << " is not a saved state; starting afresh\n";
    }
  }

  int status_code = 10;
  try {
    cv::Verifier verifier(keys, APP_ISSUER, APP_PRODUCT, CV_FLAG_BINDING_OPTIONAL,
                          state.revocation_seq());
    try {
      cv::License l = verifier.verify_now(token, nullptr, state);
      switch (l.status()) {
        case CV_STATUS_ACTIVE: {
          std::string edition = l.edition();
          std::cout << "Licensed" << (edition.empty() ? "" : ": ") << edition << " until "
                    << day(l.expires_at()) << " (license " << l.id() << ").\n";
          int64_t layers = 0;
          if (l.limit("max_layers", layers)) std::cout << "Up to " << layers << " layers.\n";
          status_code = 0;
          break;
        }
        case CV_STATUS_FROZEN:
          std::cout << "Your subscription ended on " << day(l.expires_at())
                    << ". The software keeps working until " << day(l.freeze_until())
                    << ": renew it to keep using it.\n";
          status_code = 3;
          break;
        case CV_STATUS_CHECK_IN_REQUIRED:
          std::cout << "This machine had to check in by " << day(l.check_in_by())
                    << ". Connect it to the internet, or make an offline request, to go on.\n";
          status_code = 5;
          break;
        default:
          std::cout << "Your license ended on " << day(l.expires_at())
                    << ". Renew it to use the software again.\n";
          status_code = 4;
      }
    } catch (const cv::Error &e) {
      status_code = explain(e);
    }
  } catch (const cv::Error &e) {
    std::cerr << "bad public keys in " << argv[1] << ": " << e.what() << "\n";
    return 2;
  }
  // Save the state whatever the result: it only ever moves forward.
  std::ofstream(argv[3], std::ios::binary) << state.encode() << "\n";
  return status_code;
}
