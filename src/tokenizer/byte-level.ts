/**
 * GPT-2 "byte-level" alphabet: byte-level BPE vocabularies (tokenizer.json and GGUF `gpt2` models)
 * store every token as a string in which each raw byte is replaced by one printable code point, so
 * that merges never see whitespace or control characters. Llama 3 and Llama 4 both use it.
 */

/** byte → code point of its printable stand-in (GPT-2 `bytes_to_unicode`). */
const BYTE_TO_CODE_POINT: readonly number[] = (() => {
  const table = new Array<number>(256);
  let next = 256;
  for (let b = 0; b < 256; b++) {
    // Printable Latin-1 stands for itself; everything else is shifted past U+00FF in byte order.
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    table[b] = printable ? b : next++;
  }
  return table;
})();

const CODE_POINT_TO_BYTE: ReadonlyMap<number, number> = new Map(BYTE_TO_CODE_POINT.map((cp, b) => [cp, b]));

const utf8 = new TextEncoder();

/**
 * Raw bytes of a byte-level token string (`'Ġthe'` → `' the'` as bytes).
 *
 * A code point outside the alphabet cannot come from a well-formed vocabulary; it is kept as its
 * UTF-8 bytes rather than dropped, so a damaged vocabulary shows up in the output instead of vanishing.
 */
export function byteLevelToBytes(token: string): Uint8Array {
  const out: number[] = [];
  for (const ch of token) {
    const cp = ch.codePointAt(0) as number;
    const b = CODE_POINT_TO_BYTE.get(cp);
    if (b !== undefined) out.push(b);
    else out.push(...utf8.encode(ch));
  }
  return Uint8Array.from(out);
}
