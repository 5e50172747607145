import { execFileSync } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { repoRoot, tempDir } from "@infrahub-backup/testkit";
import { describe, expect, it } from "vitest";
import { generateEncryptionKeyPair } from "./encryption.js";

const CHILD = join(import.meta.dirname, "__tests__", "large-entry-child.ts");
const TSX = join(repoRoot, "node_modules", ".bin", "tsx");
const MiB = 1024 * 1024;

interface ChildResult {
  mode: string;
  size?: number;
  sha256: string;
  seconds: number;
  maxRssKiB: number;
  archiveBytes?: number;
  compression?: string;
  ok?: boolean;
}

function runChild(
  mode: "write" | "read" | "baseline",
  path: string,
  size: number,
  keyFile?: string,
): ChildResult {
  const args = [CHILD, mode, path, String(size), ...(keyFile ? [keyFile] : [])];
  const out = execFileSync(TSX, args, { encoding: "utf8", timeout: 120_000 });
  return JSON.parse(out.trim().split("\n").pop() as string) as ChildResult;
}

describe("unknown-length entries of 64 MiB and 1 GiB (plain and encrypted)", () => {
  it("keep writer and reader memory bounded", { timeout: 300_000 }, async () => {
    await using tmp = await tempDir();
    const rows: string[] = [];
    const rss: Record<number, { write: number; read: number }> = {};
    for (const size of [64 * MiB, 1024 * MiB + 12345]) {
      const path = join(tmp.path, `infrahub_backup_${size}.tar.gz`);
      const w = runChild("write", path, size);
      expect(w.size).toBe(size);
      expect(w.compression).toBe("store");
      const r = runChild("read", path, size);
      expect(r.ok).toBe(true);
      expect(r.sha256).toBe(w.sha256);
      // GNU tar agrees on the size of the entry.
      const listing = execFileSync("tar", ["-tzvf", path], { encoding: "utf8" });
      expect(listing).toContain(` ${size} `);
      rss[size] = { write: w.maxRssKiB, read: r.maxRssKiB };
      rows.push(
        `${(size / MiB).toFixed(0).padStart(5)} MiB  write ${(w.maxRssKiB / 1024).toFixed(0)} MiB RSS, ` +
          `${(size / MiB / w.seconds).toFixed(0)} MiB/s | read ${(r.maxRssKiB / 1024).toFixed(0)} MiB RSS, ` +
          `${(size / MiB / r.seconds).toFixed(0)} MiB/s`,
      );
    }
    // The same 1 GiB through the encrypting sink (ECIES v2, 4 MiB chunks) and back.
    const keys = generateEncryptionKeyPair();
    await writeFile(join(tmp.path, "k.pub"), keys.publicKeyFile);
    await writeFile(join(tmp.path, "k.pem"), keys.privateKeyPem);
    const encPath = join(tmp.path, "infrahub_backup_enc.tar.gz.enc");
    const size = 1024 * MiB;
    const we = runChild("write", encPath, size, join(tmp.path, "k.pub"));
    const re = runChild("read", encPath, size, join(tmp.path, "k.pem"));
    expect(re.ok).toBe(true);
    expect(re.sha256).toBe(we.sha256);
    rows.push(
      ` 1024 MiB encrypted  write ${(we.maxRssKiB / 1024).toFixed(0)} MiB RSS, ${(size / MiB / we.seconds).toFixed(0)} MiB/s | ` +
        `read ${(re.maxRssKiB / 1024).toFixed(0)} MiB RSS, ${(size / MiB / re.seconds).toFixed(0)} MiB/s`,
    );
    expect(we.maxRssKiB).toBeLessThan(320 * 1024);
    expect(re.maxRssKiB).toBeLessThan(320 * 1024);

    const baseline = runChild("baseline", "", 0).maxRssKiB;
    console.log(
      `peak RSS of a child process (idle baseline with tsx: ${(baseline / 1024).toFixed(0)} MiB):\n${rows.join("\n")}`,
    );
    const [small, large] = Object.values(rss) as [
      { write: number; read: number },
      { write: number; read: number },
    ];
    // 16x the data must not mean 16x the memory. Peaks move by a few tens of MiB with GC timing of
    // external buffers on a loaded machine, so the bounds are loose but far below the 960 MiB added.
    expect(large.write - small.write).toBeLessThan(128 * 1024);
    expect(large.read - small.read).toBeLessThan(128 * 1024);
    expect(large.write).toBeLessThan(320 * 1024);
    expect(large.read).toBeLessThan(320 * 1024);
  });
});
