/**
 * Text from files (labels, tensor names, paths) made safe to print on a terminal: control characters (C0,
 * DEL, C1 — escape sequences start with ESC or CSI) and the bidirectional overrides that reorder what a
 * line shows are printed as escapes (`\x1b`, `\u202e`), so a weights file cannot move the cursor, recolour
 * the screen or fake output lines.
 */

// C0 (incl. ESC, CR, LF), DEL, C1 (incl. CSI U+009B), and the bidi embeddings/overrides/isolates.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

// What JSON.stringify leaves raw inside strings (it escapes C0 itself; its own line feeds are layout).
const UNSAFE_IN_JSON = /[\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

const hex = (c: string, width: number) => c.charCodeAt(0).toString(16).padStart(width, '0');

/** `s` with every unsafe character written as `\xNN` (below U+0100) or `\uNNNN`. */
export function printable(s: string): string {
  return String(s).replace(UNSAFE, (c) => (c.charCodeAt(0) < 0x100 ? `\\x${hex(c, 2)}` : `\\u${hex(c, 4)}`));
}

/**
 * JSON.stringify for a terminal: the same JSON (the same value when parsed), with the unsafe characters
 * JSON leaves raw (DEL, C1, bidi controls) written as `\uNNNN` escapes. C0 is escaped by JSON already.
 */
export function terminalJson(value: unknown, indent = 2): string {
  return JSON.stringify(value, null, indent).replace(UNSAFE_IN_JSON, (c) => `\\u${hex(c, 4)}`);
}
