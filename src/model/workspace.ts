/**
 * Reusable activation buffers for a forward pass. A decoding step would otherwise allocate (and
 * zero, and later collect) a few dozen Float32Arrays per layer; these are taken by name and only
 * grow. A buffer's contents live until the same name is taken again, so each name must belong to
 * one use at a time (and passes with hooks, whose callbacks see live arrays, do not use them).
 */
export class Workspace {
  private readonly buffers = new Map<string, Float32Array>();

  /** A buffer of n floats for `name` (contents undefined: every user overwrites it whole). */
  f32(name: string, n: number): Float32Array {
    let b = this.buffers.get(name);
    if (!b || b.length < n) {
      b = new Float32Array(Math.max(n, (b?.length ?? 0) * 2));
      this.buffers.set(name, b);
    }
    return b.length === n ? b : b.subarray(0, n);
  }
}
