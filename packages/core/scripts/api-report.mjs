// The public surface of @infrahub-backup/core, one API Extractor report per entry point of package.json
// "exports" (api/*.api.md, checked in). `pnpm lint` (CI) fails when the built declarations no longer match
// a report, so every change of the surface is a reviewed diff; `pnpm api-report` rewrites the reports.
// Runs on dist/ (API Extractor reads declarations): build first (turbo's core#lint depends on build).
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Extractor, ExtractorConfig } from "@microsoft/api-extractor";

const packageFolder = join(dirname(fileURLToPath(import.meta.url)), "..");
const packageJsonPath = join(packageFolder, "package.json");
const { exports } = JSON.parse(readFileSync(packageJsonPath, "utf8"));
const local = process.argv.includes("--local");

let failed = 0;
for (const [subpath, target] of Object.entries(exports)) {
  if (typeof target !== "object") continue; // ./package.json
  const name = subpath === "." ? "core" : `core-${subpath.slice(2)}`;
  const config = ExtractorConfig.prepare({
    configObjectFullPath: join(packageFolder, "api-extractor.json"),
    packageJsonFullPath: packageJsonPath,
    configObject: {
      projectFolder: packageFolder,
      mainEntryPointFilePath: join(packageFolder, target.types),
      compiler: { tsconfigFilePath: join(packageFolder, "tsconfig.json"), skipLibCheck: true },
      newlineKind: "lf",
      apiReport: {
        enabled: true,
        reportFileName: `${name}.api.md`,
        reportFolder: join(packageFolder, "api"),
        reportTempFolder: join(packageFolder, "node_modules/.cache/api-report"),
      },
      docModel: { enabled: false },
      dtsRollup: { enabled: false },
      tsdocMetadata: { enabled: false },
      messages: {
        compilerMessageReporting: { default: { logLevel: "error" } },
        extractorMessageReporting: {
          default: { logLevel: "warning" },
          // A type reachable from the surface but not exported is a hole in it: an error at the root (the
          // union of the seams). A seam's entry may name another seam's types (operations take a BackupStore).
          "ae-forgotten-export": { logLevel: subpath === "." ? "error" : "none" },
          // No release tags (@public/@beta) here: every export of an entry point is public.
          "ae-missing-release-tag": { logLevel: "none" },
          // Every export and member carries JSDoc (defaults, bounds, errors thrown).
          "ae-undocumented": { logLevel: "error" },
        },
        // JSDoc here is prose for editors, not TSDoc-strict (`@param name text` without a hyphen).
        tsdocMessageReporting: { default: { logLevel: "none" } },
      },
    },
  });
  const result = Extractor.invoke(config, { localBuild: local, printApiReportDiff: !local });
  if (!result.succeeded) {
    failed++;
    const changed = result.apiReportChanged
      ? "; the public surface changed: review it, then run `pnpm --filter @infrahub-backup/core api-report` and commit api/"
      : "";
    process.stderr.write(
      `api-report: ${subpath}: ${result.errorCount} errors, ${result.warningCount} warnings${changed}\n`,
    );
  }
}
process.exit(failed === 0 ? 0 : 1);
