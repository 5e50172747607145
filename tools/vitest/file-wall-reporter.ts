import type { Reporter, TestModule } from "vitest/node";

/**
 * Prints, after a run, the test files that held a worker longest: wall time from the moment the worker
 * took the file to its end, hooks and import included, beside the time inside tests alone. vitest's JSON
 * report times a file from its first test to its last, so a long beforeAll (a kind cluster, a helm
 * install) or afterAll is invisible there; this is where CI's minutes are looked for (issue 19).
 */
export default class FileWallReporter implements Reporter {
  private readonly started = new Map<string, number>();
  private readonly rows: { file: string; wall: number; tests: number }[] = [];
  private runStart = 0;

  onTestRunStart(): void {
    this.runStart = Date.now();
  }

  onTestModuleStart(module: TestModule): void {
    this.started.set(module.moduleId, Date.now());
  }

  onTestModuleEnd(module: TestModule): void {
    const start = this.started.get(module.moduleId) ?? this.runStart;
    let tests = 0;
    for (const test of module.children.allTests()) tests += test.diagnostic()?.duration ?? 0;
    this.rows.push({ file: module.relativeModuleId, wall: Date.now() - start, tests });
  }

  onTestRunEnd(): void {
    if (this.rows.length === 0) return;
    const seconds = (ms: number) => (ms / 1000).toFixed(0).padStart(5);
    const total = this.rows.reduce((sum, row) => sum + row.wall, 0);
    const lines = [
      `file wall (hooks and import included), ${this.rows.length} files, ${seconds(total).trim()} worker-s in ${seconds(Date.now() - this.runStart).trim()} s:`,
      "  wall tests  file",
      ...this.rows
        .filter((row) => row.wall >= 20_000)
        .sort((a, b) => b.wall - a.wall)
        .map((row) => `${seconds(row.wall)} ${seconds(row.tests)}  ${row.file}`),
    ];
    process.stdout.write(`${lines.join("\n")}\n`);
  }
}
