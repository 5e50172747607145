import { readFileSync } from "node:fs";
import { join } from "node:path";

/**
 * An archive of our multi-member generation: one gzip member per tar header, written by the
 * ArchiveWriter of 1eaafc3 (stored and deflated entries, the deflated one in two 64 KiB members, an
 * empty entry, prefect.dump, metadata last; 13 members in all).
 */
export const MULTI_MEMBER = readFileSync(join(import.meta.dirname, "fixtures/multi-member-1eaafc3.tar.gz"));

/** Length of one of its header members: a 512-byte tar header in a gzip member of one stored block. */
export const MULTI_MEMBER_HEADER = 535;

/** SHA-256 of each of its files (checksum keys). */
export const MULTI_MEMBER_FILES: Record<string, string> = {
  "database/neo4j-2026-12-04T15-35-57.backup":
    "3083f53aa463f95d4f70f891b56993df6a65b6347d6bbfbb2dc7ce9fd1933839",
  "database/neo4j-2026-12-04T15-35-57.log":
    "f46da619076fb387423d655c71a8bb2ffefd920a538f09d8a2f7737a5d606a62",
  "database/empty.backup": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
  "prefect.dump": "44d486e9ab27c1ffe31ed5ca0976ea41b2ccd91ba8c72c34b0ba802e397fbdd9",
};
