/**
 * What a weight file holds, independent of its format: named tensors with a type, a shape and
 * their raw bytes. Quantized tensors keep their block layout; nothing is converted here.
 */

/** Tensor element types llama4.ts reads. Names follow ggml (`Q4_K` …) and safetensors (`BF16` …). */
export type DType =
  | 'F32' | 'F16' | 'BF16'
  | 'Q8_0' | 'Q4_0' | 'Q4_1' | 'Q5_0' | 'Q5_1'
  | 'Q4_K' | 'Q5_K' | 'Q6_K';

export interface TensorData {
  readonly name: string;
  readonly dtype: DType;
  /**
   * Row-major shape, outermost dimension first (PyTorch order): a linear layer's weight is
   * `[outFeatures, inFeatures]`. GGUF's `ne` list is reversed into this order at load. Quantized
   * blocks always run along the last (innermost) dimension.
   */
  readonly shape: readonly number[];
  /**
   * The tensor's bytes, exactly as stored (little-endian). For a lazily opened file, reading
   * this property reads the file each time (nothing is cached): read it once.
   */
  readonly bytes: Uint8Array;
  /** Size of the stored bytes. */
  readonly byteLength: number;
  /**
   * Lazy sources only: reads the bytes straight into `dst` (e.g. a backend's own memory), with
   * no intermediate copy.
   */
  readInto?(dst: Uint8Array): void;
}

/** A parsed weight file (or a set of shards): tensors by name plus the file's metadata. */
export interface TensorSource {
  /** The file (or folder) the tensors came from, for error messages. */
  readonly path: string;
  readonly tensors: ReadonlyMap<string, TensorData>;
}
