/* The license check a C application makes at start, as a program to copy.
 *
 *   minimal KEYS_FILE TOKEN_FILE STATE_FILE
 *
 * KEYS_FILE holds the issuer's public keys, one PASERK (k4.public.…) per line (`licd keys
 * export > KEYS_FILE` writes it; a real application compiles them in). TOKEN_FILE holds the license.
 * STATE_FILE keeps the verifier's state between runs (clock-rollback guard, newest revocation
 * list seen); it is created on the first run. The license is checked against this machine's
 * fingerprint at the current time, and the program prints what the user should see.
 *
 * Exit status: 0 licensed, 3 frozen (still runs, renewal due), 4 expired, 5 check-in due,
 * 10 refused (not a license for this machine or product, revoked, clock set back), 2 bad usage
 * or unreadable files.
 *
 * Build: cc minimal.c $(pkg-config --cflags --libs client_verifier), or with CMake
 * find_package(ClientVerifier) and target_link_libraries(app ClientVerifier::client_verifier). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client_verifier.h"

/* Your product: the issuer name licd signs with (its --issuer, by default "licd") and the
   marketplace productId. */
#ifndef APP_ISSUER
#define APP_ISSUER "licd"
#endif
#ifndef APP_PRODUCT
#define APP_PRODUCT "OFFI454488918838374"
#endif

#define MAX_KEYS 8
#define MAX_FILE 16384

enum { LICENSED = 0, USAGE = 2, FROZEN = 3, EXPIRED = 4, CHECK_IN = 5, REFUSED = 10 };

/* The whole file as a NUL-terminated string without trailing white space, or NULL. */
static char *read_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  char *buf = malloc(MAX_FILE + 1);
  size_t n = buf ? fread(buf, 1, MAX_FILE, f) : 0;
  fclose(f);
  if (!buf) return NULL;
  while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ')) n--;
  buf[n] = '\0';
  return buf;
}

static void day(int64_t t, char out[11]) {
  time_t tt = (time_t)t;
  struct tm *tm = gmtime(&tt);
  if (!tm || strftime(out, 11, "%Y-%m-%d", tm) == 0) strcpy(out, "?");
}

/* What the user reads when the license is refused, by reason. */
static void explain_refusal(cv_result rc) {
  /* The message lives until this thread's next cv_* call: log it first. */
  const char *why = cv_last_error_message();
  fprintf(stderr, "license check: %s: %s\n", cv_result_name((int32_t)rc), why ? why : "");
  switch (rc) {
    case CV_RESULT_DEVICE_MISMATCH: {
      char *fp = NULL;
      printf("This license belongs to another machine.\n");
      if (cv_machine_fingerprint(&fp) == CV_RESULT_OK) {
        printf("To move it here, send your vendor this machine's fingerprint:\n  %s\n", fp);
        cv_string_free(fp);
      }
      break;
    }
    case CV_RESULT_REVOKED:
      printf("This license has been revoked. Contact your vendor.\n");
      break;
    case CV_RESULT_CLOCK_ROLLBACK:
      printf("The system clock is behind the time this program last saw. Correct it and start again.\n");
      break;
    case CV_RESULT_NOT_YET_VALID:
      printf("This license is not valid yet. Check the system clock.\n");
      break;
    default:
      printf("The license file is not a valid license for this product (%s).\n",
             cv_result_name((int32_t)rc));
  }
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s KEYS_FILE TOKEN_FILE STATE_FILE\n", argv[0]);
    return USAGE;
  }
  if (cv_abi_version() != CV_ABI_VERSION) {
    fprintf(stderr, "libclient_verifier has ABI %u, this program was built for %u\n",
            cv_abi_version(), (unsigned)CV_ABI_VERSION);
    return USAGE;
  }
  char *keys_text = read_file(argv[1]);
  char *token = read_file(argv[2]);
  if (!keys_text || !token) {
    fprintf(stderr, "cannot read %s\n", keys_text ? argv[2] : argv[1]);
    free(keys_text);
    free(token);
    return USAGE;
  }
  const char *keys[MAX_KEYS];
  size_t key_count = 0;
  for (char *line = strtok(keys_text, "\r\n"); line && key_count < MAX_KEYS;
       line = strtok(NULL, "\r\n")) {
    if (line[0] != '\0' && line[0] != '#') keys[key_count++] = line;
  }

  /* The state saved by the last run, if any. */
  CvState state = {0, 0};
  char *saved = read_file(argv[3]);
  if (saved && saved[0] != '\0' && cv_state_decode(saved, &state) != CV_RESULT_OK) {
    fprintf(stderr, "%s is not a saved state; starting afresh\n", argv[3]);
  }
  free(saved);

  int exit_status = REFUSED;
  cv_verifier *v = NULL;
  cv_result rc = cv_verifier_new(keys, key_count, APP_ISSUER, APP_PRODUCT,
                                 CV_FLAG_BINDING_OPTIONAL, state.revocation_seq, &v);
  if (rc != CV_RESULT_OK) {
    fprintf(stderr, "bad public keys in %s: %s\n", argv[1], cv_last_error_message());
    free(keys_text);
    free(token);
    return USAGE;
  }

  /* NULL fingerprint: this machine's. The time is now. */
  cv_license *lic = NULL;
  rc = cv_verify_with_state(v, token, NULL, (int64_t)time(NULL), &state, &lic);
  if (rc != CV_RESULT_OK) {
    explain_refusal(rc);
  } else {
    cv_status status = CV_STATUS_EXPIRED;
    int64_t expires = 0, freeze_until = 0, check_in_by = 0;
    const char *id = "", *edition = "";
    cv_license_status(lic, &status);
    cv_license_expires_at(lic, &expires);
    cv_license_freeze_until(lic, &freeze_until);
    cv_license_check_in_by(lic, &check_in_by);
    cv_license_id(lic, &id);
    cv_license_edition(lic, &edition);
    char exp_day[11], freeze_day[11], check_day[11];
    day(expires, exp_day);
    day(freeze_until, freeze_day);
    day(check_in_by, check_day);
    switch (status) {
      case CV_STATUS_ACTIVE:
        printf("Licensed%s%s until %s (license %s).\n", edition[0] ? ": " : "", edition, exp_day,
               id);
        exit_status = LICENSED;
        break;
      case CV_STATUS_FROZEN:
        printf("Your subscription ended on %s. The software keeps working until %s: renew it to keep using it.\n",
               exp_day, freeze_day);
        exit_status = FROZEN;
        break;
      case CV_STATUS_CHECK_IN_REQUIRED:
        printf("This machine had to check in by %s. Connect it to the internet, or make an offline request, to go on.\n",
               check_day);
        exit_status = CHECK_IN;
        break;
      case CV_STATUS_EXPIRED:
      default:
        printf("Your license ended on %s. Renew it to use the software again.\n", exp_day);
        exit_status = EXPIRED;
    }
    cv_license_free(lic);
  }
  cv_verifier_free(v);

  /* Save the state whatever the result: it only ever moves forward. */
  char *text = NULL;
  if (cv_state_encode(&state, &text) == CV_RESULT_OK) {
    FILE *f = fopen(argv[3], "wb");
    if (f) {
      fprintf(f, "%s\n", text);
      fclose(f);
    } else {
      fprintf(stderr, "cannot save the state to %s\n", argv[3]);
    }
    cv_string_free(text);
  }
  free(keys_text);
  free(token);
  return exit_status;
}
