import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { containerNotRunning } from "../src/exec/executor.js";
import {
  execPath,
  exitCodeFromStatus,
  planExec,
  TRAILER_MARK,
  takeTrailer,
} from "../src/exec/kube-exec-protocol.js";

// Real shells run the scripts the transport sends, as a container's /bin/sh would.
const SHELLS = ["/bin/dash", "/bin/bash", "/bin/busybox"].filter((s) => existsSync(s));

/** Node gives a child a socket as stdout; `viaPipe` gives it a real pipe, as kwok and runtimes do. */
function runPlan(shell: string, plan: ReturnType<typeof planExec>, input: Buffer, viaPipe = false) {
  const argv = plan.argv[0] === "sh" ? [shell, ...plan.argv.slice(1)] : plan.argv;
  if (shell.endsWith("busybox") && plan.argv[0] === "sh") argv.splice(1, 0, "sh");
  // bash reads ~/.bashrc when stdin is a socket (its remote-shell heuristic) unless told not to.
  if (shell.endsWith("bash") && plan.argv[0] === "sh") argv.splice(1, 0, "--norc");
  const [command, ...args] = viaPipe
    ? ["/bin/bash", "--norc", "-o", "pipefail", "-c", '"$@" | cat', "run", ...argv]
    : argv;
  return spawnSync(command as string, args, {
    input: Buffer.concat([plan.preamble ?? Buffer.alloc(0), input]),
    env: { PATH: process.env.PATH },
  });
}

describe("exit status from the status frame", () => {
  it("reads Success as 0", () => {
    expect(exitCodeFromStatus({ metadata: {}, status: "Success" } as never, "t")).toBe(0);
  });

  it("reads a real kubelet's NonZeroExitCode frame (recorded)", () => {
    const recorded =
      '{"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code: error executing command [sh -c exit 3], exit code 3","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"3"}]}}';
    expect(exitCodeFromStatus(JSON.parse(recorded), "t")).toBe(3);
  });

  it("reads kwok's InternalError wrapping 'exit status N'", () => {
    const kwok = {
      status: "Failure",
      reason: "InternalError",
      message: "Internal error occurred: error executing command in container: cmd wait: exit status 42",
    };
    expect(exitCodeFromStatus(kwok, "t")).toBe(42);
  });

  it("treats any other failure as a command that could not run", () => {
    const notFound = {
      status: "Failure",
      reason: "InternalError",
      message: 'exec: "nope": executable file not found in $PATH',
    };
    expect(() => exitCodeFromStatus(notFound, "pod x")).toThrow(
      expect.objectContaining({ code: "EXEC_FAILED", message: expect.stringContaining("nope") }),
    );
    expect(containerNotRunning(thrownBy(() => exitCodeFromStatus(notFound, "pod x")))).toBe(false);
  });

  it("says when the container was not running (recorded on kind: the Neo4j JVM, its main process, had exited)", () => {
    const recorded = {
      status: "Failure",
      reason: "InternalError",
      message:
        "Internal error occurred: Internal error occurred: error executing command in container: failed to exec in container: failed to load task: no running task found: not found",
    };
    const error = thrownBy(() => exitCodeFromStatus(recorded, "pod infrahub/infrahub-database-0 (neo4j)"));
    expect(error).toMatchObject({ code: "EXEC_FAILED" });
    expect(containerNotRunning(error)).toBe(true);
  });

  it.each([
    'Internal error occurred: Internal error occurred: error executing command in container: failed to exec in container: failed to create exec "e373c73387cc84ba08a2e10834c2d3953c56efe5845128a7a8158d4740769351": ttrpc: closed',
    "Internal error occurred: Internal error occurred: error executing command in container: failed to exec in container: container is in CONTAINER_EXITED state",
    // The kubelet restarting the container at once (back-off capped at 1 s): the new one not created yet.
    'Internal error occurred: Internal error occurred: error executing command in container: failed to exec in container: failed to create exec "d327a9b7096c292d4839fc19acbed3856a16f42bac95d210f78541b845414f11": container not created: not found',
  ])("says the container was not running for an exec racing its end (recorded on kind): %s", (message) => {
    const error = thrownBy(() =>
      exitCodeFromStatus({ status: "Failure", reason: "InternalError", message }, "pod x"),
    );
    expect(containerNotRunning(error)).toBe(true);
  });
});

function thrownBy(f: () => unknown): unknown {
  try {
    f();
  } catch (error) {
    return error;
  }
  throw new Error("expected a throw");
}

describe("exec request plan", () => {
  it("sends argv unchanged when there is nothing to add", () => {
    expect(planExec({ argv: ["cat", "/x"], countStdout: false })).toEqual({
      argv: ["cat", "/x"],
      preamble: undefined,
      counted: false,
    });
  });

  it("puts the container name and every argv word in the exec URL", () => {
    const url = execPath("infrahub", "infrahub-database-0", "neo4j", ["sh", "-c", "a && b"]);
    expect(url).toBe(
      "/api/v1/namespaces/infrahub/pods/infrahub-database-0/exec?command=sh&command=-c&command=a+%26%26+b&container=neo4j&stdin=true&stdout=true&stderr=true",
    );
  });

  it("never puts an env value on argv", () => {
    const secret = "s3cr3t-'\"$(reboot)";
    const plan = planExec({ argv: ["pg_dump"], env: { PGPASSWORD: secret }, countStdout: true });
    expect(plan.argv.join(" ")).not.toContain("s3cr3t");
    expect(plan.argv.join(" ")).not.toContain("PGPASSWORD");
  });

  it("maps user to su - <user> -s /bin/sh -c as upstream", () => {
    const plan = planExec({ argv: ["neo4j-admin", "database", "load"], user: "neo4j", countStdout: false });
    expect(plan.argv.slice(0, 6)).toEqual(["su", "-", "neo4j", "-s", "/bin/sh", "-c"]);
    expect(plan.argv[6]).toBe("exec 'neo4j-admin' 'database' 'load'");
  });

  for (const shell of SHELLS) {
    it(`${shell}: env arrives exactly (newlines, quotes, %, leading -, UTF-8) and stdin after it is untouched`, () => {
      const env = { A: "-x%s\n'q\"\\ é\n", B: "plain", C: "" };
      const plan = planExec({
        argv: ["sh", "-c", 'printf "%s|%s|%s|" "$A" "$B" "$C"; head -c 10'],
        env,
        countStdout: false,
      });
      const r = runPlan(shell, plan, Buffer.from("HELLOWORLD and more"));
      expect(r.stdout.toString("utf8")).toBe(`${env.A}|plain||HELLOWORLD`);
      expect(r.status).toBe(0);
    });

    for (const viaPipe of [false, true]) {
      it(`${shell}: the counted wrapper passes stdout through a ${viaPipe ? "pipe" : "socket"}, reports its digest, keeps the exit status`, () => {
        const plan = planExec({
          argv: ["sh", "-c", "head -c 100000 /dev/urandom; echo oops >&2; exit 7"],
          countStdout: true,
        });
        const r = runPlan(shell, plan, Buffer.alloc(0), viaPipe);
        expect(r.status).toBe(7);
        expect(r.stdout.length).toBe(100000);
        const { stderr, trailer } = takeTrailer(r.stderr.toString("utf8"));
        expect(stderr).toBe("oops\n");
        expect(trailer).toEqual({ exitCode: 7, sha256: createHash("sha256").update(r.stdout).digest("hex") });
      });
    }
  }

  it.skipIf(process.getuid?.() !== 0)(
    "the counted wrapper works for a non-root user whose stdout pipe belongs to root (it cannot reopen it)",
    () => {
      const plan = planExec({ argv: ["head", "-c", "50000", "/dev/zero"], countStdout: true });
      // Root creates the pipe (as a container runtime does); the command runs as nobody (uid 65534).
      const r = spawnSync(
        "/bin/bash",
        [
          "--norc",
          "-o",
          "pipefail",
          "-c",
          '"$@" | cat',
          "run",
          "setpriv",
          "--reuid=65534",
          "--regid=65534",
          "--clear-groups",
          "/bin/sh",
          ...plan.argv.slice(1),
        ],
        { env: { PATH: process.env.PATH } },
      );
      expect(r.stderr.toString()).not.toContain("Permission denied");
      expect(r.stdout.length).toBe(50000);
      expect(takeTrailer(r.stderr.toString("utf8")).trailer).toEqual({
        exitCode: 0,
        sha256: createHash("sha256").update(r.stdout).digest("hex"),
      });
    },
  );

  it("splits the trailer line off stderr; stderr without one has no trailer", () => {
    expect(takeTrailer(`warning\n\n${TRAILER_MARK} rc=2 12345\n`)).toEqual({
      stderr: "warning\n",
      trailer: { exitCode: 2, bytes: 12345 },
    });
    expect(takeTrailer("plain error\n")).toEqual({ stderr: "plain error\n", trailer: undefined });
  });

  it.each([
    ["openssl alone", ["openssl", "cut"]],
    ["sha256sum where openssl is missing", ["sha256sum"]],
    ["a byte count where the container has neither", []],
  ])("hashes with %s", (_what, hashers) => {
    // A PATH with the tools of a minimal image and only the given hashers.
    const bin = mkdtempSync(join(tmpdir(), "hashers-"));
    for (const tool of ["tee", "wc", "printf", "echo", "head", "cat", "mktemp", "mkfifo", "rm", ...hashers]) {
      const found = spawnSync("sh", ["-c", `command -v ${tool}`])
        .stdout.toString()
        .trim();
      if (found.startsWith("/")) symlinkSync(found, join(bin, tool));
    }
    const plan = planExec({ argv: ["head", "-c", "12345", "/dev/zero"], countStdout: true });
    const r = spawnSync("/bin/sh", plan.argv.slice(1), { env: { PATH: bin } });
    rmSync(bin, { recursive: true });
    expect(r.stdout.length).toBe(12345);
    expect(takeTrailer(r.stderr.toString("utf8")).trailer).toEqual(
      hashers.length > 0
        ? { exitCode: 0, sha256: createHash("sha256").update(Buffer.alloc(12345)).digest("hex") }
        : { exitCode: 0, bytes: 12345 },
    );
  });
});
