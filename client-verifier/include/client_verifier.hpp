/* client-verifier for C++: a header-only RAII wrapper over the C ABI (client_verifier.h).
 *
 * Every handle is owned by an object and released by its destructor, so nothing leaks whatever
 * path the code takes. A failed call throws client_verifier::Error, which carries the library's
 * code (code(), name()) and its message (what()). Exceptions rather than std::expected: the
 * wrapper builds as C++11, and a license check is rare enough that the cost does not matter.
 *
 *   client_verifier::Verifier v({"k4.public.…"}, "acme-isv", "OFFI454488918838374");
 *   (or, trusting a root: client_verifier::Verifier::rooted(root_json, "acme-isv", "OFFI…") with a
 *   client_verifier::Guard in place of the State)
 *   client_verifier::State state = client_verifier::State::decode(saved_text);
 *   client_verifier::License l = v.verify_now(token, nullptr, state);  // throws Error
 *   save(state.encode());
 *   if (l.status() == CV_STATUS_ACTIVE && l.feature("export_dxf")) { … }
 */
#ifndef CLIENT_VERIFIER_HPP
#define CLIENT_VERIFIER_HPP

#include <cstdint>
#include <ctime>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "client_verifier.h"

namespace client_verifier {

/* A call the library refused: code() says why, what() explains. */
class Error : public std::runtime_error {
 public:
  Error(cv_result code, const std::string &message) : std::runtime_error(message), code_(code) {}
  cv_result code() const noexcept { return code_; }
  /* A stable name for the code ("DeviceMismatch", …), for logs. */
  const char *name() const noexcept { return cv_result_name(static_cast<int32_t>(code_)); }

 private:
  cv_result code_;
};

namespace detail {

/* Throws for anything but CV_RESULT_OK, with the thread's last error message. */
inline void check(cv_result rc) {
  if (rc == CV_RESULT_OK) return;
  const char *m = cv_last_error_message();
  throw Error(rc, m ? m : cv_result_name(static_cast<int32_t>(rc)));
}

struct FreeVerifier {
  void operator()(cv_verifier *v) const noexcept { cv_verifier_free(v); }
};
struct FreeLicense {
  void operator()(cv_license *l) const noexcept { cv_license_free(l); }
};
struct FreeGuard {
  void operator()(cv_guard *g) const noexcept { cv_guard_free(g); }
};
struct FreeString {
  void operator()(char *s) const noexcept { cv_string_free(s); }
};

/* Takes ownership of a string the library allocated and copies it out. */
inline std::string take(char *s) {
  std::unique_ptr<char, FreeString> owned(s);
  return s ? std::string(s) : std::string();
}

inline const char *c_str_or_null(const std::string *s) { return s ? s->c_str() : nullptr; }

}  // namespace detail

/* The persisted state (clock-rollback guard and newest revocation list seen). Save encode()'s
 * text after each verification, whatever the result. */
class State {
 public:
  State() : s_{0, 0} {}
  static State decode(const std::string &text) {
    State s;
    if (!text.empty()) detail::check(cv_state_decode(text.c_str(), &s.s_));
    return s;
  }
  std::string encode() const {
    char *out = nullptr;
    detail::check(cv_state_encode(&s_, &out));
    return detail::take(out);
  }
  int64_t last_seen() const noexcept { return s_.last_seen; }
  uint64_t revocation_seq() const noexcept { return s_.revocation_seq; }
  CvState *raw() noexcept { return &s_; }

 private:
  CvState s_;
};

/* The whole persisted state, owning a cv_guard: what State holds, and under a root the root
 * version accepted and the root's newest key revocations loaded, so that deleting the stored
 * root or statement cannot bring back what they replaced. Save encode()'s text after each check,
 * whatever the result; decode() reads the text of every earlier version, a State's included. */
class Guard {
 public:
  Guard() {
    cv_guard *g = nullptr;
    detail::check(cv_guard_new(nullptr, &g));
    g_.reset(g);
  }
  static Guard decode(const std::string &text) {
    cv_guard *g = nullptr;
    detail::check(cv_guard_new(text.c_str(), &g));
    return Guard(g);
  }
  std::string encode() const {
    char *out = nullptr;
    detail::check(cv_guard_encode(g_.get(), &out));
    return detail::take(out);
  }
  int64_t last_seen() const {
    int64_t v = 0;
    detail::check(cv_guard_read(g_.get(), &v, nullptr, nullptr, nullptr));
    return v;
  }
  uint64_t revocation_seq() const {
    uint64_t v = 0;
    detail::check(cv_guard_read(g_.get(), nullptr, &v, nullptr, nullptr));
    return v;
  }
  uint64_t key_revocation_seq() const {
    uint64_t v = 0;
    detail::check(cv_guard_read(g_.get(), nullptr, nullptr, &v, nullptr));
    return v;
  }
  uint32_t root_version() const {
    uint32_t v = 0;
    detail::check(cv_guard_read(g_.get(), nullptr, nullptr, nullptr, &v));
    return v;
  }
  cv_guard *raw() noexcept { return g_.get(); }

 private:
  explicit Guard(cv_guard *g) : g_(g) {}
  std::unique_ptr<cv_guard, detail::FreeGuard> g_;
};

/* A license that verified (active, frozen, expired or due for check-in: read status()). */
class License {
 public:
  explicit License(cv_license *l) : l_(l) {}
  cv_status status() const {
    cv_status s;
    detail::check(cv_license_status(l_.get(), &s));
    return s;
  }
  int64_t expires_at() const { return get_i64(cv_license_expires_at); }
  int64_t freeze_until() const { return get_i64(cv_license_freeze_until); }
  /* 0 when the license needs no check-in. */
  int64_t check_in_by() const { return get_i64(cv_license_check_in_by); }
  uint32_t revision() const { return get_u32(cv_license_revision); }
  uint32_t quantity() const { return get_u32(cv_license_quantity); }
  std::string id() const { return get_str(cv_license_id); }
  std::string edition() const { return get_str(cv_license_edition); }
  /// "direct" or "trial" for a license the ISV issued itself; empty for a marketplace one.
  std::string origin() const { return get_str(cv_license_origin); }
  std::string entitlements_json() const { return get_str(cv_license_entitlements_json); }
  /* Whether the feature flag `name` is on (its entitlement is `true`). */
  bool feature(const std::string &name) const {
    uint8_t on = 0;
    detail::check(cv_license_feature(l_.get(), name.c_str(), &on));
    return on != 0;
  }
  /* The integer limit `name` into `value`; false (value untouched) when there is none. */
  bool limit(const std::string &name, int64_t &value) const {
    uint8_t present = 0;
    detail::check(cv_license_limit(l_.get(), name.c_str(), &value, &present));
    return present != 0;
  }

 private:
  int64_t get_i64(cv_result (*f)(const cv_license *, int64_t *)) const {
    int64_t v = 0;
    detail::check(f(l_.get(), &v));
    return v;
  }
  uint32_t get_u32(cv_result (*f)(const cv_license *, uint32_t *)) const {
    uint32_t v = 0;
    detail::check(f(l_.get(), &v));
    return v;
  }
  std::string get_str(cv_result (*f)(const cv_license *, const char **)) const {
    const char *s = nullptr;
    detail::check(f(l_.get(), &s));
    return s ? std::string(s) : std::string();
  }
  std::unique_ptr<cv_license, detail::FreeLicense> l_;
};

/* Trusted keys, expected issuer and product, and the revocation list in use. One verifier may
 * be shared by several threads. */
class Verifier {
 public:
  /* flags: CV_FLAG_BINDING_OPTIONAL, CV_FLAG_MATCH_ALL. */
  Verifier(const std::vector<std::string> &public_keys, const std::string &issuer,
           const std::string &product, uint32_t flags = 0, uint64_t min_revocation_seq = 0) {
    std::vector<const char *> keys;
    keys.reserve(public_keys.size());
    for (const std::string &k : public_keys) keys.push_back(k.c_str());
    cv_verifier *v = nullptr;
    detail::check(cv_verifier_new(keys.data(), keys.size(), issuer.c_str(), product.c_str(),
                                  flags, min_revocation_seq, &v));
    v_.reset(v);
  }

  /* A verifier that trusts a root (root.json, or the newest root document the application
   * stored) instead of keys: tokens verify through the certificate in their footer. Use it
   * with a Guard. */
  static Verifier rooted(const std::string &root_json, const std::string &issuer,
                         const std::string &product, uint32_t flags = 0,
                         uint64_t min_revocation_seq = 0) {
    cv_verifier *v = nullptr;
    detail::check(cv_verifier_new_rooted(root_json.c_str(), issuer.c_str(), product.c_str(), flags,
                                         min_revocation_seq, &v));
    return Verifier(v);
  }

  /* Under a root: loads the root's statement of revoked keys (the "keys" field of licd's
   * GET /v1/revocations), before the list it came with. Store it beside the state. */
  void load_key_revocations(const std::string &statement_json, Guard &guard) {
    detail::check(cv_verifier_load_key_revocations(v_.get(), statement_json.c_str(), guard.raw()));
  }

  /* Under a root: follows licd's GET /v1/root body (or a JSON array of root documents). Returns
   * the new root document to store when the root moved on, an empty string otherwise. */
  std::string update_root(const std::string &documents, Guard &guard) {
    char *doc = nullptr;
    detail::check(cv_verifier_update_root(v_.get(), documents.c_str(), guard.raw(), &doc));
    return detail::take(doc);
  }

  /* Loads a list, refusing one older than `guard` has seen. */
  void load_revocations(const std::string &list, Guard &guard) {
    detail::check(cv_verifier_load_revocations_guarded(v_.get(), list.c_str(), guard.raw()));
  }

  /* Loads a signed revocation list; returns its sequence number. */
  uint64_t load_revocations(const std::string &list) {
    uint64_t seq = 0;
    detail::check(cv_verifier_load_revocations(v_.get(), list.c_str(), &seq));
    return seq;
  }
  /* Loads a list, refusing one older than `state` has seen. */
  void load_revocations(const std::string &list, State &state) {
    detail::check(cv_verifier_load_revocations_with_state(v_.get(), list.c_str(), state.raw()));
  }

  /* Verifies at the system clock's time. fingerprint: nullptr for this machine's. */
  License verify_now(const std::string &token, const std::string *fingerprint,
                     State &state) const {
    return verify(token, fingerprint, static_cast<int64_t>(std::time(nullptr)), state);
  }
  /* Verifies at `unix_time` with the whole state (moved forward on success). */
  License verify(const std::string &token, const std::string *fingerprint, int64_t unix_time,
                 Guard &guard) const {
    cv_license *l = nullptr;
    detail::check(cv_verify_guarded(v_.get(), token.c_str(), detail::c_str_or_null(fingerprint),
                                    unix_time, guard.raw(), &l));
    return License(l);
  }
  /* Verifies at the system clock's time with the whole state. */
  License verify_now(const std::string &token, const std::string *fingerprint,
                     Guard &guard) const {
    return verify(token, fingerprint, static_cast<int64_t>(std::time(nullptr)), guard);
  }
  /* Verifies at `unix_time` with the persisted state (moved forward on success). */
  License verify(const std::string &token, const std::string *fingerprint, int64_t unix_time,
                 State &state) const {
    cv_license *l = nullptr;
    detail::check(cv_verify_with_state(v_.get(), token.c_str(), detail::c_str_or_null(fingerprint),
                                       unix_time, state.raw(), &l));
    return License(l);
  }

 private:
  explicit Verifier(cv_verifier *v) : v_(v) {}
  std::unique_ptr<cv_verifier, detail::FreeVerifier> v_;
  friend class LeaseClient;
};

#if defined(CV_LEASE_CLIENT)
/* A floating license's lease (library built with feature `ffi-lease`): the constructor leases a
 * seat (one blocking request), a thread of the library renews it until the LeaseClient is
 * destroyed, which gives the seat back. Throws Error: CV_RESULT_SEATS_TAKEN,
 * CV_RESULT_LEASE_REFUSED, CV_RESULT_SERVER_UNREACHABLE, or a verification code. */
class LeaseClient {
 public:
  struct Status {
    cv_lease_state state;
    uint32_t seat;
    uint64_t valid_for_secs;
  };

  /* server: licd's base URL (https; plain http only to loopback unless allow_plain_http).
   * fingerprint: nullptr for this machine's. ca_pem: nullptr for Mozilla's roots. */
  LeaseClient(const Verifier &verifier, const std::string &server, const std::string &license,
              const std::string &instance, const std::string *fingerprint = nullptr,
              const std::string *ca_pem = nullptr, bool allow_plain_http = false) {
    cv_lease_client *c = nullptr;
    detail::check(cv_lease_client_acquire(verifier.v_.get(), server.c_str(), license.c_str(),
                                          instance.c_str(), detail::c_str_or_null(fingerprint),
                                          detail::c_str_or_null(ca_pem), allow_plain_http ? 1 : 0,
                                          &c));
    c_.reset(c);
  }

  /* Whether the program may use its licensed features now. */
  bool valid() const noexcept { return cv_lease_client_valid(c_.get()) != 0; }

  Status status() const {
    Status s{CV_LEASE_STATE_LOST, 0, 0};
    detail::check(cv_lease_client_state(c_.get(), &s.state, &s.seat, &s.valid_for_secs));
    return s;
  }

  /* The lease's feature flags and limits, as a JSON object. */
  std::string entitlements_json() const {
    char *s = nullptr;
    detail::check(cv_lease_client_entitlements_json(c_.get(), &s));
    return detail::take(s);
  }

  /* The lease token held. */
  std::string token() const {
    char *s = nullptr;
    detail::check(cv_lease_client_token(c_.get(), &s));
    return detail::take(s);
  }

 private:
  struct Free {
    void operator()(cv_lease_client *c) const noexcept { cv_lease_client_free(c); }
  };
  std::unique_ptr<cv_lease_client, Free> c_;
};
#endif /* CV_LEASE_CLIENT */

/* This machine's fingerprint (MAC|disk|board|CPU): what a customer sends to support. */
inline std::string machine_fingerprint() {
  char *s = nullptr;
  detail::check(cv_machine_fingerprint(&s));
  return detail::take(s);
}

/* An air-gapped activation request (lor1.…) for the unbound license `token`; the device key
 * lives in `state_dir`. fingerprint: nullptr for this machine's. See docs/offline.md. */
inline std::string offline_request(const std::string &token, const std::string *fingerprint,
                                   const std::string &state_dir) {
  char *s = nullptr;
  detail::check(cv_offline_request(token.c_str(), detail::c_str_or_null(fingerprint),
                                   state_dir.c_str(), &s));
  return detail::take(s);
}

/* The deactivation receipt (ldr1.…) giving this machine's seat back. */
inline std::string offline_receipt(const std::string &state_dir) {
  char *s = nullptr;
  detail::check(cv_offline_receipt(state_dir.c_str(), &s));
  return detail::take(s);
}

}  // namespace client_verifier

#endif /* CLIENT_VERIFIER_HPP */
