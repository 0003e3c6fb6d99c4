import { describe, expect, test } from "bun:test";
import { writeOfflineEmail } from "../../src/email/offline-writer";
import { parseInstruction, rewriteSectionOffline } from "../../src/email/regenerate";
import { copyOf } from "../../src/email/sections/draft";
import { brand, brief } from "./fixtures";

/** The offline instruction set, on every section type that has copy. */

const full = { ...brief, tone: "playful", offer: { text: "20% off your first order", code: "GLOW20" } };
const formula = ["hero", "headline", "ingredient", "benefits", "product-grid", "text", "cta"].map((type) => ({ type: type as never }));
const doc = writeOfflineEmail({ brand: { ...brand, formula }, brief: full });
const copy = copyOf({ brand, brief: full });

describe("parseInstruction", () => {
  test("reads the documented set and refuses the rest", () => {
    expect(parseInstruction("Make it shorter")).toEqual({ kind: "shorter" });
    expect(parseInstruction("longer please")).toEqual({ kind: "longer" });
    expect(parseInstruction("Make it punchier!")).toEqual({ kind: "punchier" });
    expect(parseInstruction("more formal")).toEqual({ kind: "formal" });
    expect(parseInstruction("Make it more casual")).toEqual({ kind: "casual" });
    expect(parseInstruction("Mention free returns")).toEqual({ kind: "mention", subject: "free returns" });
    expect(parseInstruction("remove “vitamin C”")).toEqual({ kind: "remove", subject: "vitamin C" });
    expect(parseInstruction("Use the offer")).toEqual({ kind: "offer" });
    for (const unsupported of ["Make it punchier and mention 20% off", "Write it like Shakespeare", "Translate to French", ""]) expect(parseInstruction(unsupported)).toBeUndefined();
  });
});

describe("rewriteSectionOffline, section by section", () => {
  for (const section of doc.sections) {
    for (const instruction of ["shorter", "longer", "punchier", "more formal", "more casual", "mention free returns", "use the offer"]) {
      test(`${section.type}: ${instruction}`, () => {
        const result = rewriteSectionOffline(section, instruction, copy);
        if (result.ok) {
          // A real change, valid, with the instruction never pasted in as copy.
          expect(result.section.fields).not.toEqual(section.fields);
          expect(result.section.id).toBe(section.id);
          expect(JSON.stringify(result.section.fields).toLowerCase()).not.toContain(instruction === "mention free returns" ? "mention" : instruction);
        } else {
          // Otherwise it says why, and there is nothing to save.
          expect(["unchanged", "no_offer"]).toContain(result.code);
          expect(result.message.length).toBeGreaterThan(20);
        }
      });
    }
  }

  test("every section type with copy is changed by most instructions", () => {
    for (const section of doc.sections) {
      const changed = ["shorter", "longer", "punchier", "mention free returns", "use the offer"].filter((i) => rewriteSectionOffline(section, i, copy).ok);
      expect({ type: section.type, enough: changed.length >= 2 }).toEqual({ type: section.type, enough: true });
    }
  });

  test("an unsupported instruction needs a real model; use the offer without one says to add it", () => {
    const hero = doc.sections[0]!;
    expect(rewriteSectionOffline(hero, "Rewrite it as a limerick", copy)).toMatchObject({ ok: false, code: "needs_model", message: expect.stringContaining("needs a real model") });
    expect(rewriteSectionOffline(hero, "use the offer", copyOf({ brand, brief }))).toMatchObject({ ok: false, code: "no_offer" });
  });
});
