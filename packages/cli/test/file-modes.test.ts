// Archives written by the CLI are 0600 by default whatever the umask (they hold the graph and Neo4j's users
// and roles), --archive-mode / INFRAHUB_ARCHIVE_MODE opens them to the directory's group, and a mode
// that would lock the owner out or make an archive executable is refused before anything is written.
// `create from-files` exercises the same local store as `create` without a deployment.
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type TempDir, tempDir } from "@infrahub-backup/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bin, buildCli, cleanEnv, removeCli } from "./cli-process.js";

let dir: TempDir;
let dump: string;

beforeAll(async () => {
  buildCli();
  dir = await tempDir("ihb-cli-modes-");
  dump = join(dir.path, "neo4j.dump");
  await writeFile(dump, Buffer.concat([Buffer.from("DZV1"), randomBytes(4096)]));
});
afterAll(async () => {
  removeCli();
  await dir?.[Symbol.asyncDispose]();
});

/** Runs `create from-files` into `backups` under a shell with the given umask. */
function fromFiles(
  backups: string,
  umask: string,
  extra: string[] = [],
  env: Record<string, string> = {},
): { status: number | null; stdout: string; stderr: string } {
  const quote = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;
  const argv = [process.execPath, bin, "create", "from-files", "--neo4j-path", dump, "--backup-dir", backups];
  const r = spawnSync("sh", ["-c", `umask ${umask} && exec ${[...argv, ...extra].map(quote).join(" ")}`], {
    env: cleanEnv(env),
    encoding: "utf8",
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const modeOf = async (path: string) => (await stat(path)).mode & 0o7777;

describe("archive file modes", () => {
  it("default: the archive is 0600 and a directory the CLI creates 0700, even with umask 000", async () => {
    for (const umask of ["022", "000"]) {
      const backups = join(dir.path, `default-${umask}`);
      const r = fromFiles(backups, umask);
      expect(r.stderr).not.toMatch(/Error/);
      expect(r.status).toBe(0);
      expect(await modeOf(r.stdout.trim())).toBe(0o600);
      expect(await modeOf(backups)).toBe(0o700);
    }
  });

  it("--archive-mode 0640 (or INFRAHUB_ARCHIVE_MODE) lets the directory's group read; the umask still narrows", async () => {
    const flag = fromFiles(join(dir.path, "shared-flag"), "022", ["--archive-mode", "0640"]);
    expect(flag.status).toBe(0);
    expect(await modeOf(flag.stdout.trim())).toBe(0o640);
    expect(await modeOf(join(dir.path, "shared-flag"))).toBe(0o750);

    const env = fromFiles(join(dir.path, "shared-env"), "022", [], { INFRAHUB_ARCHIVE_MODE: "640" });
    expect(env.status).toBe(0);
    expect(await modeOf(env.stdout.trim())).toBe(0o640);

    const narrowed = fromFiles(join(dir.path, "narrowed"), "077", ["--archive-mode", "0640"]);
    expect(narrowed.status).toBe(0);
    expect(await modeOf(narrowed.stdout.trim())).toBe(0o600);
  });

  it.each([
    ["--archive-mode", "0400", "--archive-mode"],
    ["--archive-mode", "0755", "--archive-mode"],
    ["--archive-mode", "rw-r-----", "--archive-mode"],
    ["env", "4600", "INFRAHUB_ARCHIVE_MODE"],
  ])("%s %s is refused (exit 2) before anything is written", async (how, value, source) => {
    const backups = join(dir.path, `refused-${value}`);
    const r =
      how === "env"
        ? fromFiles(backups, "022", [], { INFRAHUB_ARCHIVE_MODE: value })
        : fromFiles(backups, "022", [how, value]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`Error: invalid ${source} "${value}"`);
    expect(r.stderr).toMatch(/Hint: 0600 \(the default/);
    await expect(readdir(backups)).rejects.toMatchObject({ code: "ENOENT" });
  });
});
