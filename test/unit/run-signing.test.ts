import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../core/config/index.ts';
import { isSecretEnvName } from '../../core/config/secrets.ts';
import type { RunMessage } from '../../core/queue/port.ts';
import { canonicalJson, exportSigningKeys, generateSigningKeys, loadSigningKeys, signRunMessage, verifyRunMessage } from '../../core/queue/run-signing.ts';
import { signingKeys } from '../../core/queue/signing-config.ts';

const message: RunMessage = {
  runId: '42', attempt: 1, taskId: '0b5cf2a4-86f1-4d7e-9c5e-2f4b8e1d0a11', taskName: 'report', pool: 'default', priority: 0, type: 'shell',
  spec: { shell: { command: ['echo', 'hi'], env: { B: '2', A: '1' } } }, timeoutSeconds: 60, shard: 0, shardTotal: 1, scheduledTime: '2030-01-01T00:00:00.000Z',
};

describe('run message signatures (issue 13, item 2)', () => {
  const keys = generateSigningKeys();

  it('verify what the core signed, whatever the order of its keys', () => {
    const signed = signRunMessage(message, keys.secret);
    assert.equal(verifyRunMessage(signed, keys.public), undefined);
    const reordered = JSON.parse(canonicalJson(signed)) as RunMessage;
    assert.equal(verifyRunMessage({ ...reordered, spec: { shell: { env: { A: '1', B: '2' }, command: ['echo', 'hi'] } } }, keys.public), undefined);
  });

  it('refuse an unsigned message, a changed spec or pool, and another installation\'s signature', () => {
    const signed = signRunMessage(message, keys.secret);
    assert.match(verifyRunMessage(message, keys.public) ?? '', /not signed/);
    assert.match(verifyRunMessage({ ...signed, spec: { shell: { command: ['rm', '-rf', '/'] } } }, keys.public) ?? '', /does not verify/);
    assert.match(verifyRunMessage({ ...signed, pool: 'other' }, keys.public) ?? '', /does not verify/);
    assert.match(verifyRunMessage(signRunMessage(message, generateSigningKeys().secret), keys.public) ?? '', /does not verify/);
    assert.match(verifyRunMessage({ ...signed, signature: '!!' }, keys.public) ?? '', /does not verify|unreadable/);
  });

  it('load keys as base64 DER or PEM, derive the public key from the secret one, and refuse other keys', () => {
    const exported = exportSigningKeys(keys);
    const loaded = loadSigningKeys({ secretKey: exported.secretKey });
    assert.equal(verifyRunMessage(signRunMessage(message, loaded.secret!), keys.public), undefined);
    const pem = keys.public.export({ format: 'pem', type: 'spki' }).toString();
    assert.equal(verifyRunMessage(signRunMessage(message, keys.secret), loadSigningKeys({ publicKey: pem }).public!), undefined);
    assert.throws(() => loadSigningKeys({ publicKey: 'not a key' }), /public_key: not a PEM or base64 DER Ed25519 key/);
  });

  it('come from RUN_SIGNING_SECRET_KEY / RUN_SIGNING_PUBLIC_KEY, which tasks never see', () => {
    const exported = exportSigningKeys(keys);
    const core = loadConfig({ env: { RUN_SIGNING_SECRET_KEY: exported.secretKey } }).config;
    assert.equal(signingKeys(core).secret?.asymmetricKeyType, 'ed25519');
    const worker = loadConfig({ env: { RUN_SIGNING_PUBLIC_KEY: exported.publicKey } }).config;
    assert.equal(signingKeys(worker).secret, undefined, 'a worker holds no secret key');
    assert.equal(verifyRunMessage(signRunMessage(message, signingKeys(core).secret!), signingKeys(worker).public!), undefined);
    assert.ok(isSecretEnvName('RUN_SIGNING_SECRET_KEY') && isSecretEnvName('RUN_SIGNING_PUBLIC_KEY'));
  });
});
