#!/usr/bin/env node
// The version check comes first and alone: the CLI's dependencies fail while loading on an older Node.js
// with errors that do not name the version. Only then is the CLI imported.
import { guardNodeVersion } from "../dist/node-version.js";

if (guardNodeVersion()) {
  const { main } = await import("../dist/index.js");
  process.exitCode = await main(process.argv.slice(2));
}
