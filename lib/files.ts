/**
 * Writing files so that readers see the old content or the new, never a torn mix:
 * write a temporary file beside the target, flush it, then rename it over.
 *
 * @module
 */

/** Options for {@linkcode writeFileAtomic}. */
export interface AtomicWriteOptions {
  /** The file mode of the new file; 0o600 by default. */
  mode?: number;
  /** Who owns the new file (root writing a user's file); the writer by default. */
  owner?: { uid: number; gid: number };
}

/**
 * Replaces `path` with `data` atomically: a crash leaves either the old file or the
 * new one, whole.
 *
 * @param path The file to write.
 * @param data The new content.
 * @param options The new file's mode and owner.
 * @returns When the new content is in place.
 */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  options: AtomicWriteOptions = {},
): Promise<void> {
  const slash = path.lastIndexOf("/");
  const dir = slash >= 0 ? path.slice(0, slash) || "/" : ".";
  const base = path.slice(slash + 1);
  const random = crypto.getRandomValues(new Uint32Array(2)).join("");
  const temp = `${dir}/.${base}.${random}.tmp`;
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const file = await Deno.open(temp, { write: true, createNew: true, mode: options.mode ?? 0o600 });
  try {
    let written = 0;
    while (written < bytes.length) written += await file.write(bytes.subarray(written));
    await file.sync();
  } catch (error) {
    file.close();
    await Deno.remove(temp).catch(() => {});
    throw error;
  }
  file.close();
  try {
    await Deno.chmod(temp, options.mode ?? 0o600);
    if (options.owner) await Deno.chown(temp, options.owner.uid, options.owner.gid);
    await Deno.rename(temp, path);
  } catch (error) {
    await Deno.remove(temp).catch(() => {});
    throw error;
  }
}
