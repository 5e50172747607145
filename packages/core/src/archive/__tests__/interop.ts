/**
 * The real readers an archive must satisfy, each run as its own process on a file: Python `tarfile`
 * (streaming `r|gz` from a pipe, and random-access `r:gz`), GNU tar, BusyBox tar (when installed), Go
 * `archive/tar`+`compress/gzip` (when a Go toolchain is installed), `gzip -t` and `gzip -l`.
 */
import { execFile, spawnSync } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);
const BIG = { maxBuffer: 256 * 1024 * 1024, encoding: "utf8" as const };

export interface ListedEntry {
  name: string;
  type: "dir" | "file" | "other";
  size: number;
  /** Absent when the reader was asked not to hash entries this large. */
  sha256?: string;
}

/**
 * Lists every member; reads every file's body to its end (4 MiB reads: tarfile's own skipping reads
 * 10 KiB at a time, far slower on an 8 GiB entry) and fails if it is not exactly `size` bytes; hashes
 * the bodies up to `limit` bytes.
 */
const PYTHON_TARFILE = `
import hashlib, json, sys, tarfile
mode, limit = sys.argv[1], int(sys.argv[2])
out = []
src = {"fileobj": sys.stdin.buffer} if mode.startswith("r|") else {"name": sys.argv[3]}
with tarfile.open(mode=mode, **src) as tf:
    for m in tf:
        item = {"name": m.name, "type": "dir" if m.isdir() else "file" if m.isfile() else "other", "size": m.size}
        if m.isfile():
            f = tf.extractfile(m)
            h = hashlib.sha256() if m.size <= limit else None
            n = 0
            while True:
                b = f.read(1 << 22)
                if not b:
                    break
                n += len(b)
                if h:
                    h.update(b)
            if n != m.size:
                sys.exit(f"{m.name}: read {n} bytes of {m.size}")
            if h:
                item["sha256"] = h.hexdigest()
        out.append(item)
print(json.dumps(out))
`;

/**
 * Python's streaming mode, fed through a pipe (`cat file | python3`), as a script reading an S3 body
 * would: it never seeks and stops at the first end of a gzip member.
 */
export async function pythonStream(path: string, hashUpTo = Number.MAX_SAFE_INTEGER): Promise<ListedEntry[]> {
  const { stdout } = await run(
    "bash",
    [
      "-o",
      "pipefail",
      "-c",
      'cat "$1" | python3 -c "$2" "r|gz" "$3"',
      "_",
      path,
      PYTHON_TARFILE,
      String(hashUpTo),
    ],
    BIG,
  );
  return JSON.parse(stdout) as ListedEntry[];
}

/** Python's random-access mode on the file. */
export async function pythonFile(path: string, mode = "r:gz"): Promise<ListedEntry[]> {
  const { stdout } = await run(
    "python3",
    ["-c", PYTHON_TARFILE, mode, String(Number.MAX_SAFE_INTEGER), path],
    BIG,
  );
  return JSON.parse(stdout) as ListedEntry[];
}

function parseVerboseListing(text: string): ListedEntry[] {
  // "drwxr-xr-x 0/0 0 2026-01-30 09:20 backup" (GNU) or "drwxr-xr-x 0/0 0 2026-01-30 09:20:31 backup" (BusyBox)
  return text
    .trim()
    .split("\n")
    .map((line) => {
      const match = /^(\S)\S+\s+\S+\s+(\d+)\s+\S+\s+\S+\s+(.+)$/.exec(line);
      if (!match) throw new Error(`unparsed tar listing line: ${line}`);
      const [, kind, size, name] = match as unknown as [string, string, string, string];
      return { name, type: kind === "d" ? "dir" : kind === "-" ? "file" : "other", size: Number(size) };
    });
}

const SHA_TO_COMMAND = 'printf "%s " "$TAR_FILENAME"; sha256sum';

function withHashes(entries: ListedEntry[], sums: string): ListedEntry[] {
  const byName = new Map(
    sums
      .trim()
      .split("\n")
      .filter((l) => l !== "")
      .map((l) => {
        const [name, sum] = l.split(/\s+/) as [string, string];
        return [name, sum] as const;
      }),
  );
  return entries.map((e) => {
    const sum = byName.get(e.name);
    return sum === undefined ? e : { ...e, sha256: sum };
  });
}

/** GNU tar: `-tzv` for names, types and sizes, `-xz --to-command` for every file's SHA-256 (no disk). */
export async function gnuTar(path: string): Promise<ListedEntry[]> {
  const listing = await run("tar", ["-tzvf", path], BIG);
  const sums = await run("tar", ["-xzf", path, `--to-command=${SHA_TO_COMMAND}`], BIG);
  if (listing.stderr !== "" || sums.stderr !== "")
    throw new Error(`GNU tar warned: ${listing.stderr}${sums.stderr}`);
  return withHashes(parseVerboseListing(listing.stdout), sums.stdout);
}

export const HAVE_BUSYBOX = spawnSync("busybox", ["tar", "--help"]).status === 0;

/** BusyBox tar: `-tzv` listing, then each file extracted to stdout and hashed. */
export async function busyboxTar(path: string): Promise<ListedEntry[]> {
  const listing = parseVerboseListing((await run("busybox", ["tar", "-tzvf", path], BIG)).stdout);
  const sums: string[] = [];
  for (const entry of listing) {
    if (entry.type !== "file") continue;
    const { stdout } = await run(
      "bash",
      ["-o", "pipefail", "-c", 'busybox tar -xzOf "$1" "$2" | sha256sum', "_", path, entry.name],
      BIG,
    );
    sums.push(`${entry.name} ${stdout.split(/\s+/)[0]}`);
  }
  return withHashes(listing, sums.join("\n"));
}

/** A Python with the `cryptography` package (the toolchain's venv python may lack it). */
export const PYTHON_WITH_CRYPTOGRAPHY = ["python3", "/usr/bin/python3", "/root/.pyenv/shims/python3"].find(
  (candidate) => spawnSync(candidate, ["-c", "import cryptography"]).status === 0,
);

const GO_READER = join(import.meta.dirname, "../../../test/fixtures/archives/go-reader");
export const HAVE_GO = spawnSync("go", ["version"]).status === 0;

/** Builds the Go reader (standard library only) into `dir`; returns the binary's path. */
export async function buildGoReader(dir: string): Promise<string> {
  const bin = join(dir, "go-reader");
  await run("go", ["build", "-o", bin, "."], {
    cwd: GO_READER,
    env: { ...process.env, GOFLAGS: "-mod=mod", GOTOOLCHAIN: "local" },
  });
  return bin;
}

/** Go's `compress/gzip` + `archive/tar`, as the upstream tool reads. */
export async function goReader(bin: string, path: string): Promise<ListedEntry[]> {
  const { stdout } = await run(bin, [path], BIG);
  const raw = JSON.parse(stdout) as Array<{ name: string; type: string; size: number; sha256?: string }>;
  return raw.map((e) => ({
    name: e.name,
    type: e.type === "5" ? "dir" : e.type === "0" ? "file" : "other",
    size: e.size,
    ...(e.sha256 === undefined ? {} : { sha256: e.sha256 }),
  }));
}

/** `gzip -t`: the whole member decodes and its CRC-32 and ISIZE match. Throws with gzip's message. */
export async function gzipTest(path: string): Promise<void> {
  const { stderr } = await run("gzip", ["-t", path], BIG);
  if (stderr !== "") throw new Error(`gzip -t warned: ${stderr}`);
}

/**
 * `gzip -l`: compressed and uncompressed sizes. gzip ≥ 1.12 counts the uncompressed bytes by decoding
 * the member (older versions print the trailer's ISIZE, the size mod 2^32).
 */
export async function gzipList(path: string): Promise<{ compressed: number; uncompressed: number }> {
  const { stdout } = await run("gzip", ["-l", path], BIG);
  const fields = (stdout.trim().split("\n")[1] ?? "").trim().split(/\s+/);
  return { compressed: Number(fields[0]), uncompressed: Number(fields[1]) };
}
