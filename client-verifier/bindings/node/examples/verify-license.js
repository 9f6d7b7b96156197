'use strict';
// Reads a license and prints its status: node verify-license.js LICENSE_FILE KEYS_FILE [STATE_FILE]
const fs = require('node:fs');
const cv = require('client-verifier');

const [licenseFile, keysFile, stateFile = 'license.state'] = process.argv.slice(2);
const token = fs.readFileSync(licenseFile, 'utf8').trim();
const publicKeys = fs.readFileSync(keysFile, 'utf8').split(/\s+/).filter(Boolean); // licd keys export

const verifier = new cv.Verifier({ publicKeys, issuer: 'acme-isv', product: 'OFFI454488918838374' });
const state = new cv.State(fs.existsSync(stateFile) ? fs.readFileSync(stateFile, 'utf8') : undefined);
try {
  const lic = verifier.verify(token, { state }); // this machine, the system clock
  console.log(`${lic.id}: ${lic.status} until ${lic.expiresAt.toISOString().slice(0, 10)}`);
} catch (e) {
  console.log(`not licensed (${e.code}): ${e.message}`);
} finally {
  fs.writeFileSync(stateFile, state.encode()); // whatever the result: the clock guard moves on
}
