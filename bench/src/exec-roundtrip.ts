// `pnpm bench:exec-roundtrip`: the product's Kubernetes exec transport (core's KubernetesExecutor, WebSocket
// v5.channel.k8s.io) on a real kubelet (a kind cluster) against kwok's exec (the testkit's local cluster), in
// one run, interleaved; plus what each does with a command that reads its stdin to EOF. See ../README.md,
// "Exec round trip".
import { createHash, randomBytes } from "node:crypto";
import { loadavg } from "node:os";
import { join } from "node:path";
import { Readable, Writable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { createContainerSandbox, startLocalCluster } from "@infrahub-backup/testkit";
import { KindCluster, kindClusterName } from "../../e2e/kind/kind-cluster.js";
import { loadKubeConfig } from "../../packages/core/src/environment/kubernetes-config.js";
// The exec transport itself, not a public API of core: what every dump and load byte of the product uses.
import { KubernetesExecutor } from "../../packages/core/src/exec/kube-executor.js";
import { formatBytes, median, parseSize } from "./report.js";
import { disposeAll, stoppedOnSignal } from "./setup.js";

const HELP = `pnpm bench:exec-roundtrip [--size 1GiB] [--rounds 2] [--probe-timeout-s 20]

Starts a kind cluster (the node image built here) and the testkit's local cluster (kube-apiserver + kwok),
one idle pod in each (ihb-local/infrahub-test-double:local on kind; a sandbox on kwok), and through core's
KubernetesExecutor, interleaved --rounds times on each: IN, --size bytes on stdin into \`head -c N |
sha256sum\` (digest compared with the local one); OUT, \`head -c N /dev/zero\` streamed back with the
executor's in-pod byte count + SHA-256 check. Prints wall time and MiB/s per transfer, the medians and the
kind/kwok ratios. Then the stdin probes: a command reading its stdin to EOF (no byte count), the same with
the byte count, and a stream cut mid-way (what the command saw).`;

const NAMESPACE = "exec-roundtrip";
const POD = "exec-rt";
const CONTAINER = "main";
const IMAGE = "ihb-local/infrahub-test-double:local";
const BLOCK = 4 << 20;

type Tier = "kind" | "kwok";

interface Target {
  tier: Tier;
  executor: KubernetesExecutor;
  /** A writable scratch directory as the command sees it. */
  scratch: string;
}

const running = stoppedOnSignal();
const log = (msg: string) =>
  console.error(`[bench:exec-roundtrip ${new Date().toISOString().slice(11, 19)}] ${msg}`);
const mibPerS = (bytes: number, ms: number) => bytes / 1024 / 1024 / (ms / 1000);

/** `size` bytes: one random block repeated (nothing on the path compresses), and their SHA-256. */
function payload(size: number): { chunks: () => AsyncGenerator<Buffer>; sha256: string } {
  const block = randomBytes(BLOCK);
  const hash = createHash("sha256");
  for (let left = size; left > 0; left -= BLOCK) hash.update(left >= BLOCK ? block : block.subarray(0, left));
  return {
    sha256: hash.digest("hex"),
    async *chunks() {
      for (let left = size; left > 0; left -= BLOCK) yield left >= BLOCK ? block : block.subarray(0, left);
    },
  };
}

/** Counts what arrives and drops it. */
function countingSink(): Writable & { bytes: number } {
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      sink.bytes += chunk.length;
      done();
    },
  }) as Writable & { bytes: number };
  sink.bytes = 0;
  return sink;
}

function podObject(labels: Record<string, string>): Record<string, unknown> {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: POD, namespace: NAMESPACE, labels },
    spec: {
      terminationGracePeriodSeconds: 1,
      containers: [{ name: CONTAINER, image: IMAGE, imagePullPolicy: "Never" }],
    },
  };
}

async function startKind(): Promise<Target> {
  const started = Date.now();
  const cluster = await KindCluster.start(kindClusterName("exec-rt"));
  running.add(cluster);
  await cluster.loadImages([IMAGE]);
  await cluster.apply([
    { apiVersion: "v1", kind: "Namespace", metadata: { name: NAMESPACE } },
    podObject({ app: POD }),
  ]);
  await cluster.kubectl(["-n", NAMESPACE, "wait", "--for=condition=Ready", `pod/${POD}`, "--timeout=300s"], {
    timeoutMs: 320_000,
  });
  log(`kind: cluster ${cluster.name} and its pod ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const kubeConfig = loadKubeConfig({ kubeconfig: cluster.kubeconfig });
  return {
    tier: "kind",
    executor: new KubernetesExecutor({ kubeConfig, namespace: NAMESPACE, pod: POD, container: CONTAINER }),
    scratch: "/tmp",
  };
}

async function startKwok(): Promise<Target> {
  const started = Date.now();
  const cluster = await startLocalCluster();
  running.add(cluster);
  const sandbox = await createContainerSandbox({ name: "exec-rt.main", env: {} });
  running.add(sandbox);
  await cluster.createNamespace(NAMESPACE);
  await cluster.bindSandboxes({
    namespace: NAMESPACE,
    selector: { app: POD },
    containers: { [CONTAINER]: sandbox },
  });
  await cluster.apply([podObject({ app: POD })]);
  await cluster.waitForReady(NAMESPACE);
  log(`kwok: local cluster and its pod ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const kubeConfig = loadKubeConfig({ kubeconfig: cluster.adminKubeconfig });
  return {
    tier: "kwok",
    executor: new KubernetesExecutor({ kubeConfig, namespace: NAMESPACE, pod: POD, container: CONTAINER }),
    scratch: sandbox.dir,
  };
}

/** IN: stdin → `head -c N | sha256sum` in the pod (byte-counted, as the product sends input). */
async function transferIn(target: Target, size: number, data: ReturnType<typeof payload>): Promise<number> {
  const started = performance.now();
  const result = await target.executor.exec({
    argv: ["sh", "-c", 'head -c "$N" | sha256sum'],
    env: { N: String(size) },
    stdin: data.chunks(),
    timeoutMs: 1_800_000,
  });
  const ms = performance.now() - started;
  const digest = result.stdout.toString("utf8").split(/\s/)[0];
  if (result.exitCode !== 0 || digest !== data.sha256) {
    throw new Error(`${target.tier} IN: exit ${result.exitCode}, digest ${digest} (sent ${data.sha256})`);
  }
  return ms;
}

/** OUT: `head -c N /dev/zero` → this process; the executor checks the in-pod byte count + SHA-256. */
async function transferOut(target: Target, size: number): Promise<number> {
  const sink = countingSink();
  const started = performance.now();
  const result = await target.executor.exec({
    argv: ["head", "-c", String(size), "/dev/zero"],
    stdout: sink,
    timeoutMs: 1_800_000,
  });
  const ms = performance.now() - started;
  if (result.exitCode !== 0 || result.stdoutBytes !== size || sink.bytes !== size) {
    throw new Error(`${target.tier} OUT: exit ${result.exitCode}, ${result.stdoutBytes} bytes of ${size}`);
  }
  return ms;
}

/** Runs one probe; a failure (a timeout above all) is its outcome, not an error of the bench. */
async function probe(what: () => Promise<string>): Promise<string> {
  const started = performance.now();
  try {
    const out = await what();
    return `${out} (${((performance.now() - started) / 1000).toFixed(1)} s)`;
  } catch (error) {
    const code = (error as { code?: string }).code ?? "error";
    return `${code}: ${(error as Error).message.slice(0, 160)} (${((performance.now() - started) / 1000).toFixed(1)} s)`;
  }
}

/** What a command reading stdin to EOF gets: the v5 close frame turned into EOF, or nothing. */
async function stdinProbes(target: Target, timeoutMs: number): Promise<string[]> {
  const { executor, scratch } = target;
  const input = Buffer.alloc(1 << 20, 0x61);
  const lines: string[] = [];
  lines.push(
    `${target.tier} | cat to EOF, no byte count | ${await probe(async () => {
      const r = await executor.exec({
        argv: ["sh", "-c", 'n=$(cat | wc -c); echo "done $n"'],
        stdin: Readable.from([input]),
        timeoutMs,
      });
      return `exit ${r.exitCode}, stdout "${r.stdout.toString("utf8").trim()}"`;
    })}`,
  );
  lines.push(
    `${target.tier} | head -c N, byte-counted | ${await probe(async () => {
      const r = await executor.exec({
        argv: ["sh", "-c", 'n=$(head -c "$N" | wc -c); echo "done $n"'],
        env: { N: String(input.length) },
        stdin: Readable.from([input]),
        timeoutMs,
      });
      return `exit ${r.exitCode}, stdout "${r.stdout.toString("utf8").trim()}"`;
    })}`,
  );
  // A stream cut after 8 MiB of 64 MiB (the client's connection dropped): does the command see EOF and go on?
  const cuts: [string, string][] = [
    ["cat to EOF", 'cat > "$F"; echo "rc=$?" > "$F.done"'],
    ["head -c N, byte-counted", 'head -c "$N" > "$F"; echo "rc=$?" > "$F.done"'],
  ];
  for (const [what, script] of cuts) {
    const file = join(scratch, `ihb-exec-cut-${process.pid}`);
    const client = await probe(async () => {
      async function* eightThenFail() {
        yield Buffer.alloc(8 << 20, 0x62);
        await sleep(2_000);
        throw new Error("the bench cut the input stream");
      }
      await executor.exec({
        argv: ["sh", "-c", script],
        env: { F: file, N: String(64 << 20) },
        stdin: eightThenFail(),
        timeoutMs,
      });
      return "completed";
    });
    await sleep(3_000);
    const after = await executor.exec({
      argv: [
        "sh",
        "-c",
        'echo "file $(wc -c < "$F") bytes,"; cat "$F.done" 2>/dev/null || echo "no done marker (still reading)"; rm -f "$F" "$F.done"',
      ],
      env: { F: file },
      timeoutMs: 60_000,
    });
    const seen = after.stdout.toString("utf8").trim().replace(/\n/g, " ");
    lines.push(
      `${target.tier} | ${what}, stream cut after 8 of 64 MiB | client: ${client}; 3 s later: ${seen}`,
    );
  }
  return lines;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      size: { type: "string", default: "1GiB" },
      rounds: { type: "string", default: "2" },
      "probe-timeout-s": { type: "string", default: "20" },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  const size = parseSize(values.size);
  const rounds = Number(values.rounds);
  const started = new Date();
  try {
    const kind = await startKind();
    const kwok = await startKwok();
    const data = payload(size);
    const loadBefore = loadavg();
    const times: Record<string, number[]> = {};
    const lines: string[] = [];
    for (let round = 1; round <= rounds; round++) {
      const order = round % 2 === 1 ? [kind, kwok] : [kwok, kind];
      for (const target of order) {
        for (const direction of round % 2 === 1 ? ["in", "out"] : ["out", "in"]) {
          const ms =
            direction === "in" ? await transferIn(target, size, data) : await transferOut(target, size);
          const key = `${target.tier} ${direction}`;
          times[key] = [...(times[key] ?? []), ms];
          lines.push(
            `${round} | ${key} | ${(ms / 1000).toFixed(1)} | ${mibPerS(size, ms).toFixed(1)} | checked`,
          );
          log(lines.at(-1) ?? "");
        }
      }
    }
    const loadAfter = loadavg();
    const probeTimeoutMs = Number(values["probe-timeout-s"]) * 1000;
    const probes = [
      ...(await stdinProbes(kind, probeTimeoutMs)),
      ...(await stdinProbes(kwok, probeTimeoutMs)),
    ];
    const med = (key: string) => median(times[key] ?? []);
    console.log(
      [
        `exec round trip, ${formatBytes(size)} each way, ${rounds} rounds interleaved, started ${started.toISOString()}`,
        `load average before ${loadBefore.map((l) => l.toFixed(2)).join(" ")}, after ${loadAfter.map((l) => l.toFixed(2)).join(" ")}`,
        "round | tier direction | wall s | MiB/s | check",
        ...lines,
        "median | tier direction | wall s | MiB/s",
        ...Object.keys(times).map(
          (key) =>
            `median | ${key} | ${(med(key) / 1000).toFixed(1)} | ${mibPerS(size, med(key)).toFixed(1)}`,
        ),
        `ratio kind/kwok wall: in ${(med("kind in") / med("kwok in")).toFixed(2)}, out ${(med("kind out") / med("kwok out")).toFixed(2)}`,
        "stdin probes: tier | command | outcome",
        ...probes,
      ].join("\n"),
    );
  } finally {
    await disposeAll(running, log);
  }
}

await main();
