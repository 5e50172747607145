/**
 * Child process for the large-entry test: writes (or reads back) one archive with a single entry of
 * unknown length generated on the fly, then prints JSON with peak RSS and throughput. A child keeps
 * the RSS figure free of the test runner's own memory.
 */
import { createReadStream, readFileSync } from "node:fs";
import { FileSink } from "../../storage/file-sink.js";
import { readArchive } from "../archive-reader.js";
import type { ArchiveSink } from "../archive-sink.js";
import { ArchiveWriter } from "../archive-writer.js";
import { EncryptingSink, parsePublicKey } from "../encryption.js";
import { patternSource } from "./helpers.js";

const [mode, path, sizeText, keyFile] = process.argv.slice(2);
const size = Number(sizeText);
const started = performance.now();
if (mode === "baseline") {
  // Same imports, no work: the RSS of Node + tsx + the modules, to subtract from the figures.
  process.stdout.write(
    `${JSON.stringify({ mode, sha256: "", seconds: 0, maxRssKiB: process.resourceUsage().maxRSS })}\n`,
  );
} else if (mode === "write") {
  let sink: ArchiveSink = await FileSink.create(path as string);
  if (keyFile) sink = new EncryptingSink(sink, parsePublicKey(readFileSync(keyFile)));
  const writer = new ArchiveWriter(sink);
  const entry = await writer.addFile("database/neo4j.dump", patternSource(size, { chunkSize: 256 * 1024 }));
  const result = await writer.finish({
    backupId: "infrahub_backup_20260130_092031",
    createdAt: "2026-01-30T09:20:31Z",
    toolVersion: "v0.1.0",
    infrahubVersion: "1.5.3",
    components: ["database"],
    neo4jEdition: "community",
  });
  const seconds = (performance.now() - started) / 1000;
  process.stdout.write(
    `${JSON.stringify({ mode, size: entry.size, sha256: entry.sha256, compression: entry.compression, archiveBytes: result.commit.size, seconds, maxRssKiB: process.resourceUsage().maxRSS })}\n`,
  );
} else {
  let sha256 = "";
  const report = await readArchive(createReadStream(path as string, { highWaterMark: 1 << 20 }), {
    ...(keyFile ? { decryptKey: readFileSync(keyFile, "utf8") } : {}),
    onEntry: async (entry) => {
      entry.body.resume();
      sha256 = (await entry.digest).sha256;
    },
  });
  const seconds = (performance.now() - started) / 1000;
  process.stdout.write(
    `${JSON.stringify({ mode, sha256, ok: report.ok, seconds, maxRssKiB: process.resourceUsage().maxRSS })}\n`,
  );
}
