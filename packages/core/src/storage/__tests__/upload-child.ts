/**
 * Child process for the S3 tests (run with tsx): uploads a pattern through S3Store and reports.
 * - IHB_CHILD_MODE=rss: upload IHB_CHILD_SIZE bytes, print one JSON line {size, seconds, maxRssKiB}.
 * - IHB_CHILD_MODE=signal: the CLI's signal wiring; prints "written <bytes>" lines as it goes, so the
 *   parent can send SIGINT mid-upload; exits 130 after the uploads were aborted.
 */
import { abortUploadsOnSignals } from "../active-uploads.js";
import { S3Store } from "../s3-store.js";
import { tapSink, writePattern } from "./pattern.js";

const env = (name: string): string => {
  const value = process.env[name];
  if (value === undefined) throw new Error(`missing ${name}`);
  return value;
};

const mode = env("IHB_CHILD_MODE");
const size = Number(env("IHB_CHILD_SIZE"));
const store = new S3Store({
  endpoint: env("IHB_CHILD_ENDPOINT"),
  bucket: env("IHB_CHILD_BUCKET"),
  prefix: process.env.IHB_CHILD_PREFIX,
  credentials: { accessKeyId: env("IHB_CHILD_KEY"), secretAccessKey: env("IHB_CHILD_SECRET") },
  ...(process.env.IHB_CHILD_PART_SIZE ? { partSize: Number(process.env.IHB_CHILD_PART_SIZE) } : {}),
});

abortUploadsOnSignals({
  onAborted: (signal) => {
    process.stdout.write(`aborted ${signal}\n`);
    process.exit(130);
  },
});

async function main(): Promise<void> {
  const started = performance.now();
  const sink = await store.put(env("IHB_CHILD_NAME"), { sizeHint: size });
  let reported = 0;
  const progress = tapSink(sink, (position) => {
    if (mode === "signal" && position - reported >= 4 * 1024 * 1024) {
      reported = position;
      process.stdout.write(`written ${position}\n`);
    }
  });
  await writePattern(progress, { size, hash: false });
  const commit = await sink.commit();
  const seconds = (performance.now() - started) / 1000;
  process.stdout.write(
    `${JSON.stringify({ size: commit.size, seconds, maxRssKiB: process.resourceUsage().maxRSS })}\n`,
  );
  await store.close();
}

main().catch((error: { code?: string }) => {
  // The CLI's shape: an upload aborted by a signal fails with CANCELLED; the signal handler exits.
  if (error?.code === "CANCELLED") return;
  process.stderr.write(`${String(error)}\n`);
  process.exit(1);
});
