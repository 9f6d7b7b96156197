'use strict';
// The documented API over the native addon (src/lib.rs): options objects, Dates, errors with
// a `code`. The addon for this platform sits beside this file, built by scripts/build-node.sh.
const path = require('node:path');

const addon = `client-verifier.${process.platform}-${process.arch}.node`;
let native;
try {
  native = require(path.join(__dirname, addon));
} catch (e) {
  const err = new Error(
    `client-verifier: no native addon ${addon} for this platform in ${__dirname} ` +
      `(build the package on ${process.platform}-${process.arch} with scripts/build-node.sh): ${e.message}`,
  );
  err.code = 'Internal';
  throw err;
}

const NATIVE = Symbol('client-verifier native');

function invalid(message) {
  const err = new TypeError(message);
  err.code = 'InvalidArgument';
  return err;
}

/** `now` as seconds since 1970: undefined (the clock), a Date, or an integer of seconds. */
function seconds(now) {
  if (now === undefined || now === null) return undefined;
  if (now instanceof Date) {
    const ms = now.getTime();
    if (Number.isNaN(ms)) throw invalid('now is an invalid Date');
    return Math.floor(ms / 1000);
  }
  if (Number.isSafeInteger(now)) return now;
  throw invalid('now is neither a Date nor an integer number of seconds since 1970');
}

const date = (secs) => new Date(secs * 1000);
const optionalString = (s, name) => {
  if (s === undefined || s === null) return undefined;
  if (typeof s !== 'string') throw invalid(`${name} is not a string`);
  return s;
};

class State {
  /** @param {string} [text] what `encode()` gave last run */
  constructor(text) {
    this[NATIVE] = new native.State(optionalString(text, 'text'));
  }
  encode() {
    return this[NATIVE].encode();
  }
  get lastSeen() {
    return date(this[NATIVE].lastSeen);
  }
  get revocationSeq() {
    return this[NATIVE].revocationSeq;
  }
  get keyRevocationSeq() {
    return this[NATIVE].keyRevocationSeq;
  }
  get rootVersion() {
    return this[NATIVE].rootVersion;
  }
}

class License {
  constructor(n) {
    this[NATIVE] = n;
  }
  get status() { return this[NATIVE].status; }
  get isActive() { return this[NATIVE].status === 'active'; }
  get expiresAt() { return date(this[NATIVE].expiresAt); }
  get freezeUntil() { return date(this[NATIVE].freezeUntil); }
  get checkInBy() {
    const s = this[NATIVE].checkInBy;
    return s === null || s === undefined ? null : date(s);
  }
  get id() { return this[NATIVE].id; }
  get customer() { return this[NATIVE].customer; }
  get issuer() { return this[NATIVE].issuer; }
  get product() { return this[NATIVE].product; }
  get sku() { return this[NATIVE].sku; }
  get order() { return this[NATIVE].order; }
  get revision() { return this[NATIVE].revision; }
  get quantity() { return this[NATIVE].quantity; }
  get edition() { return this[NATIVE].edition ?? null; }
  get keyId() { return this[NATIVE].keyId; }
  get origin() { return this[NATIVE].origin ?? null; }
  get isTrial() { return this[NATIVE].origin === 'trial'; }
  get entitlements() { return JSON.parse(this[NATIVE].entitlementsJson); }
  feature(name) { return this[NATIVE].feature(String(name)); }
  limit(name) { return this[NATIVE].limit(String(name)) ?? null; }
  toJSON() {
    return {
      id: this.id, status: this.status, expiresAt: this.expiresAt, freezeUntil: this.freezeUntil,
      checkInBy: this.checkInBy, customer: this.customer, product: this.product, sku: this.sku,
      edition: this.edition, origin: this.origin, entitlements: this.entitlements,
    };
  }
}

class Lease {
  constructor(n) {
    this[NATIVE] = n;
  }
  get expiresAt() { return date(this[NATIVE].expiresAt); }
  get id() { return this[NATIVE].id; }
  get license() { return this[NATIVE].license; }
  get seat() { return this[NATIVE].seat; }
  get instance() { return this[NATIVE].instance; }
  get borrowed() { return this[NATIVE].borrowed; }
  get edition() { return this[NATIVE].edition ?? null; }
  feature(name) { return this[NATIVE].feature(String(name)); }
  limit(name) { return this[NATIVE].limit(String(name)) ?? null; }
}

function nativeState(state) {
  if (state === undefined || state === null) return undefined;
  if (!(state instanceof State)) throw invalid('state is not a State');
  return state[NATIVE];
}

class Verifier {
  /**
   * @param {{publicKeys?: string[], issuer: string, product: string, root?: string,
   *   bindingOptional?: boolean, matchAll?: boolean, minRevocationSeq?: number}} options
   */
  constructor(options) {
    if (options === null || typeof options !== 'object') throw invalid('options is not an object');
    this[NATIVE] = native.Verifier.create({
      publicKeys: options.publicKeys,
      issuer: options.issuer,
      product: options.product,
      root: options.root,
      bindingOptional: options.bindingOptional,
      matchAll: options.matchAll,
      minRevocationSeq: options.minRevocationSeq,
    });
  }
  /** @returns {License} */
  verify(token, { fingerprint, now, state } = {}) {
    return new License(
      this[NATIVE].verify(token, optionalString(fingerprint, 'fingerprint'), seconds(now), nativeState(state)),
    );
  }
  /** @returns {Lease} */
  verifyLease(token, { fingerprint, now } = {}) {
    return new Lease(this[NATIVE].verifyLease(token, optionalString(fingerprint, 'fingerprint'), seconds(now)));
  }
  loadRevocations(token, { state } = {}) {
    return this[NATIVE].loadRevocations(token, nativeState(state));
  }
  loadKeyRevocations(statement, state) {
    if (!(state instanceof State)) throw invalid('state is not a State');
    return this[NATIVE].loadKeyRevocations(statement, state[NATIVE]);
  }
  get revocationSeq() {
    return this[NATIVE].revocationSeq;
  }
}

class LeaseClient {
  constructor(n) {
    if (n === undefined) throw invalid('use LeaseClient.acquire(verifier, options)');
    this[NATIVE] = n;
  }
  /**
   * Leases a seat of a floating license (one request, off the event loop), then renews it in
   * the background until close().
   * @returns {Promise<LeaseClient>}
   */
  static async acquire(verifier, { server, license, instance, fingerprint, caPem, allowPlainHttp } = {}) {
    if (!(verifier instanceof Verifier)) throw invalid('verifier is not a Verifier');
    const outcome = await native.acquireLease(verifier[NATIVE], {
      server, license, instance, fingerprint, caPem, allowPlainHttp,
    });
    if (outcome.errorCode) {
      const err = new Error(outcome.errorMessage);
      err.code = outcome.errorCode;
      throw err;
    }
    return new LeaseClient(outcome.client);
  }
  get valid() { return this[NATIVE].valid; }
  get state() { return this[NATIVE].state; }
  get token() { return this[NATIVE].token ?? null; }
  get lease() {
    const l = this[NATIVE].lease;
    return l ? new Lease(l) : null;
  }
  close() { this[NATIVE].close(); }
}

module.exports = {
  Verifier,
  License,
  Lease,
  State,
  LeaseClient,
  fingerprint: () => native.fingerprint(),
  offlineRequest: (token, stateDir, { fingerprint } = {}) =>
    native.offlineRequest(token, stateDir, optionalString(fingerprint, 'fingerprint')),
  offlineReceipt: (stateDir) => native.offlineReceipt(stateDir),
};
