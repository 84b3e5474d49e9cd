import * as tf from '../../src/tf.js';
import { afterEach, describe, expect, it } from 'vitest';
import { UnitAttackError } from '../../src/errors.js';
import { BACKEND_ENV_VAR, backendInfo, initBackend, type BackendName } from '../../src/engine/backend.js';

describe('initBackend', () => {
  const savedEnv = process.env[BACKEND_ENV_VAR];
  afterEach(() => {
    if (savedEnv === undefined) delete process.env[BACKEND_ENV_VAR];
    else process.env[BACKEND_ENV_VAR] = savedEnv;
  });

  it('should reject an invalid backend name with a usage error listing the valid names', async () => {
    const err = await initBackend({ backend: 'gpu' as BackendName }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnitAttackError);
    expect((err as UnitAttackError).code).toBe('UA_USAGE');
    expect((err as UnitAttackError).message).toMatch(/'auto', 'tensorflow', 'wasm', 'cpu'/);
  });

  it('should say how to install tfjs-node when tensorflow is asked for but missing', async () => {
    const err = await initBackend({ backend: 'tensorflow' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnitAttackError);
    expect((err as UnitAttackError).code).toBe('UA_USAGE');
    expect((err as UnitAttackError).message).toMatch(/not installed/);
    expect((err as UnitAttackError).hint).toMatch(/npm install @tensorflow\/tfjs-node@/);
  });

  it('should use cpu when asked', async () => {
    const info = await initBackend({ backend: 'cpu' });
    expect(info).toMatchObject({ name: 'cpu', requested: 'cpu', threads: 1, simd: undefined, fastKernels: [] });
    expect(tf.getBackend()).toBe('cpu');
    expect(tf.tidy(() => tf.add(1, 2).arraySync())).toBe(3);
  });

  it('should read the choice from UNIT_ATTACK_BACKEND when no option is given', async () => {
    process.env[BACKEND_ENV_VAR] = 'CPU';
    const info = await initBackend();
    expect(info.name).toBe('cpu');
    process.env[BACKEND_ENV_VAR] = 'nope';
    const err = await initBackend().catch((e: unknown) => e);
    expect((err as UnitAttackError).code).toBe('UA_USAGE');
    expect((err as UnitAttackError).message).toMatch(/UNIT_ATTACK_BACKEND=nope/);
  });

  it('should let the option win over the environment variable', async () => {
    process.env[BACKEND_ENV_VAR] = 'nope';
    const info = await initBackend({ backend: 'cpu' });
    expect(info.name).toBe('cpu');
  });

  it('should fall to wasm with fast kernels under auto when tfjs-node is absent, and be idempotent', async () => {
    delete process.env[BACKEND_ENV_VAR];
    const info = await initBackend();
    expect(info.name).toBe('wasm');
    expect(info.requested).toBe('auto');
    expect(info.reason).toBe('tfjs-node not installed; wasm available');
    expect(info.tfjsVersion).toBe(tf.version_core);
    expect(info.backendVersion).toMatch(/^\d+\.\d+\.\d+/);
    expect(typeof info.simd).toBe('boolean');
    expect(info.threads).toBeGreaterThanOrEqual(1);
    expect(info.fastKernels).toEqual(expect.arrayContaining(['Conv2DBackpropInput', 'Conv2DBackpropFilter']));
    expect(await initBackend()).toBe(info);
    expect(backendInfo()).toEqual(info);
  });

  it('should reject a bad thread count', async () => {
    const err = await initBackend({ backend: 'wasm', threads: 0 }).catch((e: unknown) => e);
    expect((err as UnitAttackError).code).toBe('UA_USAGE');
  });
});
