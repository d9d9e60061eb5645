/** Tab completion of @names in the page's message box (web/src/ui/mention-complete.ts): pure, no browser. */
import { describe, expect, it } from "vitest";
import { completeMention } from "../web/src/ui/mention-complete.js";

describe("completing @names", () => {
  const names = ["annabel", "ann", "bob", "carol king"];

  it("completes the name being typed after @, the shortest first, with a space after it", () => {
    expect(completeMention("@an", 3, names)).toEqual({ value: "@ann ", caret: 5 });
    expect(completeMention("hi @annab", 9, names)).toEqual({ value: "hi @annabel ", caret: 12 });
    expect(completeMention("@B and more", 2, names)).toEqual({ value: "@bob and more", caret: 5 });
  });

  it("leaves Tab alone when there is nothing to complete", () => {
    expect(completeMention("hello", 5, names)).toBeUndefined();
    expect(completeMention("mail@an", 7, names)).toBeUndefined(); // not a mention: an address
    expect(completeMention("@zed", 4, names)).toBeUndefined();
    expect(completeMention("@bob", 4, names)).toBeUndefined(); // already whole
    expect(completeMention("@car", 4, names)).toBeUndefined(); // a name with a space cannot be mentioned
  });
});
