import { mkdir, open, rm } from "node:fs/promises";
import { join, resolve, sep } from "node:path";
import { pipeline } from "node:stream/promises";
import { BackupError } from "../errors.js";
import { type ArchiveReport, type ReadArchiveOptions, readArchive } from "./archive-reader.js";

/**
 * Extracts an archive's files under `targetDir` (created if missing; existing files are never
 * overwritten: `ARTIFACT_EXISTS`). Only what the reader accepted is written: regular files below
 * `backup/`, nothing outside `targetDir`, no links. On any failure, the files written so far are removed
 * and the error is rethrown; checksums are verified before this resolves.
 */
export async function extractArchive(
  source: AsyncIterable<unknown>,
  targetDir: string,
  options: Omit<ReadArchiveOptions, "onEntry"> = {},
): Promise<ArchiveReport> {
  const root = resolve(targetDir);
  await mkdir(root, { recursive: true });
  const written: string[] = [];
  try {
    return await readArchive(source, {
      ...options,
      onEntry: async (entry) => {
        const path = resolve(root, entry.name);
        if (!path.startsWith(root + sep)) {
          throw new BackupError("ARCHIVE_UNSAFE_PATH", `entry escapes the target: ${entry.name}`);
        }
        await mkdir(join(path, ".."), { recursive: true });
        let handle: Awaited<ReturnType<typeof open>>;
        try {
          handle = await open(path, "wx", 0o600);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code === "EEXIST") {
            throw new BackupError("ARTIFACT_EXISTS", `refusing to overwrite ${path}`);
          }
          throw new BackupError("STORAGE_FAILED", `cannot create ${path}`, { cause: error });
        }
        written.push(path);
        const out = handle.createWriteStream();
        await pipeline(entry.body, out);
      },
    });
  } catch (error) {
    await Promise.all(written.map((p) => rm(p, { force: true })));
    throw error;
  }
}
