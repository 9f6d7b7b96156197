/* How a C application checks its license at start, run against golden vectors.
 *
 * A real application reads its token from disk, passes NULL as the fingerprint (this machine)
 * and uses cv_verify_now; here the token, device and time come from the golden vectors so the
 * verdict is known and checked. Exit status: 0 when every verdict is the expected one. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "client_verifier.h"
#include "golden_cases.h"

#define DAY_SECS 86400

static const golden_case *find_case(const char *name) {
  for (size_t i = 0; i < GOLDEN_CASE_COUNT; i++) {
    if (strcmp(GOLDEN_CASES[i].name, name) == 0) return &GOLDEN_CASES[i];
  }
  return NULL;
}

static const char *status_name(cv_status s) {
  switch (s) {
    case CV_STATUS_ACTIVE: return "active";
    case CV_STATUS_FROZEN: return "frozen";
    case CV_STATUS_EXPIRED: return "expired";
    case CV_STATUS_CHECK_IN_REQUIRED: return "check_in_required";
    case CV_STATUS_LEASE_REQUIRED: return "lease_required";
  }
  return "?";
}

static void report_failure(cv_result rc) {
  const char *msg = cv_last_error_message();
  fprintf(stderr, "  license check failed: %s (%d): %s\n", cv_result_name(rc), (int)rc,
          msg ? msg : "");
  if (rc == CV_RESULT_DEVICE_MISMATCH) {
    /* What the user sends to support to have the license moved to this machine. */
    char *fp = NULL;
    if (cv_machine_fingerprint(&fp) == CV_RESULT_OK) {
      fprintf(stderr, "  this machine's fingerprint: %s\n", fp);
      cv_string_free(fp);
    }
  }
}

/* Verifies one golden case and compares the verdict; returns 0 when it is the expected one. */
static int check(const char *name) {
  const golden_case *c = find_case(name);
  if (!c) {
    fprintf(stderr, "no golden case %s\n", name);
    return 1;
  }
  printf("%s\n", name);
  cv_verifier *v = NULL;
  cv_result rc = cv_verifier_new(c->keys, c->key_count, c->issuer, c->product, c->flags,
                                 c->min_revocation_seq, &v);
  if (rc != CV_RESULT_OK) {
    report_failure(rc);
    return 1;
  }
  int64_t guard = c->guard_last_seen; /* persisted between runs by a real application */
  cv_license *lic = NULL;
  rc = cv_verify(v, c->token, c->device, c->now, &guard, &lic);
  int bad = 0;
  if (rc != CV_RESULT_OK) {
    report_failure(rc);
    bad = !(c->expect_error && strcmp(c->expect_error, cv_result_name(rc)) == 0);
  } else {
    cv_status st;
    int64_t exp = 0, until = 0;
    uint32_t rev = 0;
    const char *id = NULL, *ent = NULL;
    if (cv_license_status(lic, &st) != CV_RESULT_OK || cv_license_expires_at(lic, &exp) ||
        cv_license_freeze_until(lic, &until) || cv_license_revision(lic, &rev) ||
        cv_license_id(lic, &id) || cv_license_entitlements_json(lic, &ent)) {
      fprintf(stderr, "  reading the license failed: %s\n", cv_last_error_message());
      bad = 1;
    } else {
      printf("  status %s, license %s revision %" PRIu32 ", expires %" PRId64
             ", freeze ends %" PRId64 ", entitlements %s\n",
             status_name(st), id, rev, exp, until, ent);
      /* Typed access: the edition, a limit, a feature flag, the check-in deadline. */
      const char *edition = NULL;
      int64_t max_projects = 0, check_in_by = 0;
      uint8_t has_limit = 0, can_export = 0;
      if (cv_license_edition(lic, &edition) || cv_license_check_in_by(lic, &check_in_by) ||
          cv_license_limit(lic, "max_projects", &max_projects, &has_limit) ||
          cv_license_feature(lic, "export", &can_export)) {
        fprintf(stderr, "  reading the entitlements failed: %s\n", cv_last_error_message());
        bad = 1;
      } else {
        printf("  edition \"%s\", max_projects %s%" PRId64 ", export %s, check in by %" PRId64
               "\n",
               edition, has_limit ? "" : "(none) ", has_limit ? max_projects : 0,
               can_export ? "on" : "off", check_in_by);
      }
      if (st == CV_STATUS_CHECK_IN_REQUIRED) {
        printf("  connect to the internet so the license can be checked\n");
      }
      if (st == CV_STATUS_FROZEN) {
        printf("  locked: renew within %" PRId64 " days to keep your data\n",
               (until - c->now + DAY_SECS - 1) / DAY_SECS);
      }
      int64_t at = st == CV_STATUS_ACTIVE              ? exp
                   : st == CV_STATUS_CHECK_IN_REQUIRED ? check_in_by
                                                       : until;
      bad = !(c->expect_status && strcmp(c->expect_status, status_name(st)) == 0 &&
              at == c->expect_at);
    }
    cv_license_free(lic);
  }
  printf("  guard now %" PRId64 "\n", guard);
  cv_verifier_free(v);
  if (bad) fprintf(stderr, "  WRONG VERDICT for %s\n", name);
  return bad;
}

/* Every root-trusting golden case, as an application that embeds root.json checks: the root's
 * key revocations loaded first when the case has them, then the token, with the state (a
 * cv_guard, saved as text after every check). Returns the number of wrong verdicts. */
static int rooted(void) {
  int wrong = 0;
  for (size_t i = 0; i < ROOTED_CASE_COUNT; i++) {
    const rooted_case *c = &ROOTED_CASES[i];
    cv_guard *guard = NULL;
    cv_verifier *v = NULL;
    cv_license *lic = NULL;
    uint64_t key_revocations = 0;
    int64_t last_seen = 0;
    cv_result rc = cv_guard_new(NULL, &guard);
    if (rc == CV_RESULT_OK) {
      rc = cv_verifier_new_rooted(c->root, c->issuer, c->product, CV_FLAG_BINDING_OPTIONAL, 0,
                                  &v);
    }
    if (rc == CV_RESULT_OK && c->key_revocations) {
      rc = cv_verifier_load_key_revocations(v, c->key_revocations, guard);
      if (rc == CV_RESULT_OK) {
        cv_guard_read(guard, NULL, NULL, &key_revocations, NULL);
        if (key_revocations == 0) rc = CV_RESULT_INTERNAL;
      }
    }
    if (rc == CV_RESULT_OK) rc = cv_verify_guarded(v, c->token, NULL, c->now, guard, &lic);
    int ok;
    if (rc == CV_RESULT_OK) {
      cv_status st = CV_STATUS_EXPIRED;
      int64_t exp = 0;
      cv_guard_read(guard, &last_seen, NULL, NULL, NULL);
      ok = cv_license_status(lic, &st) == CV_RESULT_OK &&
           cv_license_expires_at(lic, &exp) == CV_RESULT_OK && c->expect_status &&
           strcmp(c->expect_status, status_name(st)) == 0 && exp == c->expect_at &&
           last_seen == c->now;
    } else {
      ok = c->expect_error && strcmp(c->expect_error, cv_result_name(rc)) == 0;
    }
    char *saved = NULL;
    if (cv_guard_encode(guard, &saved) != CV_RESULT_OK) ok = 0;
    printf("rooted %s: %s (state %s)\n", c->name,
           rc == CV_RESULT_OK ? "verified" : cv_result_name(rc), saved ? saved : "?");
    cv_string_free(saved);
    if (!ok) {
      fprintf(stderr, "  WRONG VERDICT for rooted %s\n", c->name);
      wrong++;
    }
    cv_license_free(lic);
    cv_verifier_free(v);
    cv_guard_free(guard);
  }
  return wrong;
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0); /* keep stdout and stderr lines in order */
  if (cv_abi_version() != CV_ABI_VERSION) {
    fprintf(stderr, "library ABI %" PRIu32 ", header %d\n", cv_abi_version(), CV_ABI_VERSION);
    return 2;
  }
  int failures = 0;
  failures += check("active_on_bound_device");
  failures += check("frozen_after_exp_until_freeze_window_ends");
  failures += check("rejects_license_copied_to_another_machine");
  failures += rooted();
  if (failures) {
    fprintf(stderr, "%d wrong verdict(s)\n", failures);
    return 1;
  }
  printf("C example: all verdicts as expected\n");
  return 0;
}
