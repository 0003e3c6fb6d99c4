// @ts-check
/**
 * uploads.js: image uploads with thumbnails. Chosen (or dropped) files are uploaded at once to
 * `POST /api/assets`; the form then carries only the asset ids, in hidden inputs beside each
 * thumbnail. Without JavaScript the file inputs are simply posted with the form.
 */
import { csrfToken, toast } from "./app.js";

/**
 * Uploads one image; resolves with `{ id, url }`.
 * @param {File} file
 * @param {string} kind logo, product or reference
 * @returns {Promise<{ id: string, url: string }>}
 */
export async function uploadImage(file, kind) {
  const body = new FormData();
  body.append("file", file);
  body.append("kind", kind);
  const response = await fetch("/api/assets", { method: "POST", body, headers: { "x-csrf-token": csrfToken() } });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data?.error?.message ?? `Upload failed (${response.status}).`);
  return data;
}

/**
 * A thumbnail with its hidden asset-id input and a remove button (the same markup the server draws).
 * @param {string} src
 * @param {string} field
 * @param {string} alt
 */
function thumb(src, field, alt) {
  const figure = document.createElement("figure");
  figure.className = "thumb uploading";
  const img = document.createElement("img");
  img.src = src;
  img.alt = alt;
  const input = document.createElement("input");
  input.type = "hidden";
  input.name = field;
  const remove = document.createElement("button");
  remove.type = "button";
  remove.className = "thumb-remove";
  remove.dataset.removeThumb = "";
  remove.setAttribute("aria-label", "Remove this image");
  remove.textContent = "×";
  figure.append(img, input, remove);
  return figure;
}

/**
 * Uploads files for one file input's gallery and shows them as they go.
 * @param {HTMLInputElement} input the file input (data-kind, data-target, data-field, multiple?)
 * @param {File[]} files
 */
export async function addFiles(input, files) {
  const kind = input.dataset.kind ?? "upload";
  const gallery = document.getElementById(input.dataset.target ?? "");
  if (!gallery) return;
  const field = input.dataset.field ?? "assetIds";
  const max = Number(input.closest("[data-max]")?.getAttribute("data-max") ?? (input.multiple ? 50 : 1));
  const images = files.filter((f) => f.type.startsWith("image/") || f.type === "");
  if (images.length < files.length) toast("Only images (PNG, JPEG, GIF, WebP) can be used.", "danger");
  if (!input.multiple) for (const old of gallery.querySelectorAll(".thumb")) old.remove();
  const room = Math.max(0, max - gallery.querySelectorAll(".thumb").length);
  if (images.length > room) toast(`At most ${max} images here; the extra ones were left out.`, "danger");
  gallery.querySelector(".thumbs-empty")?.remove();
  await Promise.all(
    images.slice(0, input.multiple ? room : 1).map(async (file) => {
      const local = URL.createObjectURL(file);
      const figure = thumb(local, field, kind === "reference" ? "Reference screenshot" : kind === "logo" ? "Logo" : "Product image");
      gallery.append(figure);
      changed(gallery);
      try {
        const { id, url } = await uploadImage(file, kind);
        figure.querySelector("input")?.setAttribute("value", id);
        figure.dataset.assetId = id;
        /** @type {HTMLImageElement} */ (figure.querySelector("img")).src = url;
        figure.classList.remove("uploading");
      } catch (error) {
        figure.remove();
        toast(`${file.name}: ${/** @type {Error} */ (error).message}`, "danger");
      } finally {
        URL.revokeObjectURL(local);
        changed(gallery);
      }
    }),
  );
  input.value = "";
}

/** @param {Element} gallery */
function changed(gallery) {
  gallery.dispatchEvent(new CustomEvent("thumbs:changed", { bubbles: true }));
}

/**
 * Wires every `input[type=file][data-kind]` under `root`, the remove buttons, and drop zones
 * (`.dropzone` holding a file input).
 * @param {ParentNode} root
 */
export function bindUploads(root) {
  for (const input of /** @type {NodeListOf<HTMLInputElement>} */ (root.querySelectorAll("input[type=file][data-kind]"))) {
    input.addEventListener("change", () => addFiles(input, [...(input.files ?? [])]));
  }
  root.addEventListener("click", (event) => {
    const button = /** @type {HTMLElement} */ (event.target).closest?.("[data-remove-thumb]");
    if (!button) return;
    const gallery = button.closest(".thumbs");
    button.closest(".thumb")?.remove();
    if (gallery) changed(gallery);
  });
  for (const zone of /** @type {NodeListOf<HTMLElement>} */ (root.querySelectorAll(".dropzone"))) {
    const input = /** @type {HTMLInputElement | null} */ (zone.querySelector("input[type=file]"));
    if (!input) continue;
    zone.addEventListener("dragover", (event) => {
      event.preventDefault();
      zone.classList.add("over");
    });
    zone.addEventListener("dragleave", () => zone.classList.remove("over"));
    zone.addEventListener("drop", (event) => {
      event.preventDefault();
      zone.classList.remove("over");
      addFiles(input, [...(event.dataTransfer?.files ?? [])]);
    });
  }
}
