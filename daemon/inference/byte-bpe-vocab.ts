// A small GPT-2-style byte-level BPE vocabulary for the demo model: 256 byte
// tokens, a fixed list of English merges, and the ChatML control tokens.
//
// Byte-level BPE (Radford et al. 2019, GPT-2 `encoder.py`, `bytes_to_unicode`)
// maps every byte to a printable code point so that tokens are text: the 188
// printable Latin-1 bytes map to themselves, the other 68 to U+0100 upwards in
// byte order (space 0x20 → "Ġ" U+0120, newline 0x0A → "Ċ" U+010A). llama.cpp's
// "gpt2" tokenizer (src/llama-vocab.cpp) reverses this mapping on output and
// falls back to single-byte tokens for anything no merge covers, so any input
// text tokenizes and any token sequence detokenizes.

/** llama_token_type as llama.cpp reads `tokenizer.ggml.token_type`. */
export const TokenType = { NORMAL: 1, CONTROL: 3 } as const;

export const CONTROL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"] as const;

/** byte value → the code point that stands for it in token text. */
export function byteToUnicode(): string[] {
  const printable = (b: number): boolean => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  const table: string[] = new Array<string>(256);
  let next = 0;
  for (let b = 0; b < 256; b++) table[b] = String.fromCodePoint(printable(b) ? b : 256 + next++);
  return table;
}

// Merges in plain text, in rank order; each right-hand side joins two tokens
// that already exist. Frequent English pieces, so that ordinary text takes
// fewer tokens than bytes (which is all a demo needs).
const PLAIN_MERGES: ReadonlyArray<readonly [string, string]> = [
  [" ", "t"], ["h", "e"], ["i", "n"], [" ", "a"], ["e", "r"], ["o", "n"], [" t", "he"], ["r", "e"],
  [" ", "s"], ["a", "t"], ["o", "r"], ["e", "n"], [" ", "w"], ["i", "s"], ["e", "s"], [" ", "c"],
  ["a", "n"], ["i", "t"], [" ", "o"], ["a", "l"], ["in", "g"], [" ", "b"], [" ", "f"], [" ", "p"],
  ["a", "r"], ["e", "d"], [" ", "m"], ["o", "u"], [" ", "d"], ["l", "e"], [" a", "n"], [" an", "d"],
  [" ", "i"], [" o", "f"], [" t", "o"], ["i", "c"], [" ", "h"], ["s", "t"], ["o", "m"], ["i", "on"],
  ["en", "t"], [" i", "s"], [" i", "n"], [" ", "l"], ["r", "o"], ["a", "s"], ["c", "h"], ["l", "y"],
  ["v", "e"], ["i", "l"], [" ", "g"], [" ", "n"], ["u", "s"], ["a", "m"], [" ", "e"], ["o", "w"],
  ["h", "at"], [" t", "hat"], [" ", "r"], [" w", "h"], [" ", "y"], [" y", "ou"], ["c", "t"], ["i", "d"],
  ["o", "t"], [" t", "h"], [" th", "is"], ["it", "h"], [" w", "ith"], ["e", "t"], ["u", "r"], ["i", "m"],
  ["a", "y"], [" b", "e"], [" f", "or"], [" p", "ro"], [" s", "t"], [" c", "on"], [" r", "e"], ["at", "ion"],
  ["en", "d"], ["\n", "\n"], [" ", " "], ["  ", "  "], [" ", "0"], [" ", "1"], ["e", "x"], [" e", "x"],
  [" ", "u"], ["y", "s"], [" s", "ys"], ["o", "g"], [" l", "og"], ["o", "d"], [" m", "od"], ["e", "l"],
  [" mod", "el"], ["u", "d"], [" a", "ud"], [" aud", "it"], ["o", "x"], [" b", "ox"], [" ", "T"], [" T", "he"],
];

export interface ByteBpeVocab {
  /** Token texts, in id order. */
  tokens: string[];
  /** llama_token_type per token. */
  tokenTypes: number[];
  /** "left right" in mapped text, in rank order. */
  merges: string[];
  /** id of each control token by its text. */
  control: Record<(typeof CONTROL_TOKENS)[number], number>;
}

/** Builds the vocabulary. Always the same: ids 0–255 are the bytes, then merges, then control tokens. */
export function buildByteBpeVocab(): ByteBpeVocab {
  const map = byteToUnicode();
  const toMapped = (plain: string): string => Array.from(new TextEncoder().encode(plain), (b) => map[b]!).join("");
  const tokens = [...map];
  const known = new Set(tokens);
  const merges: string[] = [];
  for (const [left, right] of PLAIN_MERGES) {
    const l = toMapped(left);
    const r = toMapped(right);
    if (!known.has(l) || !known.has(r)) throw new Error(`merge ${JSON.stringify([left, right])} uses a token not yet defined`);
    const joined = l + r;
    if (known.has(joined)) throw new Error(`merge ${JSON.stringify([left, right])} repeats an existing token`);
    merges.push(`${l} ${r}`);
    tokens.push(joined);
    known.add(joined);
  }
  const tokenTypes = tokens.map(() => TokenType.NORMAL as number);
  const control = {} as ByteBpeVocab["control"];
  for (const text of CONTROL_TOKENS) {
    control[text] = tokens.length;
    tokens.push(text);
    tokenTypes.push(TokenType.CONTROL);
  }
  return { tokens, tokenTypes, merges, control };
}
