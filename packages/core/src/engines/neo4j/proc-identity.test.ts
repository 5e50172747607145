// The freeze tells the JVM it froze from a later process under the same pid (a restarted container numbers
// its processes the same way) by its start time. Real processes on this host stand in for the container's;
// a reused pid is what a wrong start time looks like to the check.
import { spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import { afterEach, describe, expect, it } from "vitest";
import { LocalExecutor } from "../../exec/local-executor.js";
import { parseProcStat, signalProcess } from "./freeze.js";

const executor = new LocalExecutor({ target: "local test" });
const children: ReturnType<typeof spawn>[] = [];

async function sleeper() {
  const child = spawn("sleep", ["300"], { stdio: "ignore" });
  children.push(child);
  const pid = child.pid as number;
  const stat = parseProcStat(await readFile(`/proc/${pid}/stat`, "utf8"));
  if (!stat) throw new Error(`no stat for ${pid}`);
  return { pid, startTicks: stat.startTicks };
}

const state = async (pid: number) => parseProcStat(await readFile(`/proc/${pid}/stat`, "utf8"))?.state;

afterEach(() => {
  for (const child of children.splice(0)) child.kill("SIGKILL");
});

describe("process identity in the database container", () => {
  it("reads state and start time after the last ')' of the command name", () => {
    const tail = Array.from({ length: 19 }, (_, i) => String(i + 4)).join(" ");
    expect(parseProcStat(`7 (java) T ${tail} 123456 9 9`)).toEqual({ state: "T", startTicks: "22" });
    expect(parseProcStat(`7 (a) (b c)) S ${tail}`)).toEqual({ state: "S", startTicks: "22" });
    expect(parseProcStat("")).toBeUndefined();
    expect(parseProcStat("7 (java) S 1 2")).toBeUndefined();
  });

  it("signals the process only while it is the one that started then", async () => {
    const sleeping = await sleeper();
    expect((await signalProcess(executor, sleeping, "CONT")).exitCode).toBe(0);
    // The same pid with another start time: a later process under a reused pid. Left alone.
    const reused = { ...sleeping, startTicks: String(Number(sleeping.startTicks) + 1) };
    expect((await signalProcess(executor, reused, "TERM")).exitCode).toBe(1);
    expect(await state(sleeping.pid)).toMatch(/^[SR]$/);
    expect((await signalProcess(executor, sleeping, "TERM")).exitCode).toBe(0);
    await expect.poll(() => state(sleeping.pid).catch(() => "gone")).toMatch(/^(Z|gone)$/);
    expect((await signalProcess(executor, { pid: 2 ** 22 + 1, startTicks: "1" }, "TERM")).exitCode).toBe(1);
  });
});
