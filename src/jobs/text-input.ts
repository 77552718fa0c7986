/**
 * Rules for free text a client sends (prompts, idempotency keys): no control characters (prompts
 * may hold tabs and line breaks), no lone surrogates (not valid Unicode; they break JSON and logs
 * downstream), no bidirectional overrides or isolates (they make text read differently from what it
 * is), and a prompt must hold at least one visible character.
 */

export interface TextRules {
  /** Tab and newline allowed (prompts). */
  multiline: boolean;
}

// eslint-disable-next-line no-control-regex
const CONTROL_MULTILINE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;
// eslint-disable-next-line no-control-regex
const CONTROL_ANY = /[\u0000-\u001f\u007f-\u009f]/;
/** In a `u` regex a proper surrogate pair is one code point; only a lone half matches Cs. */
const LONE_SURROGATE = /\p{Cs}/u;
/** LRE RLE PDF LRO RLO, and LRI RLI FSI PDI. */
const BIDI_CONTROLS = /[\u202a-\u202e\u2066-\u2069]/;
/**
 * A character that shows: not a space, not a control or format character, not a combining mark on
 * its own, not a default-ignorable code point (zero-width space, joiners, Hangul fillers, variation
 * selectors), and not the blank braille pattern.
 */
const VISIBLE = /[^\p{White_Space}\p{Cc}\p{Cf}\p{Cn}\p{Co}\p{Cs}\p{M}\p{Default_Ignorable_Code_Point}\u2800]/u;

/** What is wrong with `value` for the field `field`, or null. */
export function textProblem(field: string, value: string, rules: TextRules): string | null {
  if (LONE_SURROGATE.test(value)) return `${field} must be valid Unicode text (it holds a lone surrogate)`;
  if ((rules.multiline ? CONTROL_MULTILINE : CONTROL_ANY).test(value)) {
    return rules.multiline
      ? `${field} must not contain control characters (tabs and line breaks are fine)`
      : `${field} must not contain control characters, tabs or line breaks`;
  }
  if (BIDI_CONTROLS.test(value)) return `${field} must not contain bidirectional override or isolate characters`;
  return null;
}

/** True when `value` has at least one character a reader can see. */
export function hasVisibleCharacter(value: string): boolean {
  return VISIBLE.test(value);
}
