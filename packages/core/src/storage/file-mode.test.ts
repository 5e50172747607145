// Archives hold the whole graph and Neo4j's users and roles: the local store writes them, and their temp
// files while they are being written, readable by their owner only unless told otherwise.
import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { tempDir } from "@infrahub-backup/testkit";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { FileSink } from "./file-sink.js";
import { LocalStore } from "./local-store.js";

const NAME = "infrahub_backup_20261205_101500.tar.gz";
const modeOf = async (path: string) => (await stat(path)).mode & 0o7777;

/** Writes one archive; returns the modes of the temp file (while open), the archive and the directory. */
async function writeOne(store: LocalStore): Promise<{ partial: number; archive: number; directory: number }> {
  const sink = await store.put(NAME);
  await sink.write(Buffer.from("archive bytes"));
  const temp = (await readdir(store.directory)).find((n) => n.startsWith(`.${NAME}.partial-`));
  expect(temp).toBeDefined();
  const partial = await modeOf(join(store.directory, temp as string));
  await sink.commit();
  return {
    partial,
    archive: await modeOf(join(store.directory, NAME)),
    directory: await modeOf(store.directory),
  };
}

describe("file modes of local archives", () => {
  let umask: number;
  // The umask a shell would usually have; each case sets its own where it matters.
  beforeEach(() => {
    umask = process.umask(0o022);
  });
  afterEach(() => {
    process.umask(umask);
  });

  it("default: 0600 for the temp file and the archive, 0700 for a directory it creates", async () => {
    await using dir = await tempDir();
    const modes = await writeOne(new LocalStore({ directory: join(dir.path, "backups") }));
    expect(modes).toEqual({ partial: 0o600, archive: 0o600, directory: 0o700 });
  });

  it("0600 whatever the umask: a permissive umask (000) does not widen it", async () => {
    await using dir = await tempDir();
    process.umask(0o000);
    const modes = await writeOne(new LocalStore({ directory: join(dir.path, "backups") }));
    expect(modes).toEqual({ partial: 0o600, archive: 0o600, directory: 0o700 });
  });

  it("fileMode 0640 for a directory shared with a group: 0640 files, 0750 directory; the umask still narrows", async () => {
    await using dir = await tempDir();
    const shared = await writeOne(new LocalStore({ directory: join(dir.path, "shared"), fileMode: 0o640 }));
    expect(shared).toEqual({ partial: 0o640, archive: 0o640, directory: 0o750 });
    process.umask(0o077);
    const narrowed = await writeOne(
      new LocalStore({ directory: join(dir.path, "narrowed"), fileMode: 0o640 }),
    );
    expect(narrowed).toEqual({ partial: 0o600, archive: 0o600, directory: 0o700 });
  });

  it("an existing directory keeps its own mode", async () => {
    await using dir = await tempDir();
    const before = await modeOf(dir.path);
    const modes = await writeOne(new LocalStore({ directory: dir.path }));
    expect(modes.directory).toBe(before);
    expect(modes.archive).toBe(0o600);
  });

  it("FileSink on its own defaults to 0600", async () => {
    await using dir = await tempDir();
    process.umask(0o000);
    const sink = await FileSink.create(join(dir.path, NAME));
    expect(await modeOf(sink.tempPath)).toBe(0o600);
    await sink.write(Buffer.from("x"));
    await sink.commit();
    expect(await modeOf(join(dir.path, NAME))).toBe(0o600);
  });
});
