import { readFileSync } from 'node:fs';
import path from 'node:path';
import * as tf from '../../../src/tf.js';
import { expect } from 'vitest';
import { UnitAttackError } from '../../../src/errors.js';

/** The fixtures written by scripts/fixtures/make_fixtures.py. */
export const FIXTURES = path.resolve(import.meta.dirname, '..', '..', 'fixtures', 'models');

export interface TapExpectation { module: string; onnxOutput?: string; layout: 'NCHW'; shape: number[]; values: number[] }
export interface FamilyExpectation {
  model: string; preprocess: 'unit' | 'torch' | 'caffe' | 'tf'; opset: number; ops: string[];
  logits: number[][]; tap: TapExpectation;
}
export interface OnnxExpected { pixels: number[]; pixelShape: [number, number, number, number]; families: Record<string, FamilyExpectation> }
export interface KerasExpected {
  weights: string; model: string; bad: string; preprocess: 'caffe'; inputSize: number; widthMultiplier: number; fcWidth: number;
  pixels: number[]; pixelShape: [number, number, number, number]; logits: number[][]; tap: TapExpectation; badLayer: string;
}

export const onnxExpected = (): OnnxExpected => JSON.parse(readFileSync(path.join(FIXTURES, 'onnx-expected.json'), 'utf8')) as OnnxExpected;
export const kerasExpected = (): KerasExpected => JSON.parse(readFileSync(path.join(FIXTURES, 'keras-expected.json'), 'utf8')) as KerasExpected;

/** The fixture's 8-bit pixel images as float32 NHWC in [0, 1]. */
export function pixels(e: { pixels: number[]; pixelShape: [number, number, number, number] }): tf.Tensor4D {
  return tf.tensor4d(Float32Array.from(e.pixels, (v) => v / 255), e.pixelShape);
}

/** NHWC → NCHW values, to compare with PyTorch's activations. */
export function nchw(t: tf.Tensor): Float32Array {
  return tf.tidy(() => (t.rank === 4 ? tf.transpose(t, [0, 3, 1, 2]) : t).dataSync() as Float32Array).slice();
}

/** Awaits `p` and checks it rejects with a UnitAttackError of `code` whose message (and hint) match `text`. */
export async function expectError(p: Promise<unknown> | (() => unknown), code: string, text: RegExp): Promise<UnitAttackError> {
  let err: unknown;
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(UnitAttackError);
  const e = err as UnitAttackError;
  expect(e.code).toBe(code);
  expect(`${e.message}\n${e.hint ?? ''}`).toMatch(text);
  return e;
}
