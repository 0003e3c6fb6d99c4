import { describe, expect, test } from "bun:test";
import { historyOf, newSectionId } from "../src/email/editing";
import { fieldsFromForm, sectionSummary } from "../src/web/section-form";
import { applyFormulaAction, emptyBrandForm, paletteReport, readBrandForm, toBrandInput } from "../src/brands/form";
import { readBriefForm, toBriefInput } from "../src/web/brief-form";
import { generationState } from "../src/web/session-log";
import type { SessionEvent } from "../src/sessions/events";

/** The pure parts behind the web pages: undo/redo, section and brand forms, the generation view's state. */

describe("undo and redo move through history entries", () => {
  type Kind = "edit" | "undo" | "redo" | "restore" | "generated";
  const row = (version: number, kind: Kind, shows = version) => ({ version, kind, shows });
  const summary = (rows: ReturnType<typeof row>[]) => {
    const h = historyOf(rows);
    return { showing: h.showing, undo: h.undo, redo: h.redo, entries: h.entries.map((e) => `${e.version}${e.current ? "*" : ""}${e.undone ? "~" : ""}`) };
  };

  test("undo goes back one entry, redo forward again; neither is an entry", () => {
    const rows = [row(1, "generated"), row(2, "edit"), row(3, "edit")];
    expect(summary(rows)).toEqual({ showing: 3, undo: 2, redo: undefined, entries: ["3*", "2", "1"] });
    const undone = [...rows, row(4, "undo", 2)];
    expect(summary(undone)).toEqual({ showing: 2, undo: 1, redo: 3, entries: ["3~", "2*", "1"] });
    const twice = [...undone, row(5, "undo", 1)];
    expect(summary(twice)).toEqual({ showing: 1, undo: undefined, redo: 2, entries: ["3~", "2~", "1*"] });
    const redone = [...twice, row(6, "redo", 2), row(7, "redo", 3)];
    expect(summary(redone)).toEqual({ showing: 3, undo: 2, redo: undefined, entries: ["3*", "2", "1"] });
  });

  test("a new edit after an undo drops the undone branch from redo", () => {
    const rows = [row(1, "generated"), row(2, "edit"), row(3, "undo", 1), row(4, "edit")];
    expect(summary(rows)).toEqual({ showing: 4, undo: 1, redo: undefined, entries: ["4*", "2~", "1"] });
    expect(summary([...rows, row(5, "undo", 1)])).toMatchObject({ showing: 1, undo: undefined, redo: 4 });
  });

  test("a restore is one entry made on top of what was showing; undo after it goes back there", () => {
    const rows = [row(1, "generated"), row(2, "edit"), row(3, "edit"), row(4, "restore")];
    expect(summary(rows)).toEqual({ showing: 4, undo: 3, redo: undefined, entries: ["4*", "3", "2", "1"] });
    expect(summary([...rows, row(5, "undo", 3)])).toEqual({ showing: 3, undo: 2, redo: 4, entries: ["4~", "3*", "2", "1"] });
  });

  test("no versions, nothing to do", () => {
    expect(summary([])).toEqual({ showing: 0, undo: undefined, redo: undefined, entries: [] });
  });

  test("new section ids do not collide", () => {
    expect(newSectionId({ sections: [{ id: "text-1", type: "text", fields: { text: "a" } }] }, "text")).toBe("text-2");
  });
});

describe("the section form", () => {
  test("posted fields become section fields; cleared fields clear, unknown empty ones are left out", () => {
    const form = { "f.text": "  New headline ", "f.subtext": "", csrf: "x" };
    expect(fieldsFromForm("headline", form, { text: "Old", subtext: "Old line" })).toEqual({ text: "New headline", subtext: "" });
    expect(fieldsFromForm("headline", form, { text: "Old" })).toEqual({ text: "New headline" });
  });

  test("list rows are read in order and empty rows dropped", () => {
    const form = { "f.title": "Why", "f.items.1.title": "Second", "f.items.0.title": "First", "f.items.0.text": "one", "f.items.2.title": "", "f.items.2.text": "" };
    expect(fieldsFromForm("benefits", form, {})).toEqual({ title: "Why", items: [{ title: "First", text: "one" }, { title: "Second" }] });
  });

  test("summaries say what a section holds", () => {
    expect(sectionSummary("benefits", { items: [{ title: "A" }, { title: "B" }] })).toBe("A · B");
    expect(sectionSummary("cta", { label: "Shop" })).toBe("Shop");
  });
});

describe("the brand form", () => {
  test("reads a posted form, and the formula buttons work without JavaScript", () => {
    const { values, action } = readBrandForm({ name: " Acme ", primary: "#112233", formulaType: ["hero", "cta", "footer"], formulaGuidance: ["big", "", ""], formulaAction: "up:1" }, "https://x.test");
    expect(values.name).toBe("Acme");
    expect(values.formula).toEqual([{ type: "hero", guidance: "big" }, { type: "cta", guidance: "" }, { type: "footer", guidance: "" }]);
    const moved = applyFormulaAction(values, action!, undefined);
    expect(moved.formula.map((s) => s.type)).toEqual(["cta", "hero", "footer"]);
    expect(applyFormulaAction(values, "add", "testimonial").formula.at(-1)).toEqual({ type: "testimonial", guidance: "" });
    expect(applyFormulaAction(values, "remove:0", undefined).formula.map((s) => s.type)).toEqual(["cta", "footer"]);
  });

  test("says what to fix", () => {
    expect(toBrandInput({ ...emptyBrandForm(), name: "" })).toEqual({ ok: false, message: "Give the brand a name." });
    const bad = toBrandInput({ ...emptyBrandForm(), name: "A", footer: { address: "1 Street", unsubscribeUrl: "javascript:alert(1)" } });
    expect(bad.ok).toBe(false);
    expect(!bad.ok && bad.message).toContain("unsubscribe link");
    const good = toBrandInput({ ...emptyBrandForm(), name: "A", formula: [{ type: "hero", guidance: "" }, { type: "cta", guidance: "One button" }] });
    expect(good.ok && good.input.formula).toEqual(["hero", { type: "cta", guidance: "One button" }]);
  });

  test("the palette report warns about unreadable pairs", () => {
    const pale = paletteReport({ primary: "#1d6b4f", secondary: "#b45309", background: "#ffffff", text: "#cccccc" });
    expect(pale.pairs.find((p) => p.label === "Body text on background")?.ok).toBe(false);
    const fine = paletteReport({ primary: "#1d6b4f", secondary: "#b45309", background: "#ffffff", text: "#1f2328" });
    expect(fine.pairs.every((p) => p.ok)).toBe(true);
    expect(paletteReport({ primary: "#f3f08a", secondary: "#b45309", background: "#ffffff", text: "#1f2328" }).primaryFallback).toBe(true);
  });
});

describe("the brief form", () => {
  const refs = ["ast_ref1", "ast_ref2", "ast_ref3"];
  test("ignores empty product rows and needs both halves of a CTA", () => {
    const { values } = readBriefForm({ brandId: "brand_1", objective: "o", audience: "a", tone: "t", hook: "h", "product.0.name": "Serum", "product.1.name": "", ctaLabel: "Shop", ctaUrl: "", referenceAssetIds: refs }, "https://x.test");
    expect(values.products).toEqual([{ name: "Serum", description: "", url: "", imageAssetId: "" }]);
    expect(toBriefInput(values)).toEqual({ ok: false, message: "Call to action: give both the button label and its link." });
    expect(toBriefInput({ ...values, ctaUrl: "https://x.test/shop" }).ok).toBe(true);
  });

  test("names every field to fix at once, not one per submit", () => {
    const { values } = readBriefForm({ brandId: "brand_1", objective: "o", audience: "", tone: "t", hook: "h", ctaLabel: "Book", ctaUrl: "javascript:alert(1)", sendDate: "next tuesday", referenceAssetIds: refs.slice(0, 2) }, "https://x.test");
    const result = toBriefInput(values);
    expect(result.ok).toBe(false);
    const message = result.ok ? "" : result.message;
    for (const part of ["Audience: please fill this in.", "Reference screenshots: add 3 or 4", "Call to action:", "Send date:"]) expect({ part, named: message.includes(part) }).toEqual({ part, named: true });
    // The reference count is said once, by the form's own sentence.
    expect(message.match(/Reference screenshots/g)).toHaveLength(1);
  });

  test("takes a product photo, an offer, an occasion and a send date; needs 3–4 reference screenshots", () => {
    const form = { brandId: "brand_1", objective: "o", audience: "a", tone: "t", hook: "h", "product.0.name": "Serum", "product.0.imageAssetId": "ast_photo1", offerText: "20% off your first order", offerCode: "GLOW20", occasion: "Mother's Day", sendDate: "2026-05-10", referenceAssetIds: refs };
    const made = toBriefInput(readBriefForm(form, "https://x.test").values);
    expect(made).toEqual({ ok: true, input: expect.objectContaining({ products: [{ name: "Serum", imageAssetId: "ast_photo1" }], offer: { text: "20% off your first order", code: "GLOW20" }, occasion: "Mother's Day", sendDate: "2026-05-10", referenceAssetIds: refs }) });
    for (const referenceAssetIds of [[], refs.slice(0, 2), [...refs, "ast_ref4", "ast_ref5"]]) {
      const result = toBriefInput(readBriefForm({ ...form, referenceAssetIds }, "https://x.test").values);
      expect(result).toEqual({ ok: false, message: expect.stringContaining("Reference screenshots: add 3 or 4 screenshots") });
    }
    expect(toBriefInput(readBriefForm({ ...form, offerText: "" }, "https://x.test").values)).toEqual({ ok: false, message: expect.stringContaining("Offer: say what the offer is") });
    expect(toBriefInput(readBriefForm({ ...form, sendDate: "next tuesday" }, "https://x.test").values)).toEqual({ ok: false, message: expect.stringContaining("Send date:") });
  });
});

describe("the generation view's state", () => {
  test("folds the orchestrator's and its sub-agents' events, ignoring other runs", () => {
    const events: SessionEvent[] = [
      { type: "run.start", runId: "r1", agent: "email" },
      { type: "run.start", runId: "r2", agent: "email-copy", parentRunId: "r1" },
      { type: "run.start", runId: "r3", agent: "email-hero", parentRunId: "r1" },
      { type: "run.start", runId: "x", agent: "email-copy", parentRunId: "other" },
      { type: "run.progress", runId: "r2", agent: "email-copy", label: "Wrote the hero section", progress: 0.5 },
      { type: "artifact", runId: "r2", kind: "section", ref: "hero-1", data: { id: "hero-1", type: "hero", fields: { headline: "Hi" } } },
      { type: "artifact", runId: "x", kind: "section", ref: "cta-1", data: { id: "cta-1", type: "cta", fields: { label: "No" } } },
      { type: "artifact", runId: "r3", kind: "image", ref: "https://x.test/assets/ast_1" },
      { type: "run.end", runId: "r3", status: "completed" },
    ];
    const state = generationState(events.map((event) => ({ event })), "r1");
    expect(state.agents.copy).toMatchObject({ runId: "r2", status: "running", label: "Wrote the hero section", progress: 0.5 });
    expect(state.agents.hero).toMatchObject({ status: "completed", progress: 1 });
    expect(state.sections).toEqual([{ id: "hero-1", type: "hero", summary: "Hi" }]);
    expect(state.heroUrl).toBe("https://x.test/assets/ast_1");
    expect(state.ended).toBeUndefined();
  });
});
