// The brand import review page: live progress while the import runs (polling the session's events
// and the import), then a preview that follows the form's colours and fonts. No inline script or
// style is allowed by the CSP, so colours are set as SVG attributes.

const root = document.getElementById("brand-import");
const POLL_MS = 600;
const HEX = /^#([0-9a-f]{3}|[0-9a-f]{6})$/i;

async function getJson(url) {
  const response = await fetch(url, { headers: { accept: "application/json" }, credentials: "same-origin" });
  if (!response.ok) throw new Error(`${url}: ${response.status}`);
  return response.json();
}

/** Follows the import's session until the run ends, then reloads to show the proposal (or the error). */
async function watch(importId, sessionId) {
  const bar = document.getElementById("import-progress");
  const label = document.getElementById("import-label");
  const steps = document.getElementById("import-steps");
  let offset = "-1";
  let finished = false;
  while (!finished) {
    try {
      const page = await getJson(`/api/sessions/${encodeURIComponent(sessionId)}/events?offset=${encodeURIComponent(offset)}&limit=200`);
      for (const { event } of page.events) {
        if (event.type === "run.progress") {
          if (typeof event.progress === "number" && bar) bar.value = event.progress;
          if (label) label.textContent = event.label;
          const item = document.createElement("li");
          item.textContent = event.label;
          steps?.append(item);
        }
        if (event.type === "run.end") finished = true;
      }
      offset = page.nextOffset;
      if (!finished) {
        const item = await getJson(`/api/brands/imports/${encodeURIComponent(importId)}`);
        finished = item.status !== "running";
      }
    } catch (error) {
      if (label) label.textContent = `Lost contact with the server; retrying… (${error.message})`;
    }
    if (!finished) await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  location.reload();
}

function stackFor(name) {
  const clean = name.replace(/[^A-Za-z0-9 -]/g, "").trim();
  if (!clean) return "Helvetica, Arial, sans-serif";
  const serif = /serif|garamond|baskerville|playfair|merriweather|lora|georgia|times|didot|bodoni/i.test(clean) && !/sans/i.test(clean);
  return `'${clean}', ${serif ? "Georgia, 'Times New Roman', serif" : "Helvetica, Arial, sans-serif"}`;
}

/** Keeps swatches and the SVG preview in step with the review form. */
function livePreview() {
  const form = document.querySelector(".review-form");
  const preview = document.getElementById("brand-preview");
  if (!form || !preview) return;
  const set = (name, attribute, value) => preview.querySelectorAll(`[data-preview="${name}"]`).forEach((el) => el.setAttribute(attribute, value));
  const value = (name) => form.elements.namedItem(name)?.value.trim() ?? "";
  const update = () => {
    for (const input of form.querySelectorAll("[data-color-input]")) {
      const hex = input.value.trim();
      const swatch = document.querySelector(`[data-swatch-for="${input.name}"] rect`);
      if (swatch && HEX.test(hex)) swatch.setAttribute("fill", hex);
    }
    const primary = HEX.test(value("primary")) ? value("primary") : "#111111";
    const secondary = HEX.test(value("secondary")) ? value("secondary") : primary;
    const background = HEX.test(value("background")) ? value("background") : "#ffffff";
    const text = HEX.test(value("text")) ? value("text") : "#1f2328";
    set("background", "fill", background);
    set("hero", "fill", primary);
    set("button", "fill", primary);
    set("headline", "fill", secondary);
    for (const name of ["body", "footer", "name"]) set(name, "fill", text);
    const heading = stackFor(value("headingFont") || value("bodyFont"));
    const body = stackFor(value("bodyFont"));
    for (const name of ["hero-text", "headline", "name"]) set(name, "font-family", heading);
    for (const name of ["body", "button-text", "footer"]) set(name, "font-family", body);
    const nameText = preview.querySelector('[data-preview="name"]');
    if (nameText) nameText.textContent = value("name");
    const logo = preview.querySelector('[data-preview="logo"]');
    const useLogo = form.elements.namedItem("useLogo");
    if (logo && useLogo) logo.setAttribute("visibility", useLogo.checked ? "visible" : "hidden");
  };
  form.addEventListener("input", update);
  form.addEventListener("change", update);
  update();
}

if (root) {
  if (root.dataset.status === "running") watch(root.dataset.importId, root.dataset.sessionId);
  livePreview();
}
