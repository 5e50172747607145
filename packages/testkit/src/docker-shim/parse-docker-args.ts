/** A `docker` invocation the shim understands. */
export type DockerCommand =
  | { kind: "version"; format: "text" | "json" | "short" }
  | { kind: "ls"; all: boolean; format: "table" | "json" }
  | { kind: "ps"; project: string; all: boolean; format: "table" | "json"; services: string[] }
  | {
      kind: "exec";
      project: string;
      service: string;
      argv: string[];
      user: string | undefined;
      /** `-e NAME` (value from the docker client's environment) or `-e NAME=value`. */
      env: { name: string; value: string | undefined }[];
      workdir: string | undefined;
      index: number;
    }
  | { kind: "start" | "stop"; project: string; services: string[] };

/** An invocation real docker might accept but the shim does not model: exit 125, never a guess. */
export class ShimUsageError extends Error {
  override readonly name = "ShimUsageError";
}

function fail(message: string): never {
  throw new ShimUsageError(message);
}

/** Takes `--flag value` / `--flag=value` / `-f value`; undefined when `arg` is not that flag. */
function flagValue(args: string[], i: number, names: readonly string[]): [string, number] | undefined {
  const arg = args[i] as string;
  for (const name of names) {
    if (arg === name) {
      const value = args[i + 1];
      if (value === undefined) fail(`flag ${name} needs a value`);
      return [value, i + 2];
    }
    if (name.startsWith("--") && arg.startsWith(`${name}=`)) return [arg.slice(name.length + 1), i + 1];
  }
  return undefined;
}

/**
 * Parses `docker …` strictly: only the commands and flags the Compose environment uses (and a few
 * harmless ones) are accepted; everything else is a ShimUsageError, so a wrong invocation cannot pass
 * unnoticed.
 */
export function parseDockerArgs(args: readonly string[]): DockerCommand {
  const a = [...args];
  if (a[0] === "--version" || a[0] === "-v") {
    if (a.length > 1) fail(`unexpected arguments after ${a[0]}: ${a.slice(1).join(" ")}`);
    return { kind: "version", format: "text" };
  }
  if (a[0] === "version") {
    if (a.length > 1) fail(`docker version: unsupported arguments ${a.slice(1).join(" ")}`);
    return { kind: "version", format: "text" };
  }
  if (a[0] !== "compose") return fail(`unsupported docker command: ${a[0] ?? "(none)"}`);

  let project: string | undefined;
  let i = 1;
  while (i < a.length && (a[i] as string).startsWith("-")) {
    const p = flagValue(a, i, ["-p", "--project-name"]);
    if (!p) fail(`unsupported docker compose flag: ${a[i]}`);
    [project, i] = p;
  }
  const sub = a[i];
  const rest = a.slice(i + 1);
  const needProject = (): string =>
    project ?? fail(`docker compose ${sub}: the shim needs -p <project> (it reads no compose file)`);

  switch (sub) {
    case "version": {
      let format: "text" | "json" | "short" = "text";
      for (let j = 0; j < rest.length; ) {
        if (rest[j] === "--short") {
          format = "short";
          j += 1;
          continue;
        }
        const f = flagValue(rest, j, ["--format", "-f"]);
        if (f?.[0] !== "json") fail(`docker compose version: unsupported argument ${rest[j]}`);
        format = "json";
        j = f[1];
      }
      return { kind: "version", format };
    }
    case "ls": {
      let all = false;
      let format: "table" | "json" = "table";
      for (let j = 0; j < rest.length; ) {
        if (rest[j] === "-a" || rest[j] === "--all") {
          all = true;
          j += 1;
          continue;
        }
        const f = flagValue(rest, j, ["--format"]);
        if (!f || (f[0] !== "json" && f[0] !== "table"))
          fail(`docker compose ls: unsupported argument ${rest[j]}`);
        format = f[0] as "table" | "json";
        j = f[1];
      }
      if (project !== undefined) fail("docker compose ls does not take -p");
      return { kind: "ls", all, format };
    }
    case "ps": {
      let all = false;
      let format: "table" | "json" = "table";
      const services: string[] = [];
      for (let j = 0; j < rest.length; ) {
        const arg = rest[j] as string;
        if (arg === "-a" || arg === "--all") {
          all = true;
          j += 1;
          continue;
        }
        if (!arg.startsWith("-")) {
          services.push(arg);
          j += 1;
          continue;
        }
        const f = flagValue(rest, j, ["--format"]);
        if (!f || (f[0] !== "json" && f[0] !== "table"))
          fail(`docker compose ps: unsupported argument ${arg}`);
        format = f[0] as "table" | "json";
        j = f[1];
      }
      return { kind: "ps", project: needProject(), all, format, services };
    }
    case "start":
    case "stop": {
      const flag = rest.find((r) => r.startsWith("-"));
      if (flag) fail(`docker compose ${sub}: unsupported flag ${flag}`);
      if (rest.length === 0) fail(`docker compose ${sub}: the shim needs the services named explicitly`);
      return { kind: sub, project: needProject(), services: rest };
    }
    case "exec": {
      let tty = true;
      let user: string | undefined;
      let workdir: string | undefined;
      let index = 1;
      const env: { name: string; value: string | undefined }[] = [];
      let j = 0;
      while (j < rest.length && (rest[j] as string).startsWith("-")) {
        const arg = rest[j] as string;
        if (arg === "-T" || arg === "--no-tty" || arg === "--no-TTY") {
          tty = false;
          j += 1;
          continue;
        }
        const u = flagValue(rest, j, ["-u", "--user"]);
        if (u) {
          [user, j] = u;
          continue;
        }
        const e = flagValue(rest, j, ["-e", "--env"]);
        if (e) {
          const eq = e[0].indexOf("=");
          const name = eq < 0 ? e[0] : e[0].slice(0, eq);
          if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) fail(`docker compose exec: bad -e ${name}`);
          env.push({ name, value: eq < 0 ? undefined : e[0].slice(eq + 1) });
          j = e[1];
          continue;
        }
        const w = flagValue(rest, j, ["-w", "--workdir"]);
        if (w) {
          [workdir, j] = w;
          continue;
        }
        const x = flagValue(rest, j, ["--index"]);
        if (x) {
          index = Number(x[0]);
          if (!Number.isInteger(index) || index < 1) fail(`docker compose exec: bad --index ${x[0]}`);
          j = x[1];
          continue;
        }
        fail(`docker compose exec: unsupported flag ${arg}`);
      }
      if (tty) {
        fail("docker compose exec without -T would allocate a TTY when run from a terminal; pass -T");
      }
      const service = rest[j];
      const argv = rest.slice(j + 1);
      if (service === undefined || argv.length === 0) fail("docker compose exec needs SERVICE COMMAND");
      return {
        kind: "exec",
        project: needProject(),
        service,
        argv,
        user,
        env,
        workdir,
        index,
      };
    }
    default:
      return fail(`unsupported docker compose command: ${sub ?? "(none)"}`);
  }
}
