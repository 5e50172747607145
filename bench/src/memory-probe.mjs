// Loaded into our CLI by the bench (`node --import`): writes process.memoryUsage() every 200 ms to the
// file named by IHB_MEMORY_PROBE, one JSON line each, so a peak RSS can be split into V8 heap, ArrayBuffers
// (socket and part buffers) and the rest (code, V8's source copies, malloc). Unref'd: never keeps the
// process alive.
import { appendFileSync } from "node:fs";

const file = process.env.IHB_MEMORY_PROBE;
if (file) {
  const started = Date.now();
  const sample = () => {
    const m = process.memoryUsage();
    appendFileSync(
      file,
      `${JSON.stringify({ atMs: Date.now() - started, rss: m.rss, heapTotal: m.heapTotal, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers })}\n`,
    );
  };
  setInterval(sample, 200).unref();
}
