// Bundles the CLI into one ESM file for the container image: dist/bundle/infrahub-backup.mjs (Node 22+);
// an optional argument names another output file (tests).
import { chmod, readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = fileURLToPath(new URL("..", import.meta.url));
const pkg = JSON.parse(await readFile(new URL("../package.json", import.meta.url), "utf8"));
const outfile = process.argv[2] ?? `${root}dist/bundle/infrahub-backup.mjs`;

await build({
  stdin: {
    contents:
      // The version check runs before the CLI's modules are evaluated (see src/node-version.ts).
      'import { guardNodeVersion } from "./src/node-version.ts";\nif (guardNodeVersion()) {\n  const { main } = await import("./src/index.ts");\n  process.exitCode = await main(process.argv.slice(2));\n}\n',
    resolveDir: root,
    sourcefile: "bundle-entry.ts",
    loader: "ts",
  },
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node22",
  conditions: ["source"],
  outfile,
  define: { __CLI_VERSION__: JSON.stringify(pkg.version) },
  banner: {
    js: [
      "#!/usr/bin/env node",
      // CommonJS dependencies (the AWS SDK) call require() for Node builtins.
      'import { createRequire as __ihbCreateRequire } from "node:module";',
      "const require = __ihbCreateRequire(import.meta.url);",
    ].join("\n"),
  },
  legalComments: "none",
  // Whitespace and comments out, names kept (stack traces still name our functions). V8 keeps the
  // source of a script in memory for as long as it runs, as two bytes per character as soon as one
  // character is outside Latin-1 — and the dependencies' comments have "…", "—", "’": the 9.7 MB bundle
  // was held as 19 MiB. Minified (5.1 MB, Latin-1 only) the CLI's peak RSS at `--version` is 82–86 MiB
  // instead of 93–95 MiB, and every create/restore ~10 MiB lower (bench/README.md, "Memory").
  minifyWhitespace: true,
  logLevel: "warning",
});
await chmod(outfile, 0o755);
console.log(outfile);
