'use strict';
// The shared golden cases (client-verifier/tests/vectors) through the Node binding: every case
// of license-v1.json and rooted-v1.json must get the verdict Rust, C, C++, C#, Python and Java
// get. The package under test: CLIENT_VERIFIER_PACKAGE (the installed tarball), else this folder.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');

const cv = require(process.env.CLIENT_VERIFIER_PACKAGE || path.join(__dirname, '..'));
const vectors = process.env.CLIENT_VERIFIER_VECTORS || path.join(__dirname, '..', '..', '..', 'tests', 'vectors');
const LICENSES = JSON.parse(fs.readFileSync(path.join(vectors, 'license-v1.json'), 'utf8'));
const ROOTED = JSON.parse(fs.readFileSync(path.join(vectors, 'rooted-v1.json'), 'utf8'));

const when = (text) => new Date(text);
const iso = (d) => d.toISOString().replace('.000Z', 'Z');

function statusTime(lic) {
  const at = { active: lic.expiresAt, frozen: lic.freezeUntil, expired: lic.freezeUntil,
    check_in_required: lic.checkInBy }[lic.status];
  return iso(at);
}

function licenseVerdict(c) {
  const o = c.verifier;
  const verifier = new cv.Verifier({
    publicKeys: o.trust.map((name) => LICENSES.keys[name].public),
    issuer: o.issuer,
    product: o.product,
    bindingOptional: o.binding === 'optional',
    matchAll: o.policy === 'all',
    minRevocationSeq: o.min_revocation_seq,
  });
  const lastSeen = Math.floor(when(c.guard_last_seen || '1970-01-01T00:00:00Z').getTime() / 1000);
  const state = new cv.State(`tg1.${lastSeen}`);
  try {
    if (c.revocations) verifier.loadRevocations(c.revocations);
    const lic = verifier.verify(c.token, { fingerprint: c.device, now: when(c.now), state });
    // Every accessor, so each conversion runs on every case.
    assert.ok(lic.id && lic.revision >= 1 && typeof lic.entitlements === 'object');
    assert.equal(typeof lic.feature('export'), 'boolean');
    assert.ok([null, 20].includes(lic.limit('max_projects')));
    assert.equal(lic.origin, (c.claims && c.claims.origin) || null);
    assert.equal(lic.isTrial, lic.origin === 'trial');
    return { status: lic.status, at: statusTime(lic) };
  } catch (e) {
    if (!e.code || e instanceof assert.AssertionError) throw e;
    return { error: e.code };
  }
}

for (const c of LICENSES.cases) {
  test(`license ${c.name}`, () => assert.deepEqual(licenseVerdict(c), c.expect));
}

function tokenProduct(token) {
  const body = Buffer.from(token.split('.')[2], 'base64url');
  return JSON.parse(body.subarray(0, body.length - 64).toString('utf8')).product;
}

for (const c of ROOTED.cases) {
  test(`rooted ${c.name}`, () => {
    const o = c.verifier;
    const verifier = new cv.Verifier({
      publicKeys: (o.trust || []).map((name) => ROOTED.keys[name]),
      issuer: 'acme-isv',
      product: o.product || tokenProduct(c.token),
      root: o.root ? ROOTED.roots[o.root] : undefined,
      bindingOptional: true,
    });
    const state = new cv.State();
    let got;
    try {
      if (c.key_revocations) {
        const seq = verifier.loadKeyRevocations(ROOTED.key_revocations[c.key_revocations], state);
        assert.ok(seq > 0 && seq === state.keyRevocationSeq);
      }
      const lic = verifier.verify(c.token, { now: when(c.now), state });
      got = { status: lic.status, at: statusTime(lic) };
      assert.equal(state.lastSeen.getTime(), when(c.now).getTime());
    } catch (e) {
      if (!e.code || e instanceof assert.AssertionError) throw e;
      got = { error: e.code };
    }
    assert.deepEqual(got, c.expect);
  });
}

test('the lists are not empty', () => {
  assert.ok(LICENSES.cases.length >= 40 && ROOTED.cases.length >= 10);
});
