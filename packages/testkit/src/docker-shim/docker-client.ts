// TEST DOUBLE (a boundary we do not own): the `docker` executable the shim puts first on PATH. It sends
// its argv to the shim server of the test process and either prints the answer (ls, ps, start, stop,
// version) or, for `exec`, runs the command it is given with this process's stdin/stdout/stderr, so the
// caller's pipes (and their backpressure) reach the command directly, as through a real docker client.
// Run by `node` with type stripping: no relative imports, erasable syntax only.
import { spawn } from "node:child_process";
import { request } from "node:http";
import { constants } from "node:os";

interface ShimSpawnSpec {
  command: string;
  args: string[];
  env: Record<string, string>;
  cwd?: string;
  uid?: number;
  gid?: number;
}

interface Answer {
  id: number;
  exitCode?: number;
  stdout?: string;
  stderr?: string;
  spawn?: ShimSpawnSpec;
}

const socketPath = process.env.IHB_DOCKER_SHIM_SOCKET;

function post(path: string, body: unknown): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({
      socketPath,
      path,
      method: "POST",
      headers: { "content-type": "application/json" },
    });
    req.on("response", (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () => {
        try {
          resolve(JSON.parse(Buffer.concat(chunks).toString("utf8")) as Answer);
        } catch (error) {
          reject(error);
        }
      });
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(JSON.stringify(body));
  });
}

/** `-e NAME` takes its value from the docker client's environment, as Compose does. */
function envFromClient(args: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < args.length; i += 1) {
    const arg = args[i] as string;
    let spec: string | undefined;
    if (arg === "-e" || arg === "--env") spec = args[i + 1];
    else if (arg.startsWith("--env=")) spec = arg.slice("--env=".length);
    if (spec !== undefined && !spec.includes("=")) {
      const value = process.env[spec];
      if (value !== undefined) out[spec] = value;
    }
  }
  return out;
}

async function main(): Promise<number> {
  if (!socketPath) {
    process.stderr.write("docker (test double): IHB_DOCKER_SHIM_SOCKET is not set\n");
    return 125;
  }
  const args = process.argv.slice(2);
  const answer = await post("/invoke", { argv: args, clientEnv: envFromClient(args) });
  if (answer.stdout) process.stdout.write(answer.stdout);
  if (answer.stderr) process.stderr.write(answer.stderr);
  const spec = answer.spawn;
  if (!spec) return answer.exitCode ?? 125;
  const child = spawn(spec.command, spec.args, {
    env: spec.env,
    stdio: "inherit",
    ...(spec.cwd ? { cwd: spec.cwd } : {}),
    ...(spec.uid !== undefined ? { uid: spec.uid } : {}),
    ...(spec.gid !== undefined ? { gid: spec.gid } : {}),
  });
  const exitCode = await new Promise<number>((resolve) => {
    child.on("error", (error: NodeJS.ErrnoException) => {
      // Docker reports a command that cannot be started as 126 (not executable) or 127 (not found).
      process.stderr.write(`OCI runtime exec failed: ${spec.command}: ${error.code ?? error.message}\n`);
      resolve(error.code === "ENOENT" ? 127 : 126);
    });
    child.on("close", (code, signal) =>
      resolve(code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0)),
    );
  });
  // The exit code is returned to the caller either way; the shim's record of it only serves its own logs.
  await post("/exited", { id: answer.id, exitCode }).catch(() => undefined);
  return exitCode;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`docker (test double): ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 125;
  },
);
