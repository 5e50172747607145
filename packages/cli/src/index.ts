import { readFileSync } from "node:fs";

/** Version of this CLI package. */
export function cliVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as {
    version: string;
  };
  return pkg.version;
}

/** Entry point; returns the process exit code. The full command set lands with the CLI issue. */
export async function main(argv: readonly string[]): Promise<number> {
  if (argv[0] === "version" || argv[0] === "--version") {
    process.stdout.write(`${cliVersion()}\n`);
    return 0;
  }
  process.stderr.write("usage: infrahub-backup version\n");
  return 2;
}
