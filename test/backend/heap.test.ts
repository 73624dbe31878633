/** The wasm heap hands out addresses up to 4 GiB: past 2 GiB they must stay positive numbers. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Arena, WasmHeap } from '../../src/backend/wasm/heap.js';

describe('wasm heap', () => {
  it('addresses past 2 GiB stay positive and usable (no int32 wrap-around)', () => {
    const heap = new WasmHeap(3 * 2 ** 30);
    heap.alloc(2 ** 31 + 1000, 'big'); // only reserves pages; nothing is touched
    const addr = heap.alloc(64, 'small');
    assert.ok(addr > 2 ** 31, `address ${addr}`);
    assert.equal(addr % 16, 0);
    const view = new Float32Array(heap.memory.buffer, addr, 16);
    view[3] = 42;
    assert.equal(heap.f32[(addr >>> 2) + 3], 42);
    const arena = new Arena(heap, 'io');
    arena.reset(1000);
    const a = arena.take(10), b = arena.take(10);
    assert.ok(a > 2 ** 31 && b > a && b % 16 === 0);
  });
});
