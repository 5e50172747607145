// Loaded into our CLI by the bench (`node --import`): writes process.memoryUsage() every 200 ms to the
// file named by IHB_MEMORY_PROBE, one JSON line each, so a peak RSS can be split into V8 heap, ArrayBuffers
// (socket and part buffers) and the rest (code, V8's source copies, malloc). Each time the RSS reaches a
// new high, the line also splits the resident anonymous memory by mapping (`/proc/self/smaps`): `brk` is
// glibc's main malloc arena, `arenas` the 64 MiB-reserved heaps of its other thread arenas, `anon` the
// rest (V8's heap pages, big mmap'd buffers). Unref'd: never keeps the process alive.
import { appendFileSync, readFileSync } from "node:fs";

/** Resident kB of anonymous mappings, by kind. */
function mappings() {
  const split = { brk: 0, arenas: 0, anon: 0, file: 0 };
  let kind = "file";
  for (const line of readFileSync("/proc/self/smaps", "utf8").split("\n")) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \d+\s*(.*)$/.exec(line);
    if (head) {
      const name = head[3] ?? "";
      const size = Number.parseInt(head[2], 16) - Number.parseInt(head[1], 16);
      const start = Number.parseInt(head[1], 16);
      if (name === "[heap]") kind = "brk";
      else if (name !== "") kind = "file";
      // glibc's non-main arenas are mmap'd 64 MiB regions aligned to 64 MiB (HEAP_MAX_SIZE).
      else if (start % (64 * 1024 * 1024) === 0 && size <= 64 * 1024 * 1024) kind = "arenas";
      else kind = "anon";
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss) split[kind] += Number(rss[1]);
  }
  return split;
}

const file = process.env.IHB_MEMORY_PROBE;
if (file) {
  const started = Date.now();
  let highest = 0;
  const sample = () => {
    const m = process.memoryUsage();
    const record = {
      atMs: Date.now() - started,
      rss: m.rss,
      heapTotal: m.heapTotal,
      heapUsed: m.heapUsed,
      external: m.external,
      arrayBuffers: m.arrayBuffers,
    };
    if (m.rss > highest) {
      highest = m.rss;
      record.mappingsKiB = mappings();
    }
    appendFileSync(file, `${JSON.stringify(record)}\n`);
  };
  setInterval(sample, 200).unref();
}
