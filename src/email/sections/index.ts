import type { z } from "zod";
import { benefitsSection } from "./benefits";
import { ctaSection } from "./cta";
import { dividerSection } from "./divider";
import { footerSection } from "./footer";
import { headlineSection } from "./headline";
import { heroSection } from "./hero";
import { imageSection } from "./image";
import { ingredientSection } from "./ingredient";
import { productGridSection } from "./product-grid";
import type { SectionModule } from "./section";
import { testimonialSection } from "./testimonial";
import { textSection } from "./text";

/**
 * The section registry: every section type, in the order the editor lists them. A type is one module
 * (`sections/<type>.ts`: fields schema, MJML renderer, form fields, offline draft); adding one is that
 * module and one line here.
 */
export const SECTIONS = {
  hero: heroSection,
  headline: headlineSection,
  ingredient: ingredientSection,
  benefits: benefitsSection,
  cta: ctaSection,
  "product-grid": productGridSection,
  testimonial: testimonialSection,
  text: textSection,
  image: imageSection,
  divider: dividerSection,
  footer: footerSection,
} as const;

export type SectionType = keyof typeof SECTIONS;

/** Every section type, in the registry's order. */
export const SECTION_TYPES = Object.keys(SECTIONS) as [SectionType, ...SectionType[]];

/** The fields of each section type, as their schemas output them. */
export type SectionFields = { [T in SectionType]: z.infer<(typeof SECTIONS)[T]["fields"]> };

/**
 * The module of a section type, or `undefined` for a name that is not one (own keys only: a type such
 * as "toString" must not reach Object.prototype).
 */
export function sectionModule(type: string): SectionModule | undefined {
  return Object.hasOwn(SECTIONS, type) ? (SECTIONS[type as SectionType] as unknown as SectionModule) : undefined;
}
