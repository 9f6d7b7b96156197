// The same check from C++: handles owned by std::unique_ptr, so every path frees them.
#include <cstdint>
#include <cstring>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "client_verifier.h"
#include "client_verifier.hpp"
#include "golden_cases.h"

namespace {

struct VerifierFree {
  void operator()(cv_verifier *v) const { cv_verifier_free(v); }
};
struct LicenseFree {
  void operator()(cv_license *l) const { cv_license_free(l); }
};
using Verifier = std::unique_ptr<cv_verifier, VerifierFree>;
using License = std::unique_ptr<cv_license, LicenseFree>;

std::string last_error() {
  const char *m = cv_last_error_message();
  return m ? m : "";
}

const golden_case *find_case(const std::string &name) {
  for (const auto &c : GOLDEN_CASES) {
    if (name == c.name) return &c;
  }
  return nullptr;
}

// Returns true when the verdict for the named golden case is the expected one.
bool check(const std::string &name) {
  const golden_case *c = find_case(name);
  if (!c) return false;
  std::cout << name << "\n";
  cv_verifier *raw = nullptr;
  cv_result rc = cv_verifier_new(c->keys, c->key_count, c->issuer, c->product, c->flags,
                                 c->min_revocation_seq, &raw);
  Verifier verifier(raw);
  if (rc != CV_RESULT_OK) {
    std::cerr << "  verifier: " << last_error() << "\n";
    return false;
  }
  if (c->revocations) {
    uint64_t seq = 0;
    rc = cv_verifier_load_revocations(verifier.get(), c->revocations, &seq);
    if (rc != CV_RESULT_OK) {
      std::cout << "  revocation list refused: " << cv_result_name(rc) << "\n";
      return c->expect_error && std::strcmp(c->expect_error, cv_result_name(rc)) == 0;
    }
    std::cout << "  revocation list seq " << seq << " (persist it)\n";
  }
  int64_t guard = c->guard_last_seen;
  cv_license *lraw = nullptr;
  rc = cv_verify(verifier.get(), c->token, c->device, c->now, &guard, &lraw);
  License license(lraw);
  if (rc != CV_RESULT_OK) {
    std::cout << "  refused: " << cv_result_name(rc) << ": " << last_error() << "\n";
    return c->expect_error && std::strcmp(c->expect_error, cv_result_name(rc)) == 0;
  }
  cv_status status{};
  int64_t expires = 0, until = 0, check_in_by = 0;
  const char *id = nullptr;
  const char *edition = nullptr;
  if (cv_license_status(license.get(), &status) != CV_RESULT_OK ||
      cv_license_expires_at(license.get(), &expires) != CV_RESULT_OK ||
      cv_license_freeze_until(license.get(), &until) != CV_RESULT_OK ||
      cv_license_check_in_by(license.get(), &check_in_by) != CV_RESULT_OK ||
      cv_license_edition(license.get(), &edition) != CV_RESULT_OK ||
      cv_license_id(license.get(), &id) != CV_RESULT_OK) {
    std::cerr << "  reading the license failed: " << last_error() << "\n";
    return false;
  }
  const char *name_of = status == CV_STATUS_ACTIVE              ? "active"
                        : status == CV_STATUS_FROZEN            ? "frozen"
                        : status == CV_STATUS_CHECK_IN_REQUIRED ? "check_in_required"
                                                                : "expired";
  std::cout << "  " << id << ": " << name_of << " (edition \"" << edition << "\", expires "
            << expires << ", freeze ends " << until << ", check in by " << check_in_by << ")\n";
  int64_t at = status == CV_STATUS_ACTIVE              ? expires
               : status == CV_STATUS_CHECK_IN_REQUIRED ? check_in_by
                                                       : until;
  return c->expect_status && std::strcmp(c->expect_status, name_of) == 0 && at == c->expect_at;
}

// The root-trusting golden cases through the header-only wrapper (client_verifier.hpp): a
// verifier from the embedded root.json, the root's key revocations first, then the token.
int rooted_through_the_wrapper() {
  int wrong = 0;
  for (const auto &c : ROOTED_CASES) {
    std::string got;
    client_verifier::Guard state;
    try {
      auto v = client_verifier::Verifier::rooted(c.root, c.issuer, c.product,
                                                 CV_FLAG_BINDING_OPTIONAL);
      if (c.key_revocations) v.load_key_revocations(c.key_revocations, state);
      auto l = v.verify(c.token, nullptr, c.now, state);
      bool right = l.status() == CV_STATUS_ACTIVE && l.expires_at() == c.expect_at &&
                   c.expect_status && std::strcmp(c.expect_status, "active") == 0 &&
                   state.last_seen() == c.now;
      got = right ? "as expected" : "wrong license";
    } catch (const client_verifier::Error &e) {
      got = c.expect_error && std::strcmp(c.expect_error, e.name()) == 0 ? "as expected"
                                                                         : e.name();
    }
    std::cout << "rooted " << c.name << ": " << got << "\n";
    if (got != "as expected") ++wrong;
    // The state carries what the key hierarchy adds, as text to save.
    if (c.key_revocations && state.key_revocation_seq() == 0) ++wrong;
  }
  return wrong;
}

}  // namespace

int main() {
  if (cv_abi_version() != CV_ABI_VERSION) {
    std::cerr << "library ABI " << cv_abi_version() << ", header " << CV_ABI_VERSION << "\n";
    return 2;
  }
  const std::vector<std::string> cases = {
      "active_when_signed_by_rotated_out_key",
      "expired_after_freeze_window",
      "rejects_revoked_license",
      "revocation_list_without_this_license",
  };
  int wrong = 0;
  for (const auto &name : cases) {
    if (!check(name)) {
      std::cerr << "  WRONG VERDICT for " << name << "\n";
      ++wrong;
    }
  }
  wrong += rooted_through_the_wrapper();
  if (wrong) return 1;
  std::cout << "C++ example: all verdicts as expected\n";
  return 0;
}
