/* A floating license in a C application: lease a seat at start, run while the lease is valid
 * (the library renews it in the background), give the seat back at exit.
 *
 *   lease_client SERVER_URL KEYS_FILE LICENSE_FILE INSTANCE [FINGERPRINT] [SECONDS]
 *
 * KEYS_FILE holds the issuer's public keys, one PASERK per line (`licd keys export`);
 * LICENSE_FILE the floating license token. FINGERPRINT defaults to this machine's. The program
 * holds its seat for SECONDS (default 0), printing the client's state each second.
 *
 * Exit status: 0 leased (and released), 6 all seats taken, 7 refused, 8 server unreachable,
 * 10 the lease did not verify, 2 bad usage or unreadable files.
 *
 * Build against a library made with feature `ffi-lease`:
 *   cc -DCV_LEASE_CLIENT lease_client.c $(pkg-config --cflags --libs client_verifier) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client_verifier.h"

#ifndef APP_ISSUER
#define APP_ISSUER "licd"
#endif
#ifndef APP_PRODUCT
#define APP_PRODUCT "OFFI454488918838374"
#endif

#define MAX_KEYS 8
#define MAX_FILE 16384

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

static const char *state_name(cv_lease_state s) {
  switch (s) {
    case CV_LEASE_STATE_LEASED: return "leased";
    case CV_LEASE_STATE_RENEWING: return "renewing";
    case CV_LEASE_STATE_LOST: return "lost";
    case CV_LEASE_STATE_REFUSED: return "refused";
  }
  return "?";
}

int main(int argc, char **argv) {
  /* One line at a time, also into a file or a pipe: a supervisor reads the state as it comes. */
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc < 5) {
    fprintf(stderr, "usage: %s SERVER_URL KEYS_FILE LICENSE_FILE INSTANCE [FINGERPRINT] [SECONDS]\n", argv[0]);
    return 2;
  }
  char *keys_text = read_file(argv[2]);
  char *license = read_file(argv[3]);
  if (!keys_text || !license) {
    fprintf(stderr, "cannot read %s or %s\n", argv[2], argv[3]);
    return 2;
  }
  const char *keys[MAX_KEYS];
  size_t n = 0;
  for (char *line = strtok(keys_text, "\n"); line && n < MAX_KEYS; line = strtok(NULL, "\n"))
    if (*line) keys[n++] = line;
  const char *fingerprint = argc > 5 && *argv[5] ? argv[5] : NULL;
  int seconds = argc > 6 ? atoi(argv[6]) : 0;

  cv_verifier *v = NULL;
  cv_result rc = cv_verifier_new(keys, n, APP_ISSUER, APP_PRODUCT, 0, 0, &v);
  if (rc != CV_RESULT_OK) {
    fprintf(stderr, "verifier: %s: %s\n", cv_result_name(rc), cv_last_error_message());
    return 2;
  }
  cv_lease_client *lease = NULL;
  rc = cv_lease_client_acquire(v, argv[1], license, argv[4], fingerprint, NULL, 0, &lease);
  /* The client keeps its own copy of the verifier. */
  cv_verifier_free(v);
  free(keys_text);
  free(license);
  if (rc != CV_RESULT_OK) {
    printf("no seat: %s: %s\n", cv_result_name(rc), cv_last_error_message());
    switch (rc) {
      case CV_RESULT_SEATS_TAKEN: return 6;
      case CV_RESULT_LEASE_REFUSED: return 7;
      case CV_RESULT_SERVER_UNREACHABLE: return 8;
      default: return 10;
    }
  }
  for (int i = 0;; i++) {
    cv_lease_state state;
    uint32_t seat = 0;
    uint64_t valid_for = 0;
    if (cv_lease_client_state(lease, &state, &seat, &valid_for) != CV_RESULT_OK) break;
    printf("state=%s valid=%d seat=%u valid_for=%llu\n", state_name(state), cv_lease_client_valid(lease),
           seat, (unsigned long long)valid_for);
    if (i == 0) {
      char *json = NULL;
      if (cv_lease_client_entitlements_json(lease, &json) == CV_RESULT_OK) {
        printf("entitlements=%s\n", json);
        cv_string_free(json);
      }
    }
    if (i >= seconds) break;
    sleep(1);
  }
  /* Gives the seat back. */
  cv_lease_client_free(lease);
  printf("released\n");
  return 0;
}
