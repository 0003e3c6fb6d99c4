// @ts-check
/** brief-form.js: reference screenshots by drag-and-drop with thumbnails, product photos from the chosen brand, and a busy Generate button. */
import { bindUploads } from "./uploads.js";

const form = /** @type {HTMLFormElement | null} */ (document.getElementById("brief-form"));
if (form) {
  bindUploads(form);
  const count = document.getElementById("reference-count");
  const gallery = document.getElementById("reference-thumbs");
  form.addEventListener("thumbs:changed", () => {
    if (!count || !gallery) return;
    const n = gallery.querySelectorAll(".thumb").length;
    const uploading = gallery.querySelectorAll(".thumb.uploading").length;
    count.textContent = uploading ? `Uploading ${uploading}…` : `${n} of 3–4 added`;
  });
  // Each product row offers the chosen brand's product images only.
  const brandSelect = /** @type {HTMLSelectElement | null} */ (form.querySelector("select[name=brandId]"));
  const showBrandImages = () => {
    const brand = brandSelect?.value ?? "";
    for (const select of form.querySelectorAll("select.product-image-pick")) {
      for (const option of /** @type {HTMLSelectElement} */ (select).options) {
        const own = !option.dataset.brand || option.dataset.brand === brand;
        option.hidden = !own;
        if (!own && option.selected) /** @type {HTMLSelectElement} */ (select).value = "";
      }
    }
  };
  brandSelect?.addEventListener("change", showBrandImages);
  showBrandImages();
  form.addEventListener("submit", (event) => {
    if (gallery?.querySelector(".thumb.uploading")) {
      event.preventDefault();
      if (count) count.textContent = "Wait for the uploads to finish…";
      return;
    }
    const button = /** @type {HTMLButtonElement | null} */ (document.getElementById("generate"));
    if (button) {
      button.disabled = true;
      button.textContent = "Starting…";
    }
  });
}
