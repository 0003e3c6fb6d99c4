import type { AssetKind, AssetStore } from "./store";

/**
 * Stores files a page form posted without JavaScript (with it, they were uploaded already). Stops at
 * the first file that is not an image we take, saying which.
 */
export async function saveFormUploads(assets: AssetStore, teamId: string | null, files: File[], kind: AssetKind): Promise<{ ids: string[]; error?: string }> {
  const ids: string[] = [];
  for (const file of files) {
    const saved = await assets.save({ bytes: new Uint8Array(await file.arrayBuffer()), name: file.name, kind, teamId });
    if (!saved.ok) return { ids, error: `${file.name}: ${saved.message}` };
    ids.push(saved.asset.id);
  }
  return { ids };
}

/** True when every asset id a page posted belongs to this team. */
export async function ownsAssets(assets: AssetStore, teamId: string | null, ids: string[]): Promise<boolean> {
  for (const id of ids) {
    const info = await assets.info(id);
    if (!info || info.teamId !== teamId) return false;
  }
  return true;
}
