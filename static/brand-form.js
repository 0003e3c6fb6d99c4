// @ts-check
/**
 * brand-form.js: the brand form without round trips — logo and product uploads with previews, hex
 * codes beside the colour pickers, and the formula reordered, added to and trimmed in place (the
 * same buttons post the form when there is no JavaScript). The palette preview is an htmx partial.
 */
import { bindUploads } from "./uploads.js";
import { sortable } from "./sortable.js";

const form = /** @type {HTMLFormElement | null} */ (document.getElementById("brand-form"));
const formula = /** @type {HTMLOListElement | null} */ (document.getElementById("formula"));

if (form && formula) {
  bindUploads(form);

  for (const input of /** @type {NodeListOf<HTMLInputElement>} */ (form.querySelectorAll("input[type=color]"))) {
    const output = form.querySelector(`output[data-hex-for="${input.id}"]`);
    input.addEventListener("input", () => {
      if (output) output.textContent = input.value;
    });
  }

  /** Numbers, button values and disabled ends after any change to the list. */
  const renumber = () => {
    const steps = [...formula.querySelectorAll(":scope > .formula-step")];
    steps.forEach((step, i) => {
      const number = step.querySelector(".step-number");
      if (number) number.textContent = String(i + 1);
      for (const button of /** @type {NodeListOf<HTMLButtonElement>} */ (step.querySelectorAll("button[name=formulaAction]"))) {
        const verb = button.value.split(":")[0];
        button.value = `${verb}:${i}`;
        if (verb === "up") button.disabled = i === 0;
        if (verb === "down") button.disabled = i === steps.length - 1;
      }
    });
  };

  formula.addEventListener("click", (event) => {
    const button = /** @type {HTMLButtonElement | null} */ (/** @type {HTMLElement} */ (event.target).closest?.("button[name=formulaAction]"));
    const step = button?.closest(".formula-step");
    if (!button || !step) return;
    event.preventDefault();
    if (button.dataset.move === "up") step.previousElementSibling?.before(step);
    else if (button.dataset.move === "down") step.nextElementSibling?.after(step);
    else if ("remove" in button.dataset) step.remove();
    renumber();
    if (step.isConnected) /** @type {HTMLElement | null} */ (step.querySelector(`[data-move="${button.dataset.move}"]:not(:disabled)`) ?? step.querySelector("textarea"))?.focus();
  });

  const add = document.getElementById("add-step");
  const select = /** @type {HTMLSelectElement | null} */ (document.getElementById("add-type"));
  const template = /** @type {HTMLTemplateElement | null} */ (document.getElementById("formula-step-template"));
  add?.addEventListener("click", (event) => {
    event.preventDefault();
    if (!select || !template) return;
    const option = select.selectedOptions[0];
    const fragment = /** @type {DocumentFragment} */ (template.content.cloneNode(true));
    const step = /** @type {HTMLElement} */ (fragment.querySelector(".formula-step"));
    const label = option?.dataset.label ?? select.value;
    step.dataset.type = select.value;
    /** @type {HTMLElement} */ (step.querySelector(".step-type")).textContent = label;
    /** @type {HTMLInputElement} */ (step.querySelector("input[name=formulaType]")).value = select.value;
    const guidance = /** @type {HTMLTextAreaElement} */ (step.querySelector("textarea"));
    guidance.placeholder = option?.dataset.guidance ?? "";
    guidance.setAttribute("aria-label", `Guidance for the ${label} section`);
    for (const button of step.querySelectorAll("button")) {
      const verb = button.getAttribute("data-move") ?? "remove";
      button.setAttribute("aria-label", verb === "remove" ? `Remove ${label}` : `Move ${label} ${verb}`);
    }
    formula.append(step);
    renumber();
    guidance.focus();
  });

  sortable(formula, { item: ".formula-step", handle: ".handle", onDrop: renumber });
}
