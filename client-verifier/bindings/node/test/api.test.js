'use strict';
// The binding's own behaviour: arguments, errors, state, fingerprint, offline activation.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const cv = require(process.env.CLIENT_VERIFIER_PACKAGE || path.join(__dirname, '..'));
const vectors = process.env.CLIENT_VERIFIER_VECTORS || path.join(__dirname, '..', '..', '..', 'tests', 'vectors');
const LICENSES = JSON.parse(fs.readFileSync(path.join(vectors, 'license-v1.json'), 'utf8'));
const CASE = LICENSES.cases.find((c) => c.name === 'active_on_bound_device');
const UNBOUND = LICENSES.cases.find((c) => c.name === 'unbound_accepted_when_binding_optional');
const KEYS = [LICENSES.keys.current.public, LICENSES.keys.old.public];
const { issuer, product } = CASE.verifier;
const NOW = new Date('2026-06-01T00:00:00Z');
const verifier = () => new cv.Verifier({ publicKeys: KEYS, issuer, product });

test('a license reads as JavaScript values', () => {
  const lic = verifier().verify(CASE.token, { fingerprint: CASE.device, now: NOW });
  assert.equal(lic.status, 'active');
  assert.ok(lic.isActive);
  assert.ok(lic.expiresAt instanceof Date);
  assert.equal(lic.expiresAt.toISOString(), '2027-01-01T00:00:00.000Z');
  assert.equal(lic.id, 'lic-0001');
  assert.equal(lic.customer, 'cust-6a1f');
  assert.equal(lic.edition, null);
  assert.deepEqual(lic.entitlements, { edition: 'pro', max_projects: 20 });
  assert.equal(lic.limit('max_projects'), 20);
  assert.equal(lic.limit('nope'), null);
  assert.equal(lic.checkInBy, null);
  assert.match(lic.keyId, /^k4\.pid\./);
  // Seconds since 1970 work as well as a Date.
  const secs = Math.floor(NOW.getTime() / 1000);
  assert.equal(verifier().verify(CASE.token, { fingerprint: CASE.device, now: secs }).status, 'active');
});

test('errors are Errors with a stable code', () => {
  const other = new cv.Verifier({ publicKeys: KEYS, issuer, product: 'another-product' });
  assert.throws(() => other.verify(CASE.token, { fingerprint: CASE.device, now: NOW }),
    (e) => e instanceof Error && e.code === 'WrongProduct' && /another-product/.test(e.message));
  assert.throws(() => new cv.Verifier({ publicKeys: ['k4.public.nonsense'], issuer, product }),
    (e) => e.code === 'BadKey');
});

test('arguments that would weaken or mislead are refused', () => {
  for (const o of [{ publicKeys: KEYS }, { publicKeys: KEYS, issuer }, { publicKeys: KEYS, product },
    { publicKeys: [], issuer, product }]) {
    assert.throws(() => new cv.Verifier(o), (e) => e.code === 'InvalidArgument');
  }
  assert.throws(() => verifier().verify(CASE.token, { now: 'yesterday' }), (e) => e.code === 'InvalidArgument');
  assert.throws(() => verifier().verify(CASE.token, { now: new Date('nonsense') }), (e) => e.code === 'InvalidArgument');
  assert.throws(() => new cv.State('not a state'));
  assert.throws(() => verifier().verify(CASE.token, { state: {} }), (e) => e.code === 'InvalidArgument');
});

test('the state guards the clock across runs', () => {
  const state = new cv.State();
  verifier().verify(CASE.token, { fingerprint: CASE.device, now: NOW, state });
  const saved = state.encode();
  assert.equal(new cv.State(saved).lastSeen.getTime(), NOW.getTime());
  const back = new Date(NOW.getTime() - 2 * 86400 * 1000);
  assert.throws(() => verifier().verify(CASE.token, { fingerprint: CASE.device, now: back, state: new cv.State(saved) }),
    (e) => e.code === 'ClockRollback');
});

test('this machine has a fingerprint', () => {
  const fp = cv.fingerprint();
  assert.equal(typeof fp, 'string');
  assert.equal(fp.split('|').length, 4);
});

test('an air-gapped machine requests activation; nothing to give back before one', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cv-node-'));
  try {
    const request = cv.offlineRequest(UNBOUND.token, dir, { fingerprint: CASE.device });
    assert.match(request, /^lor1\./);
    assert.ok(request.length <= 700);
    assert.throws(() => cv.offlineRequest('v4.public.bogus', dir, { fingerprint: CASE.device }),
      (e) => e.code === 'NotALicense');
    assert.throws(() => cv.offlineReceipt(path.join(dir, 'never-activated')), (e) => e.code === 'OfflineState');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a lease client that cannot reach its server says so, as a rejected promise', async () => {
  const pending = cv.LeaseClient.acquire(verifier(), {
    server: 'http://127.0.0.1:9', license: CASE.token, instance: 'node-test', fingerprint: CASE.device,
  });
  assert.ok(pending instanceof Promise);
  await assert.rejects(pending, (e) => e instanceof Error && e.code === 'ServerUnreachable');
});

test('the TypeScript declarations describe what the module exports', () => {
  // index.d.ts is written by hand: each exported class and function must exist, each the module
  // exports must be declared, and each class's declared members must exist on it.
  const dts = fs.readFileSync(path.join(require.resolve(process.env.CLIENT_VERIFIER_PACKAGE || path.join(__dirname, '..')), '..', 'index.d.ts'), 'utf8');
  const declared = [...dts.matchAll(/^export (?:class|function) (\w+)/gm)].map((m) => m[1]).sort();
  assert.deepEqual(declared, Object.keys(cv).sort());
  for (const block of dts.matchAll(/^export class (\w+) \{([\s\S]*?)^\}/gm)) {
    const [, name, body] = block;
    for (const m of body.matchAll(/^\s+(?:static |readonly )?(\w+)[(:?]/gm)) {
      const member = m[1];
      if (member === 'constructor') continue;
      const target = /^\s+static /.test(m[0]) ? cv[name] : cv[name].prototype;
      assert.ok(member in target, `${name}.${member} is declared but missing`);
    }
  }
});
