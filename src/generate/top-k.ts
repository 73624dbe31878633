/**
 * Partial selection of the largest values of a vector, for top-k sampling and top logprobs.
 *
 * With a 202k-entry vocabulary, sorting every step to keep 40 candidates would waste most of the
 * step's sampling time. A k-element min-heap costs O(V log k) in the worst case and close to O(V)
 * in practice, since almost every value loses its one comparison with the heap's root.
 */

/**
 * True when id `a` ranks below id `b`: smaller value, or the same value and a higher id. The id
 * tie-break makes the order total, so ties resolve toward the lowest id, as llama.cpp's greedy
 * sampler does, and the result never depends on the scan order.
 */
function ranksBelow(values: ArrayLike<number>, a: number, b: number): boolean {
  const va = values[a];
  const vb = values[b];
  return va < vb || (va === vb && a > b);
}

function siftUp(values: ArrayLike<number>, heap: Int32Array, i: number): void {
  const id = heap[i];
  while (i > 0) {
    const parent = (i - 1) >> 1;
    if (!ranksBelow(values, id, heap[parent])) break;
    heap[i] = heap[parent];
    i = parent;
  }
  heap[i] = id;
}

function siftDown(values: ArrayLike<number>, heap: Int32Array, size: number, i: number): void {
  const id = heap[i];
  for (;;) {
    let child = 2 * i + 1;
    if (child >= size) break;
    if (child + 1 < size && ranksBelow(values, heap[child + 1], heap[child])) child++;
    if (!ranksBelow(values, heap[child], id)) break;
    heap[i] = heap[child];
    i = child;
  }
  heap[i] = id;
}

/**
 * Sorts ids by value, largest first, ties toward the lowest id. `b - a` is NaN for two equal
 * infinities; NaN is falsy, so those fall through to the id comparison like any other tie.
 */
function sortDescending(values: ArrayLike<number>, ids: Int32Array): void {
  ids.sort((a, b) => values[b] - values[a] || a - b);
}

/** Ids fit in the low 21 bits of a sort key; 32 value bits + 21 id bits = 53, a double's mantissa. */
const ID_BITS = 2 ** 21;
const f32 = new Float32Array(1);
const f32Bits = new Uint32Array(f32.buffer);
let keyScratch = new Float64Array(0);

/**
 * Fills `ids[0..n)` with every id of `values` sorted like {@link sortDescending}, much faster for
 * float32 logits: each (value, id) pair is packed into one exactly-representable double whose
 * numeric order is the wanted order, so the engine's native numeric sort replaces a comparator
 * called ~n·log n times (about 10× faster on a 202k vocabulary). The key buffer is kept between
 * calls, since this runs once per generated token in the worst top-p case.
 */
function sortAllDescending(values: ArrayLike<number>, ids: Int32Array, n: number): void {
  if (!(values instanceof Float32Array) || n > ID_BITS) {
    for (let i = 0; i < n; i++) ids[i] = i;
    sortDescending(values, ids.subarray(0, n));
    return;
  }
  if (keyScratch.length < n) keyScratch = new Float64Array(n);
  const keys = keyScratch.subarray(0, n);
  for (let i = 0; i < n; i++) {
    f32[0] = values[i];
    let u = f32Bits[0];
    if (u === 0x80000000) u = 0; // -0 ties with +0, as it does in the comparator
    // IEEE order → unsigned order: flip all bits of negatives, set the sign bit of positives.
    const ascending = u & 0x80000000 ? ~u >>> 0 : (u | 0x80000000) >>> 0;
    keys[i] = (0xffffffff - ascending) * ID_BITS + i;
  }
  keys.sort();
  for (let i = 0; i < n; i++) ids[i] = keys[i] % ID_BITS;
}

/**
 * Whether selecting the top `k` of `n` values costs more with the heap than sorting all of them:
 * past about an eighth (measured on a 202k vocabulary: a heap of 16k ≈ 18 ms, of 50k ≈ 35 ms; one
 * full key sort ≈ 27 ms). Then {@link selectTopK} sorts everything, so a caller that may need more
 * than `k` later might as well ask for all `n`.
 */
export function fullSortIsCheaper(k: number, n: number): boolean {
  return k * 8 >= n;
}

/**
 * Writes the ids of the `k` largest entries of `values` into `out[0..k)`, largest first, ties
 * broken toward the lowest id, and returns how many were written (`min(k, values.length)`).
 * `values` must not contain NaN. `out` needs room for `k` ids; given room for all of `values` and a
 * large `k`, a plain sort is used instead of the heap.
 */
export function selectTopK(values: ArrayLike<number>, k: number, out: Int32Array): number {
  const n = values.length;
  const count = Math.min(k, n);
  if (count <= 0) return 0;
  if (out.length < count) throw new RangeError(`selectTopK: output has room for ${out.length} ids, needs ${count}`);

  if (fullSortIsCheaper(count, n) && out.length >= n) {
    sortAllDescending(values, out, n);
    return count;
  }

  // Min-heap (by rank) of the best `count` ids seen so far; the root is the one to evict next.
  for (let id = 0; id < count; id++) {
    out[id] = id;
    siftUp(values, out, id);
  }
  for (let id = count; id < n; id++) {
    if (ranksBelow(values, out[0], id)) {
      out[0] = id;
      siftDown(values, out, count, 0);
    }
  }
  sortDescending(values, out.subarray(0, count));
  return count;
}

/** The id of the largest entry, ties toward the lowest id; -1 for an empty vector. */
export function argmax(values: ArrayLike<number>): number {
  const n = values.length;
  if (n === 0) return -1;
  let best = 0;
  let bestValue = values[0];
  for (let i = 1; i < n; i++) {
    // Strictly greater: an equal later value has a higher id and must not win.
    if (values[i] > bestValue) {
      bestValue = values[i];
      best = i;
    }
  }
  return best;
}
