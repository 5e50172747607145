#!/usr/bin/env -S MALLOC_MMAP_THRESHOLD_=32768 node --max-semi-space-size=1
// --max-semi-space-size=1: a 1 MiB young generation lets each scavenge free the socket buffers of the bytes
// that streamed through; with the default (up to 16 MiB) they wait for mark-compacts, and a restore's peak
// RSS was ~80 MiB higher (packages/core/README.md, "Memory"). The image's ENTRYPOINT passes the same flag.
// MALLOC_MMAP_THRESHOLD_=32768 (glibc; musl ignores it): the HTTP parser copies every body chunk of an S3
// read (up to 64 KiB) into a new buffer; glibc placed them in its main heap, where the ones V8 frees late
// leave holes it never returns: a restore through Kubernetes exec peaked at 181 MiB with 63 MiB there, and
// at 150 MiB with 9 MiB once chunks of 32 KiB and more are mapped and unmapped one by one (bench/README.md).
// The version check comes first and alone: the CLI's dependencies fail while loading on an older Node.js
// with errors that do not name the version. Only then is the CLI imported.
import { guardNodeVersion } from "../dist/node-version.js";

if (guardNodeVersion()) {
  const { main } = await import("../dist/index.js");
  process.exitCode = await main(process.argv.slice(2));
}
