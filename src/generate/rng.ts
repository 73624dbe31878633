/**
 * A small seedable pseudo-random generator for sampling.
 *
 * Why our own: `Math.random()` cannot be seeded, and "same seed → same tokens" must hold on every
 * platform and Node version. xoshiro128** (Blackman & Vigna) needs only 32-bit integer operations,
 * which JavaScript performs exactly (`Math.imul`, shifts, xor), so the stream is bit-identical
 * everywhere. Its quality is far beyond what drawing one token per step needs.
 */

import { randomBytes } from 'node:crypto';
import { Llama4Error } from '../errors.js';

/** A source of uniform random numbers. */
export interface Rng {
  /** Next uniform integer in [0, 2^32). */
  nextUint32(): number;
  /** Next uniform double in [0, 1), with 53 random bits. */
  nextFloat(): number;
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/**
 * One step of splitmix32 (a Weyl sequence through a 32-bit finalizer, constants from Chris
 * Wellons' hash prospector). Used only to spread a seed over xoshiro's 128-bit state: the
 * finalizer is a bijection, so distinct seeds give distinct states, and nearby seeds (0, 1, 2…)
 * give unrelated streams.
 */
function splitmix32(counter: number): number {
  let z = (counter + 0x9e3779b9) | 0;
  z ^= z >>> 16;
  z = Math.imul(z, 0x21f0aaad);
  z ^= z >>> 15;
  z = Math.imul(z, 0x735a2d97);
  z ^= z >>> 15;
  return z | 0;
}

/** xoshiro128**: 128 bits of state, period 2^128 − 1. State words are kept as int32. */
export class Xoshiro128StarStar implements Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  private constructor(s0: number, s1: number, s2: number, s3: number) {
    this.s0 = s0 | 0;
    this.s1 = s1 | 0;
    this.s2 = s2 | 0;
    this.s3 = s3 | 0;
    // The all-zero state is the one fixed point of the generator; it would emit zeros forever.
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  /**
   * A generator from a seed: any safe integer (negative ones included). Both 32-bit halves of the
   * seed reach the state, so seeds that differ only above bit 32 still give different streams.
   */
  static fromSeed(seed: number): Xoshiro128StarStar {
    if (!Number.isSafeInteger(seed)) {
      throw new Llama4Error(`seed must be a safe integer, got ${String(seed)}`);
    }
    const lo = seed >>> 0; // ToUint32 is modular, so this is the low word for negatives too
    const hi = Math.floor(seed / 4294967296) >>> 0;
    const a = splitmix32(lo);
    const b = splitmix32(lo + 0x9e3779b9);
    const c = splitmix32(hi ^ 0x5bd1e995);
    const d = splitmix32((hi ^ 0x5bd1e995) + 0x9e3779b9);
    return new Xoshiro128StarStar(a, b, c, d);
  }

  /** A generator from raw state words (for tests against the reference implementation). */
  static fromState(s0: number, s1: number, s2: number, s3: number): Xoshiro128StarStar {
    return new Xoshiro128StarStar(s0, s1, s2, s3);
  }

  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  nextFloat(): number {
    // 27 + 26 high bits of two draws make a 53-bit mantissa, the usual exact construction.
    const a = this.nextUint32() >>> 5;
    const b = this.nextUint32() >>> 6;
    return (a * 67108864 + b) / 9007199254740992;
  }
}

/**
 * A fresh random seed (a non-negative safe integer) from the OS entropy source, for requests that
 * give none. Callers should report it so an unseeded run can still be reproduced.
 */
export function randomSeed(): number {
  const bytes = randomBytes(8);
  const hi = bytes.readUInt32LE(4) & 0x1fffff; // 21 bits, so hi·2^32 + lo stays a safe integer
  return hi * 4294967296 + bytes.readUInt32LE(0);
}
