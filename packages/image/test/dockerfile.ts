// A small Dockerfile reader, enough for the image-content check: stages, global ARG defaults, and the
// final stage's COPY --from, ENV, USER, WORKDIR, LABEL and ENTRYPOINT. Not a general parser.

export interface Instruction {
  keyword: string;
  /** The instruction's text after the keyword, continuation lines joined. */
  args: string;
  line: number;
}

export interface Stage {
  /** The image reference as written (`${NODE_IMAGE}`) and with global ARG defaults substituted. */
  from: string;
  image: string;
  platform: string | undefined;
  name: string | undefined;
  instructions: Instruction[];
}

export interface CopyFrom {
  stage: string;
  chmod: number | undefined;
  sources: string[];
  destination: string;
  line: number;
}

export interface Dockerfile {
  globalArgs: Record<string, string>;
  stages: Stage[];
}

/** Splits a Dockerfile into instructions: comments dropped, `\` continuations joined. */
export function instructions(text: string): Instruction[] {
  const out: Instruction[] = [];
  let pending: { text: string; line: number } | undefined;
  text.split("\n").forEach((raw, i) => {
    const trimmed = raw.trim();
    if (trimmed.startsWith("#") || (trimmed === "" && !pending)) return;
    const continued = trimmed.endsWith("\\");
    const part = continued ? trimmed.slice(0, -1).trim() : trimmed;
    pending = pending ? { text: `${pending.text} ${part}`, line: pending.line } : { text: part, line: i + 1 };
    if (continued) return;
    const match = /^(\S+)\s*(.*)$/s.exec(pending.text);
    if (match) out.push({ keyword: match[1]!.toUpperCase(), args: match[2]!.trim(), line: pending.line });
    pending = undefined;
  });
  return out;
}

export function substitute(value: string, vars: Record<string, string>): string {
  return value.replace(/\$\{(\w+)\}|\$(\w+)/g, (whole, a: string | undefined, b: string | undefined) => {
    const name = (a ?? b)!;
    return name in vars ? vars[name]! : whole;
  });
}

export function parseDockerfile(text: string): Dockerfile {
  const globalArgs: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const ins of instructions(text)) {
    if (ins.keyword === "FROM") {
      const words = ins.args.split(/\s+/);
      const platform = words.find((w) => w.startsWith("--platform="))?.slice("--platform=".length);
      const rest = words.filter((w) => !w.startsWith("--"));
      const from = rest[0] ?? "";
      const name = rest[1]?.toUpperCase() === "AS" ? rest[2] : undefined;
      stages.push({ from, image: substitute(from, globalArgs), platform, name, instructions: [] });
    } else if (stages.length === 0) {
      if (ins.keyword === "ARG") {
        const [key, ...value] = ins.args.split("=");
        globalArgs[key!] = substitute(unquote(value.join("=")), globalArgs);
      }
    } else {
      stages.at(-1)!.instructions.push(ins);
    }
  }
  return { globalArgs, stages };
}

export function finalStage(file: Dockerfile): Stage {
  const stage = file.stages.at(-1);
  if (!stage) throw new Error("the Dockerfile has no FROM");
  return stage;
}

export function copyFromLines(stage: Stage): CopyFrom[] {
  return stage.instructions
    .filter((i) => i.keyword === "COPY" && /--from=/.test(i.args))
    .map((i) => {
      const words = i.args.split(/\s+/);
      const flags = words.filter((w) => w.startsWith("--"));
      const paths = words.filter((w) => !w.startsWith("--"));
      const flag = (name: string) => flags.find((f) => f.startsWith(`--${name}=`))?.slice(name.length + 3);
      const chmod = flag("chmod");
      if (paths.length < 2) throw new Error(`line ${i.line}: COPY needs a source and a destination`);
      return {
        stage: flag("from")!,
        chmod: chmod === undefined ? undefined : Number.parseInt(chmod, 8),
        sources: paths.slice(0, -1),
        destination: paths.at(-1)!,
        line: i.line,
      };
    });
}

/** `KEY=value KEY2="v 2"` pairs of ENV and LABEL instructions (the key=value form only). */
export function keyValues(stage: Stage, keyword: "ENV" | "LABEL", vars: Record<string, string> = {}) {
  const out: Record<string, string> = {};
  for (const ins of stage.instructions.filter((i) => i.keyword === keyword)) {
    for (const m of ins.args.matchAll(/([\w.-]+)=("(?:[^"\\]|\\.)*"|\S*)/g)) {
      out[m[1]!] = substitute(unquote(m[2]!), vars);
    }
  }
  return out;
}

export function lastArgs(stage: Stage, keyword: string): string | undefined {
  return stage.instructions.filter((i) => i.keyword === keyword).at(-1)?.args;
}

/** ARG defaults declared inside the stage (`ARG NAME=default`), for LABEL/ENV substitution. */
export function stageArgs(stage: Stage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const ins of stage.instructions.filter((i) => i.keyword === "ARG")) {
    const [key, ...value] = ins.args.split("=");
    if (value.length > 0) out[key!] = unquote(value.join("="));
  }
  return out;
}

function unquote(value: string): string {
  return /^".*"$/s.test(value) ? value.slice(1, -1).replace(/\\(.)/g, "$1") : value;
}
