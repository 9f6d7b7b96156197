/* C test driver for the client-verifier C ABI: every golden case, then the error paths a C
 * caller can hit. Run under valgrind (run.sh does) so a leak, an invalid read or a write through
 * a bad pointer fails the run, not only a wrong code. Exit status 0 only if every check passed. */
#define _XOPEN_SOURCE 700 /* mkdtemp, unlink, rmdir */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client_verifier.h"
#include "golden_cases.h"

static int failures = 0;

#define CHECK(cond)                                                          \
  do {                                                                       \
    if (!(cond)) {                                                           \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      failures++;                                                            \
    }                                                                        \
  } while (0)

#define CHECK_RC(call, want)                                                        \
  do {                                                                              \
    cv_result got_ = (call);                                                        \
    if (got_ != (want)) {                                                           \
      const char *m_ = cv_last_error_message();                                     \
      fprintf(stderr, "%s:%d: %s returned %s, want %s (%s)\n", __FILE__, __LINE__, \
              #call, cv_result_name((int32_t)got_), cv_result_name((int32_t)(want)),   \
              m_ ? m_ : "no message");                                              \
      failures++;                                                                   \
    }                                                                               \
  } while (0)

static const golden_case *find_case(const char *name) {
  for (size_t i = 0; i < GOLDEN_CASE_COUNT; i++) {
    if (strcmp(GOLDEN_CASES[i].name, name) == 0) return &GOLDEN_CASES[i];
  }
  fprintf(stderr, "no golden case %s\n", name);
  exit(2);
}

static cv_verifier *new_verifier(const golden_case *c) {
  cv_verifier *v = NULL;
  CHECK_RC(cv_verifier_new(c->keys, c->key_count, c->issuer, c->product, c->flags,
                           c->min_revocation_seq, &v),
           CV_RESULT_OK);
  return v;
}

static const char *status_name(cv_status s) {
  return s == CV_STATUS_ACTIVE                ? "active"
         : s == CV_STATUS_FROZEN              ? "frozen"
         : s == CV_STATUS_CHECK_IN_REQUIRED   ? "check_in_required"
                                              : "expired";
}

static void golden_cases(void) {
  for (size_t i = 0; i < GOLDEN_CASE_COUNT; i++) {
    const golden_case *c = &GOLDEN_CASES[i];
    cv_verifier *v = new_verifier(c);
    cv_result rc = CV_RESULT_OK;
    if (c->revocations) rc = cv_verifier_load_revocations(v, c->revocations, NULL);
    cv_license *lic = NULL;
    int64_t guard = c->guard_last_seen;
    if (rc == CV_RESULT_OK) rc = cv_verify(v, c->token, c->device, c->now, &guard, &lic);
    int ok;
    if (rc == CV_RESULT_OK) {
      cv_status st = CV_STATUS_EXPIRED;
      int64_t exp = 0, until = 0, check_in_by = 0;
      CHECK_RC(cv_license_status(lic, &st), CV_RESULT_OK);
      CHECK_RC(cv_license_expires_at(lic, &exp), CV_RESULT_OK);
      CHECK_RC(cv_license_freeze_until(lic, &until), CV_RESULT_OK);
      CHECK_RC(cv_license_check_in_by(lic, &check_in_by), CV_RESULT_OK);
      int64_t at = st == CV_STATUS_ACTIVE              ? exp
                   : st == CV_STATUS_CHECK_IN_REQUIRED ? check_in_by
                                                       : until;
      ok = c->expect_status && strcmp(c->expect_status, status_name(st)) == 0 &&
           at == c->expect_at;
      CHECK(guard == (c->now > c->guard_last_seen ? c->now : c->guard_last_seen));
    } else {
      ok = c->expect_error && strcmp(c->expect_error, cv_result_name((int32_t)rc)) == 0;
      CHECK(lic == NULL);
      CHECK(cv_last_error_message() != NULL);
    }
    if (!ok) {
      fprintf(stderr, "golden %s: got %s\n", c->name, cv_result_name((int32_t)rc));
      failures++;
    }
    cv_license_free(lic);
    cv_verifier_free(v);
  }
}

static void verifier_arguments(void) {
  const golden_case *c = find_case("active_on_bound_device");
  const char *bad_utf8 = "k4.public.\xff\xfe";
  const char *bad_keys[] = {c->keys[0], "k4.public.tooshort"};
  const char *null_key[] = {c->keys[0], NULL};
  const char *utf8_key[] = {bad_utf8};
  const char *secret_key[] = {"k4.secret.ERERERERERERERERERERERERERERERERERERERERERHQSrIydCu0qzoTaL1GFeTm0CJKtxoBa6-FIKMyyXeHNw"};
  cv_verifier *v = (cv_verifier *)0x10; /* must stay untouched on failure */
  CHECK_RC(cv_verifier_new(NULL, 1, c->issuer, c->product, 0, 0, &v), CV_RESULT_NULL_POINTER);
  CHECK_RC(cv_verifier_new(c->keys, 0, c->issuer, c->product, 0, 0, &v),
           CV_RESULT_INVALID_ARGUMENT);
  CHECK_RC(cv_verifier_new(c->keys, CV_MAX_KEYS + 1, c->issuer, c->product, 0, 0, &v),
           CV_RESULT_INVALID_ARGUMENT);
  CHECK_RC(cv_verifier_new(c->keys, 1, NULL, c->product, 0, 0, &v), CV_RESULT_NULL_POINTER);
  CHECK_RC(cv_verifier_new(c->keys, 1, c->issuer, NULL, 0, 0, &v), CV_RESULT_NULL_POINTER);
  CHECK_RC(cv_verifier_new(c->keys, 1, bad_utf8, c->product, 0, 0, &v), CV_RESULT_INVALID_UTF8);
  CHECK_RC(cv_verifier_new(c->keys, 1, c->issuer, c->product, 0x80, 0, &v),
           CV_RESULT_INVALID_ARGUMENT);
  CHECK_RC(cv_verifier_new(bad_keys, 2, c->issuer, c->product, 0, 0, &v), CV_RESULT_BAD_KEY);
  CHECK_RC(cv_verifier_new(null_key, 2, c->issuer, c->product, 0, 0, &v),
           CV_RESULT_NULL_POINTER);
  CHECK_RC(cv_verifier_new(utf8_key, 1, c->issuer, c->product, 0, 0, &v),
           CV_RESULT_INVALID_UTF8);
  CHECK_RC(cv_verifier_new(secret_key, 1, c->issuer, c->product, 0, 0, &v), CV_RESULT_BAD_KEY);
  CHECK(v == (cv_verifier *)0x10);
  CHECK_RC(cv_verifier_new(c->keys, 1, c->issuer, c->product, 0, 0, NULL),
           CV_RESULT_NULL_POINTER);
  const char *msg = cv_last_error_message();
  CHECK(msg != NULL && strcmp(msg, "out is NULL") == 0);
}

static void verify_arguments(void) {
  const golden_case *c = find_case("active_on_bound_device");
  cv_verifier *v = new_verifier(c);
  cv_license *lic = NULL;
  int64_t guard = 0;
  CHECK_RC(cv_verify(NULL, c->token, c->device, c->now, &guard, &lic), CV_RESULT_NULL_POINTER);
  CHECK_RC(cv_verify(v, NULL, c->device, c->now, &guard, &lic), CV_RESULT_NULL_POINTER);
  CHECK_RC(cv_verify(v, c->token, c->device, c->now, &guard, NULL), CV_RESULT_NULL_POINTER);
  CHECK_RC(cv_verify(v, "v4.public.\xc3", c->device, c->now, &guard, &lic),
           CV_RESULT_INVALID_UTF8);
  CHECK_RC(cv_verify(v, c->token, "\xff|a|b|c", c->now, &guard, &lic), CV_RESULT_INVALID_UTF8);
  CHECK_RC(cv_verify(v, c->token, "", c->now, &guard, &lic), CV_RESULT_BAD_FINGERPRINT);
  CHECK_RC(cv_verify(v, c->token, " | | | ", c->now, &guard, &lic), CV_RESULT_BAD_FINGERPRINT);
  CHECK_RC(cv_verify(v, "", c->device, c->now, &guard, &lic), CV_RESULT_MALFORMED);
  CHECK_RC(cv_verify(v, "v4.public.AAAA.AAAA", c->device, c->now, &guard, &lic),
           CV_RESULT_MALFORMED);
  /* A token with one character of its signature changed. */
  size_t len = strlen(c->token);
  char *tampered = malloc(len + 1);
  memcpy(tampered, c->token, len + 1);
  char *sig = strrchr(tampered, '.') - 5;
  *sig = *sig == 'A' ? 'B' : 'A';
  CHECK_RC(cv_verify(v, tampered, c->device, c->now, &guard, &lic), CV_RESULT_BAD_SIGNATURE);
  free(tampered);
  /* A string with no NUL within CV_MAX_STRING_LEN bytes is refused, not read on. */
  char *huge = malloc(CV_MAX_STRING_LEN + 2);
  memset(huge, 'a', CV_MAX_STRING_LEN + 1);
  huge[CV_MAX_STRING_LEN + 1] = '\0';
  CHECK_RC(cv_verify(v, huge, c->device, c->now, &guard, &lic), CV_RESULT_INVALID_ARGUMENT);
  free(huge);
  /* A misaligned guard pointer. */
  int64_t guards[2] = {0, 0};
  CHECK_RC(cv_verify(v, c->token, c->device, c->now, (int64_t *)((char *)guards + 1), &lic),
           CV_RESULT_INVALID_ARGUMENT);
  CHECK(guards[0] == 0 && guards[1] == 0);
  CHECK(lic == NULL);
  CHECK(guard == c->now); /* moved by the calls that reached the check, whatever their result */

  /* Legal repeats: the same verifier twice, reading every field twice. */
  cv_license *a = NULL, *b = NULL;
  CHECK_RC(cv_verify(v, c->token, c->device, c->now, &guard, &a), CV_RESULT_OK);
  CHECK(cv_last_error_message() == NULL);
  CHECK_RC(cv_verify(v, c->token, c->device, c->now, &guard, &b), CV_RESULT_OK);
  CHECK(a != NULL && b != NULL && a != b);
  CHECK(guard == c->now);
  for (int round = 0; round < 2; round++) {
    const char *id = NULL, *ent = NULL;
    uint32_t rev = 0, qty = 0;
    CHECK_RC(cv_license_id(a, &id), CV_RESULT_OK);
    CHECK_RC(cv_license_entitlements_json(a, &ent), CV_RESULT_OK);
    CHECK_RC(cv_license_revision(a, &rev), CV_RESULT_OK);
    CHECK_RC(cv_license_quantity(a, &qty), CV_RESULT_OK);
    CHECK(id && strcmp(id, "lic-0001") == 0);
    CHECK(ent && strcmp(ent, "{\"edition\":\"pro\",\"max_projects\":20}") == 0);
    CHECK(rev == 1 && qty == 1);
  }
  /* Accessors refuse NULL, and a license passed where a verifier belongs. */
  cv_status st;
  int64_t t;
  const char *s;
  CHECK_RC(cv_license_status(NULL, &st), CV_RESULT_NULL_POINTER);
  CHECK_RC(cv_license_status(a, NULL), CV_RESULT_NULL_POINTER);
  CHECK_RC(cv_license_expires_at(NULL, &t), CV_RESULT_NULL_POINTER);
  CHECK_RC(cv_license_freeze_until(a, NULL), CV_RESULT_NULL_POINTER);
  CHECK_RC(cv_license_id(NULL, &s), CV_RESULT_NULL_POINTER);
  CHECK_RC(cv_license_entitlements_json(a, NULL), CV_RESULT_NULL_POINTER);
  CHECK_RC(cv_verify(v, c->token, c->device, c->now, NULL, NULL), CV_RESULT_NULL_POINTER);
  CHECK_RC(cv_verify((const cv_verifier *)a, c->token, c->device, c->now, NULL, &lic),
           CV_RESULT_INVALID_ARGUMENT);
  /* A freed license is refused, and freeing it again does nothing. */
  cv_license_free(b);
  CHECK_RC(cv_license_status(b, &st), CV_RESULT_INVALID_ARGUMENT);
  cv_license_free(b);
  cv_license_free(a);
  cv_verifier_free(v);
  cv_verifier_free(NULL);
  cv_license_free(NULL);
  cv_string_free(NULL);
}

static void revocations(void) {
  const golden_case *c = find_case("rejects_revoked_license");
  cv_verifier *v = new_verifier(c);
  uint64_t seq = 0, again = 0, untouched = 77;
  CHECK_RC(cv_verifier_load_revocations(v, c->revocations, &seq), CV_RESULT_OK);
  CHECK_RC(cv_verifier_load_revocations(v, c->revocations, &again), CV_RESULT_OK);
  CHECK(seq > 0 && again == seq);
  CHECK_RC(cv_verifier_load_revocations(NULL, c->revocations, &untouched),
           CV_RESULT_NULL_POINTER);
  CHECK_RC(cv_verifier_load_revocations(v, NULL, &untouched), CV_RESULT_NULL_POINTER);
  CHECK_RC(cv_verifier_load_revocations(v, "garbage", &untouched), CV_RESULT_MALFORMED);
  CHECK_RC(cv_verifier_load_revocations(v, c->token, &untouched), CV_RESULT_MALFORMED);
  CHECK_RC(cv_verifier_load_revocations(v, "\x80", &untouched), CV_RESULT_INVALID_UTF8);
  CHECK(untouched == 77);
  cv_license *lic = NULL;
  CHECK_RC(cv_verify(v, c->token, c->device, c->now, NULL, &lic), CV_RESULT_REVOKED);
  cv_verifier_free(v);

  /* Persisted sequence number above the list's: the list is stale. */
  cv_verifier *newer = NULL;
  CHECK_RC(cv_verifier_new(c->keys, c->key_count, c->issuer, c->product, 0, seq + 1, &newer),
           CV_RESULT_OK);
  CHECK_RC(cv_verifier_load_revocations(newer, c->revocations, NULL),
           CV_RESULT_STALE_REVOCATION_LIST);
  cv_verifier_free(newer);
}

static void machine_and_misc(void) {
  char *fp = NULL;
  cv_result rc = cv_machine_fingerprint(&fp);
  if (rc == CV_RESULT_OK) {
    CHECK(fp != NULL && strchr(fp, '|') != NULL);
    printf("this machine: %s\n", fp);
    cv_string_free(fp);
    cv_string_free(fp); /* ignored: already freed */
  } else {
    CHECK(rc == CV_RESULT_FINGERPRINT_UNAVAILABLE);
  }
  CHECK_RC(cv_machine_fingerprint(NULL), CV_RESULT_NULL_POINTER);
  char foreign[] = "not the library's";
  cv_string_free(foreign); /* ignored: not made by the library */
  CHECK(strcmp(cv_result_name(CV_RESULT_DEVICE_MISMATCH), "DeviceMismatch") == 0);
  CHECK(strcmp(cv_result_name(-1), "Unknown") == 0);
  CHECK(cv_abi_version() == CV_ABI_VERSION);

  /* verify_now on an unbound license with optional binding: the clock is read. */
  const golden_case *c = find_case("unbound_accepted_when_binding_optional");
  cv_verifier *v = new_verifier(c);
  cv_license *lic = NULL;
  int64_t guard = 0;
  CHECK_RC(cv_verify_now(v, c->token, NULL, &guard, &lic), CV_RESULT_OK);
  CHECK(guard > c->now);
  cv_license_free(lic);
  cv_verifier_free(v);
}

/* Air-gapped activation: a request from an unbound license, the same request again, the receipt
 * once; and the saved state's text is the caller's to free (valgrind checks it is freed). */
static void offline(void) {
  const golden_case *c = find_case("unbound_accepted_when_binding_optional");
  const char *fp = "04:7C:16:5E:E3:5D|SN-1|BOARD-1|CPU-1";
  char dir[] = "/tmp/cv-offline-XXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  char *req = NULL, *again = NULL, *receipt = NULL;
  CHECK_RC(cv_offline_request(c->token, fp, dir, &req), CV_RESULT_OK);
  CHECK(req != NULL && strncmp(req, "lor1.", 5) == 0 && strlen(req) <= 700);
  CHECK_RC(cv_offline_request(c->token, fp, dir, &again), CV_RESULT_OK);
  CHECK(again != NULL && req != NULL && strcmp(req, again) == 0);
  CHECK_RC(cv_offline_receipt(dir, &receipt), CV_RESULT_OK);
  CHECK(receipt != NULL && strncmp(receipt, "ldr1.", 5) == 0);
  cv_string_free(req);
  cv_string_free(again);
  cv_string_free(receipt);
  receipt = NULL;
  CHECK_RC(cv_offline_receipt(dir, &receipt), CV_RESULT_OFFLINE_STATE);
  CHECK(receipt == NULL);
  /* A bound license cannot make a request; a machine without serials cannot be bound. */
  const golden_case *bound = find_case("active_on_bound_device");
  CHECK_RC(cv_offline_request(bound->token, fp, dir, &req), CV_RESULT_NOT_A_LICENSE);
  CHECK_RC(cv_offline_request(c->token, "04:7C:16:5E:E3:5D|||CPU-1", dir, &req),
           CV_RESULT_BAD_FINGERPRINT);
  CHECK_RC(cv_offline_request(NULL, fp, dir, &req), CV_RESULT_NULL_POINTER);
  CHECK_RC(cv_offline_request(c->token, fp, dir, NULL), CV_RESULT_NULL_POINTER);
  char path[64];
  snprintf(path, sizeof path, "%s/device.key", dir);
  CHECK(unlink(path) == 0);
  CHECK(rmdir(dir) == 0);

  CvState state = {0};
  char *text = NULL;
  CHECK_RC(cv_state_encode(&state, &text), CV_RESULT_OK);
  CHECK(text != NULL);
  cv_string_free(text);
}

int main(void) {
  golden_cases();
  verifier_arguments();
  verify_arguments();
  revocations();
  machine_and_misc();
  offline();
  if (failures) {
    fprintf(stderr, "ffi_test: %d check(s) failed\n", failures);
    return 1;
  }
  printf("ffi_test: %zu golden cases and all error paths passed\n", (size_t)GOLDEN_CASE_COUNT);
  return 0;
}
