#!/usr/bin/env -S node --max-semi-space-size=1
// --max-semi-space-size=1: a 1 MiB young generation lets each scavenge free the socket buffers of the bytes
// that streamed through; with the default (up to 16 MiB) they wait for mark-compacts, and a restore's peak
// RSS was ~80 MiB higher (packages/core/README.md, "Memory"). The image's ENTRYPOINT passes the same flag.
// The version check comes first and alone: the CLI's dependencies fail while loading on an older Node.js
// with errors that do not name the version. Only then is the CLI imported.
import { guardNodeVersion } from "../dist/node-version.js";

if (guardNodeVersion()) {
  const { main } = await import("../dist/index.js");
  process.exitCode = await main(process.argv.slice(2));
}
