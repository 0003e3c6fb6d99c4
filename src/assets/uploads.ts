import type { TeamScope } from "../accounts/scope";
import type { AssetKind, AssetStore } from "./store";

/**
 * Stores files a page form posted without JavaScript (with it, they were uploaded already). Stops at
 * the first file that is not an image we take, saying which.
 */
export async function saveFormUploads(assets: AssetStore, scope: TeamScope, files: File[], kind: AssetKind): Promise<{ ids: string[]; error?: string }> {
  const ids: string[] = [];
  for (const file of files) {
    const saved = await assets.save(scope, { bytes: new Uint8Array(await file.arrayBuffer()), name: file.name, kind });
    if (!saved.ok) return { ids, error: `${file.name}: ${saved.message}` };
    ids.push(saved.asset.id);
  }
  return { ids };
}

/** True when every asset id a page posted is inside `scope`. */
export async function ownsAssets(assets: AssetStore, scope: TeamScope, ids: string[]): Promise<boolean> {
  for (const id of ids) if (!(await assets.info(scope, id))) return false;
  return true;
}
