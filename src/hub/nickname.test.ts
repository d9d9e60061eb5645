import { describe, expect, it } from "vitest";
import { NICKNAME_MAX_CHARS, prepareNickname, type NicknameResult } from "./nickname.js";

function accepted(input: string): { nickname: string; skeleton: string } {
  const r: NicknameResult = prepareNickname(input);
  if (!r.ok) throw new Error(`expected ${JSON.stringify(input)} to be accepted, got: ${r.reason}`);
  return r;
}

function refused(input: string): string {
  const r = prepareNickname(input);
  if (r.ok) throw new Error(`expected ${JSON.stringify(input)} to be refused, got ${JSON.stringify(r.nickname)}`);
  return r.reason;
}

const key = (input: string) => accepted(input).skeleton;

describe("look-alike names share a skeleton", () => {
  it.each([
    ["upper case", "ALICE"],
    ["mixed case", "Alice"],
    ["a Cyrillic а (U+0430)", "\u0430lice"],
    ["fullwidth letters", "ａｌｉｃｅ"],
    ["mathematical letters", "\u{1D51E}\u{1D529}\u{1D526}\u{1D520}\u{1D522}"],
  ])("alice and %s collide", (_what, lookalike) => {
    expect(key(lookalike)).toBe(key("alice"));
  });

  it("rn and m collide (confusables.txt maps m to rn)", () => {
    expect(key("rn")).toBe(key("m"));
    expect(key("rnartin")).toBe(key("martin"));
  });

  it("a Cyrillic paypal collides with the Latin one", () => {
    expect(key("\u0440\u0430\u0443p\u0430l")).toBe(key("paypal"));
  });

  it("digit zero collides with the letter o even though its prototype is a capital", () => {
    expect(key("b0b")).toBe(key("bob"));
  });

  it("names that differ in more than look stay distinct", () => {
    const names = ["alice", "bob", "carol", "alicia", "alice2", "al ice", "Zoë", "Zoe", "José", "Jose", "李小龍", "Ελένη", "Алиса", "😀", "😃"];
    const keys = names.map(key);
    expect(new Set(keys).size).toBe(names.length);
  });
});

describe("refused characters are named in the reason", () => {
  it.each([
    ["ZERO WIDTH SPACE", "al\u200Bice", /invisible character \(U\+200B ZERO WIDTH SPACE\)/],
    ["SOFT HYPHEN", "ali\u00ADce", /invisible character \(U\+00AD SOFT HYPHEN\)/],
    ["WORD JOINER", "ali\u2060ce", /invisible character \(U\+2060 WORD JOINER\)/],
    ["HANGUL FILLER", "\u3164", /invisible character \(U\+3164 HANGUL FILLER\)/],
    ["HANGUL CHOSEONG FILLER", "a\u115Fb", /invisible character \(U\+115F HANGUL CHOSEONG FILLER\)/],
    ["HANGUL JUNGSEONG FILLER", "a\u1160b", /invisible character \(U\+1160 HANGUL JUNGSEONG FILLER\)/],
    ["a variation selector", "a\uFE0F", /invisible character \(U\+FE0F VARIATION SELECTOR-16\)/],
    ["RIGHT-TO-LEFT OVERRIDE", "ali\u202Ece", /bidirectional control character \(U\+202E RIGHT-TO-LEFT OVERRIDE\)/],
    ["LEFT-TO-RIGHT EMBEDDING", "ali\u202Ace", /bidirectional control character \(U\+202A LEFT-TO-RIGHT EMBEDDING\)/],
    ["LEFT-TO-RIGHT ISOLATE", "ali\u2066ce", /bidirectional control character \(U\+2066 LEFT-TO-RIGHT ISOLATE\)/],
    ["POP DIRECTIONAL ISOLATE", "ali\u2069ce", /bidirectional control character \(U\+2069 POP DIRECTIONAL ISOLATE\)/],
    ["RIGHT-TO-LEFT MARK", "ali\u200Fce", /bidirectional control character \(U\+200F RIGHT-TO-LEFT MARK\)/],
    ["a C0 control (BEL)", "ali\u0007ce", /control character \(U\+0007 ALERT\)/],
    ["a newline", "ali\nce", /control character \(U\+000A LINE FEED\)/],
    ["a tab", "ali\tce", /control character \(U\+0009 CHARACTER TABULATION\)/],
    ["DEL", "ali\u007Fce", /control character \(U\+007F DELETE\)/],
    ["a C1 control", "ali\u0085ce", /control character \(U\+0085 NEXT LINE\)/],
    ["LINE SEPARATOR", "ali\u2028ce", /line or paragraph separator \(U\+2028 LINE SEPARATOR\)/],
    ["ZERO WIDTH JOINER between Latin letters", "al\u200Dice", /joiner .*\(U\+200D ZERO WIDTH JOINER\)/],
    ["ZERO WIDTH NON-JOINER between Latin letters", "al\u200Cice", /non-joiner .*\(U\+200C ZERO WIDTH NON-JOINER\)/],
    ["ZERO WIDTH JOINER in an emoji sequence", "\u{1F468}\u200D\u{1F469}", /\(U\+200D ZERO WIDTH JOINER\)/],
    ["an unassigned code point", "ab\u0378", /unassigned code point \(U\+0378\)/],
    ["a noncharacter", "ab\uFFFE", /noncharacter \(U\+FFFE\)/],
    ["a private-use character", "ab\uE000", /private-use character \(U\+E000\)/],
    ["an unpaired surrogate", "ab\uD800", /unpaired surrogate \(U\+D800\)/],
    ["a tag character", "ab\u{E0041}", /invisible character \(U\+E0041 TAG LATIN CAPITAL LETTER A\)/],
    ["a format character that is not ignorable", "a\u0600b", /formatting character \(U\+0600 ARABIC NUMBER SIGN\)/],
    ["a conjoining hangul jamo", "\u1100\u1161", /hangul jamo .*\(U\+1100 HANGUL CHOSEONG KIYEOK\)/],
    ["ARABIC TATWEEL (RFC 5892 exception)", "\u0639\u0640\u0644\u064A", /\(U\+0640 ARABIC TATWEEL\)/],
    ["a middle dot outside l·l", "a\u00B7b", /middle dot .*\(U\+00B7 MIDDLE DOT\)/],
    ["a greek keraia before a non-greek letter", "\u0375a", /keraia .*\(U\+0375 GREEK LOWER NUMERAL SIGN\)/],
    ["a hebrew geresh after a non-hebrew letter", "a\u05F3", /hebrew .*\(U\+05F3 HEBREW PUNCTUATION GERESH\)/],
    ["a katakana middle dot without kana or han", "a\u30FBb", /katakana middle dot .*\(U\+30FB KATAKANA MIDDLE DOT\)/],
    ["mixed arabic-indic digit forms", "\u0661\u06F2", /arabic-indic digits .*\(U\+0661 ARABIC-INDIC DIGIT ONE\)/],
  ])("refuses %s", (_what, input, reason) => {
    const why = refused(input);
    expect(why).toMatch(reason);
    expect(why).toMatch(/^nickname /);
    expect(why).not.toMatch(/[\r\n]/);
  });

  it("names the character that normalisation turns into a disallowed one", () => {
    // HANGUL LETTER KIYEOK (a compatibility jamo) is allowed on input, but NFKC
    // turns it into a conjoining jamo, which the FreeformClass does not allow.
    expect(refused("\u3131")).toMatch(/hangul jamo .*\(U\+1100 HANGUL CHOSEONG KIYEOK\) once normalised/);
    // GREEK ANO TELEIA normalises to MIDDLE DOT, which needs l on both sides.
    expect(refused("a\u0387b")).toMatch(/middle dot .*\(U\+00B7 MIDDLE DOT\) once normalised/);
  });
});

describe("joiners are allowed where scripts need them", () => {
  it("accepts ZERO WIDTH JOINER and NON-JOINER after a virama", () => {
    expect(accepted("\u0915\u094D\u200D\u0937").nickname).toBe("\u0915\u094D\u200D\u0937"); // Devanagari half form
    expect(accepted("\u0915\u094D\u200C\u0937").nickname).toBe("\u0915\u094D\u200C\u0937");
  });

  it("accepts ZERO WIDTH NON-JOINER between joining Arabic-script letters", () => {
    const alireza = "\u0639\u0644\u06CC\u200C\u0631\u0636\u0627"; // علی‌رضا
    expect(accepted(alireza).nickname).toBe(alireza);
    // ...and the joiner does not make a second, different-looking key.
    expect(key(alireza)).toBe(key("\u0639\u0644\u06CC\u0631\u0636\u0627"));
  });

  it("refuses ZERO WIDTH NON-JOINER after a letter that does not join to the left", () => {
    // ALEF is right-joining only, so a non-joiner after it changes nothing.
    expect(refused("\u0627\u200C\u0644")).toMatch(/U\+200C ZERO WIDTH NON-JOINER/);
  });
});

describe("mapping and normalisation", () => {
  it("maps fullwidth letters to their ordinary forms", () => {
    expect(accepted("ａｌｉｃｅ").nickname).toBe("alice");
    expect(accepted("Ｂｏｂ１").nickname).toBe("Bob1");
  });

  it("applies NFKC: compatibility characters and composition", () => {
    expect(accepted("Richard \u2163").nickname).toBe("Richard IV"); // ROMAN NUMERAL FOUR
    expect(accepted("\uFB01sh").nickname).toBe("fish"); // LATIN SMALL LIGATURE FI
    expect(accepted("Jose\u0301").nickname).toBe("Jos\u00E9"); // combining acute composes
    expect(accepted("\u2460").nickname).toBe("1"); // CIRCLED DIGIT ONE
  });

  it("keeps case for display but not for comparison", () => {
    const r = accepted("StPeter");
    expect(r.nickname).toBe("StPeter");
    expect(r.skeleton).toBe(key("stpeter"));
  });

  it("maps non-ASCII spaces to ASCII space, trims and collapses runs", () => {
    expect(accepted("  St   Peter  ").nickname).toBe("St Peter");
    expect(accepted("\u00A0St\u3000\u2003Peter\u202F").nickname).toBe("St Peter");
    // OGHAM SPACE MARK is the one space that NFKC leaves alone, so only the
    // additional mapping rule turns it into U+0020.
    expect(accepted("\u1680St\u1680\u1680Peter\u1680").nickname).toBe("St Peter");
  });

  it("gives the same skeleton to names that differ only in spacing", () => {
    expect(key(" St  Peter ")).toBe(key("St Peter"));
  });

  it("returns a stable result: preparing the prepared name changes nothing", () => {
    for (const input of ["ａｌｉｃｅ", "  a \u3000 b ", "\u00A8x", "\u03D4", "Richard \u2163", "Jose\u0301"]) {
      const once = accepted(input);
      const twice = accepted(once.nickname);
      expect(twice).toEqual(once);
    }
  });
});

describe("length is counted after preparation", () => {
  it(`accepts ${NICKNAME_MAX_CHARS} characters and refuses ${NICKNAME_MAX_CHARS + 1}`, () => {
    expect(NICKNAME_MAX_CHARS).toBe(32);
    expect(accepted("a".repeat(32)).nickname).toHaveLength(32);
    expect(refused("a".repeat(33))).toBe("nickname must be at most 32 characters (got 33)");
  });

  it("counts code points, not UTF-16 units", () => {
    expect(accepted("\u{1F600}".repeat(32)).nickname).toBe("\u{1F600}".repeat(32));
    expect(refused("\u{1F600}".repeat(33))).toMatch(/at most 32 characters/);
  });

  it("does not count spaces that preparation removes", () => {
    const padded = `   ${"a".repeat(16)}     ${"b".repeat(15)}   `; // 45 code points in, 32 out
    expect(accepted(padded).nickname).toBe(`${"a".repeat(16)} ${"b".repeat(15)}`);
  });

  it("counts what NFKC expands", () => {
    // LATIN SMALL LIGATURE FFI is one code point in and three out: 11 of them make 33.
    expect(refused("\uFB03".repeat(11))).toBe("nickname must be at most 32 characters after normalisation (got 33)");
  });

  it("counts what composition shrinks", () => {
    const decomposed = "e\u0301".repeat(32); // 64 code points in, 32 precomposed é out
    expect(accepted(decomposed).nickname).toBe("\u00E9".repeat(32));
  });

  it("refuses very long input without preparing it", () => {
    expect(refused("a".repeat(5000))).toMatch(/at most 32 characters \(got 5000\)/);
  });
});

describe("ordinary names from many scripts are accepted", () => {
  it.each(["Zoë", "José", "李小龍", "Ελένη", "Алиса", "😀", "alice 😀", "🇺🇳", "👍🏽", "Straße", "محمد", "דוד", "प्रिया", "たなか", "김민준", "O'Brien", "jean-luc", "l·l", "♚", "x_x"])(
    "%s",
    (name) => {
      expect(accepted(name).nickname).toBe(name.normalize("NFKC"));
    },
  );

  it("keeps mixed-script names (the skeleton, not refusal, handles look-alikes)", () => {
    expect(accepted("Alice Алиса").nickname).toBe("Alice Алиса");
  });
});

describe("empty names", () => {
  it("refuses the empty string", () => {
    expect(refused("")).toBe("nickname must not be empty");
  });

  it.each([
    ["ASCII spaces", "   "],
    ["a no-break space", "\u00A0"],
    ["an ideographic space", "\u3000\u3000"],
  ])("refuses a name of only %s", (_what, input) => {
    expect(refused(input)).toBe("nickname must contain something other than spaces");
  });
});
