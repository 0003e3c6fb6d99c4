// @ts-check
/** brief-form.js: reference screenshots by drag-and-drop with thumbnails, and a busy Generate button. */
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
