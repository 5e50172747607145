import { ArchiveWriter, type ArchiveWriterOptions } from "../archive-writer.js";
import { bufferSource, buildTar, gzip, MemorySink, metadataJson, sha256 } from "./helpers.js";
import { MULTI_MEMBER, MULTI_MEMBER_FILES } from "./multi-member-fixture.js";

/** An intact archive that the fuzz and the differential test damage, with what it holds. */
export interface DamageBase {
  name: string;
  bytes: Buffer;
  /** SHA-256 per file, keyed by path relative to `backup/`. */
  files: Record<string, string>;
  /** Python's r|gz stops after the first gzip member, so it is no reference for a multi-member base. */
  multiMember?: boolean;
  decryptKey?: string;
}

export function sha256s(files: Record<string, Buffer>): Record<string, string> {
  return Object.fromEntries(Object.entries(files).map(([k, v]) => [k, sha256(v)]));
}

/**
 * The same files three ways: written by our writer (one gzip member, the deflated entries cut into
 * several segments by `options.deflateBlockBytes`), in our multi-member generation (the 1eaafc3
 * fixture, its own files), and as upstream writes them (metadata first, one member by Go's gzip).
 */
export async function damageBases(
  files: Record<string, Buffer>,
  options: ArchiveWriterOptions,
): Promise<DamageBase[]> {
  const sums = sha256s(files);
  const sink = new MemorySink();
  const writer = new ArchiveWriter(sink, options);
  for (const [path, data] of Object.entries(files)) await writer.addFile(path, bufferSource(data, 1500));
  await writer.finish({
    backupId: "infrahub_backup_20260130_092031",
    createdAt: "2026-01-30T09:20:31Z",
    toolVersion: "v0.1.0",
    infrahubVersion: "1.5.3",
    components: "prefect.dump" in files ? ["database", "task-manager-db"] : ["database"],
  });
  const upstream = gzip(
    buildTar([
      { name: "backup", typeflag: "5" },
      {
        name: "backup/backup_information.json",
        data: metadataJson({
          metadata_version: 2025111200,
          backup_id: "x",
          components: ["database", "task-manager-db"],
          checksums: sums,
        }),
      },
      { name: "backup/database", typeflag: "5" },
      ...Object.entries(files).map(([path, data]) => ({ name: `backup/${path}`, data })),
    ]),
  );
  return [
    { name: "ours (one member)", bytes: sink.committed as Buffer, files: sums },
    {
      name: "ours, multi-member generation (1eaafc3)",
      bytes: MULTI_MEMBER,
      files: MULTI_MEMBER_FILES,
      multiMember: true,
    },
    { name: "upstream (single member)", bytes: upstream, files: sums },
  ];
}
