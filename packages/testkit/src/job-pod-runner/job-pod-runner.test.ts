// The job pod runner against the real local cluster (kube-apiserver, Job controller, kwok): a stand-in
// "image entrypoint" script shows what the container got (args, env, files, its API identity).
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalCluster, startLocalCluster } from "../kube/local-cluster.js";
import { type TempDir, tempDir } from "../temp.js";
import { type JobPodRunner, startJobPodRunner } from "./job-pod-runner.js";
import type { KubeObject } from "./kube-client.js";

const NS = "runner";
let cluster: LocalCluster;
let runner: JobPodRunner;
let work: TempDir;

// The "image": prints its view as one JSON line, writes a file if asked, asks the API server who it is
// (SelfSubjectReview) and whether it may list secrets, then exits with X_EXIT or sleeps with X_SLEEP.
const ENTRYPOINT = `
import { readFileSync, writeFileSync } from "node:fs";
import { request } from "node:https";
const env = (k) => process.env[k];
if (env("X_WRITE")) writeFileSync(env("X_WRITE"), "written by the pod");
let identity = null, canListSecrets = null;
if (env("KUBECONFIG")) {
  const kc = JSON.parse(readFileSync(env("KUBECONFIG"), "utf8"));
  const ca = Buffer.from(kc.clusters[0].cluster["certificate-authority-data"], "base64");
  const call = (method, path, body) => new Promise((resolve, reject) => {
    const req = request(new URL(path, kc.clusters[0].cluster.server), { method, ca, headers: {
      Authorization: "Bearer " + kc.users[0].user.token, "Content-Type": "application/json" } }, (res) => {
      let text = ""; res.on("data", (d) => (text += d)); res.on("end", () => resolve(JSON.parse(text)));
    });
    req.on("error", reject); req.end(JSON.stringify(body));
  });
  identity = (await call("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews",
    { apiVersion: "authentication.k8s.io/v1", kind: "SelfSubjectReview" })).status.userInfo.username;
  canListSecrets = (await call("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
    { apiVersion: "authorization.k8s.io/v1", kind: "SelfSubjectAccessReview",
      spec: { resourceAttributes: { namespace: env("X_NS"), verb: "list", resource: "secrets" } } })).status.allowed;
}
console.log(JSON.stringify({ args: process.argv.slice(2), cwd: process.cwd(), tmp: env("TMPDIR"),
  home: env("HOME"), ns: env("X_NS"), secret: env("X_SECRET"), fromEnvFrom: env("CM_KEY"), identity, canListSecrets }));
console.error("to stderr");
if (env("X_SLEEP")) await new Promise((r) => setTimeout(r, Number(env("X_SLEEP"))));
process.exit(Number(env("X_EXIT") ?? 0));
`;

function job(name: string, container: KubeObject, extra: KubeObject = {}): KubeObject {
  return {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: { name, namespace: NS },
    spec: {
      backoffLimit: 0,
      template: {
        spec: {
          restartPolicy: "Never",
          serviceAccountName: "worker",
          containers: [{ name: "main", image: "stand-in", ...container }],
          volumes: [
            { name: "tmp", emptyDir: {} },
            { name: "data", emptyDir: {} },
          ],
          ...extra,
        },
      },
    },
  };
}

const mounts = [
  { name: "tmp", mountPath: "/tmp" },
  { name: "data", mountPath: "/data" },
];

async function jobEnd(name: string): Promise<string> {
  for (let i = 0; i < 240; i++) {
    const j = await cluster.client.json("GET", `/apis/batch/v1/namespaces/${NS}/jobs/${name}`);
    const c = ((j.status?.conditions ?? []) as KubeObject[]).find(
      (x) => (x.type === "Complete" || x.type === "Failed") && x.status === "True",
    );
    if (c) return c.type;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`Job ${name} did not end`);
}

async function jobPod(name: string): Promise<KubeObject> {
  const list = await cluster.client.json(
    "GET",
    `/api/v1/namespaces/${NS}/pods?labelSelector=${encodeURIComponent(`batch.kubernetes.io/job-name=${name}`)}`,
  );
  return list.items[0] as KubeObject;
}

beforeAll(async () => {
  [cluster, work] = await Promise.all([startLocalCluster(), tempDir("ihb-runner-test-")]);
  const script = join(work.path, "entrypoint.mjs");
  await writeFile(script, ENTRYPOINT);
  runner = await startJobPodRunner({
    server: cluster.server,
    caFile: cluster.caFile,
    adminToken: cluster.adminToken,
    nodeName: cluster.nodeName,
    entrypoint: [process.execPath, script],
    workingDir: "/data",
    imageEnv: { HOME: "/home/app" },
    configRetrySeconds: 1,
    // Another image a pod runs beside the main one (as the drill pod's databases).
    images: { "registry.example/side": { env: { SIDE_VAR: "from the side image" } } },
  });
  await cluster.createNamespace(NS);
  await cluster.apply([
    { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "worker", namespace: NS } },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "Role",
      metadata: { name: "pods-only", namespace: NS },
      rules: [{ apiGroups: [""], resources: ["pods"], verbs: ["get", "list"] }],
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: { name: "worker", namespace: NS },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "pods-only" },
      subjects: [{ kind: "ServiceAccount", name: "worker", namespace: NS }],
    },
    {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "creds", namespace: NS },
      stringData: { key: "s3cr3t" },
    },
    {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "cm", namespace: NS },
      data: { CM_KEY: "from-cm" },
    },
  ]);
}, 300_000);

afterAll(async () => {
  await runner?.stop();
  await cluster?.[Symbol.asyncDispose]();
  await work?.[Symbol.asyncDispose]();
}, 120_000);

describe("job pod runner (TEST DOUBLE kubelet) on the local cluster", () => {
  it("runs the entrypoint with the pod's args, env refs, mounts and ServiceAccount; the Job completes; kubectl logs shows the output", async () => {
    await cluster.apply(
      job("ok", {
        args: ["create", "--backup-dir=/data/out", "$(X_NS)"],
        env: [
          { name: "X_NS", valueFrom: { fieldRef: { fieldPath: "metadata.namespace" } } },
          { name: "X_SECRET", valueFrom: { secretKeyRef: { name: "creds", key: "key" } } },
          { name: "X_WRITE", value: "/data/out.txt" },
        ],
        envFrom: [{ configMapRef: { name: "cm" } }],
        volumeMounts: mounts,
      }),
    );
    expect(await jobEnd("ok")).toBe("Complete");
    const pod = await jobPod("ok");
    expect(pod.status.phase).toBe("Succeeded");
    expect(pod.status.containerStatuses[0].state.terminated.exitCode).toBe(0);
    const run = await runner.waitForRun((r) => r.pod === pod.metadata.name, 1000);
    const view = JSON.parse(run.logs().split("\n")[0] as string);
    const data = run.mounts.resolve("/data");
    expect(view.args).toEqual(["create", `--backup-dir=${data}/out`, NS]);
    expect(view.cwd).toBe(data);
    expect(view.tmp).toBe(run.mounts.resolve("/tmp"));
    expect(view.home).toBe(join(run.mounts.rootDir, "home/app"));
    expect(view.secret).toBe("s3cr3t");
    expect(view.fromEnvFrom).toBe("from-cm");
    // The pod's own ServiceAccount, with exactly its Role's rights.
    expect(view.identity).toBe(`system:serviceaccount:${NS}:worker`);
    expect(view.canListSecrets).toBe(false);
    expect(await readFile(join(data, "out.txt"), "utf8")).toBe("written by the pod");
    // Through the API server and kwok, as `kubectl logs` reads it.
    const logs = await cluster.kubectl(["logs", "-n", NS, "job/ok"]);
    expect(logs.stdout).toContain('"identity":"system:serviceaccount:runner:worker"');
    expect(logs.stdout).toContain("to stderr");
    expect(run.envNames).not.toContain("X_SECRET_VALUE");
  });

  it("a pod of several containers: another image's command runs beside the entrypoint, both see the same emptyDir", async () => {
    await cluster.apply(
      job(
        "pair",
        // The containers are the pod's own here.
        {},
        {
          containers: [
            {
              name: "main",
              image: "stand-in",
              env: [{ name: "X_WRITE", value: "/data/main.txt" }],
              volumeMounts: mounts,
            },
            {
              name: "side",
              image: "registry.example/side:1.0",
              command: ["sh", "-c", 'echo "$SIDE_VAR" > "$1/side.txt"', "sh", "/data"],
              volumeMounts: [{ name: "data", mountPath: "/data" }],
            },
          ],
        },
      ),
    );
    expect(await jobEnd("pair")).toBe("Complete");
    const pod = await jobPod("pair");
    expect(
      pod.status.containerStatuses.map((c: KubeObject) => [c.name, c.state.terminated.exitCode]),
    ).toEqual([
      ["main", 0],
      ["side", 0],
    ]);
    const main = await runner.waitForRun((r) => r.pod === pod.metadata.name && r.container === "main", 1000);
    const side = await runner.waitForRun((r) => r.pod === pod.metadata.name && r.container === "side", 1000);
    const data = main.mounts.resolve("/data");
    expect(side.mounts.resolve("/data")).toBe(data);
    expect(await readFile(join(data, "main.txt"), "utf8")).toBe("written by the pod");
    expect(await readFile(join(data, "side.txt"), "utf8")).toBe("from the side image\n");
  });

  it("a non-zero exit fails the pod with that exit code and the Job with it (backoffLimit 0)", async () => {
    await cluster.apply(job("fails", { env: [{ name: "X_EXIT", value: "7" }], volumeMounts: mounts }));
    expect(await jobEnd("fails")).toBe("Failed");
    const pod = await jobPod("fails");
    expect(pod.status.phase).toBe("Failed");
    expect(pod.status.containerStatuses[0].state.terminated).toMatchObject({ exitCode: 7, reason: "Error" });
  });

  it("a missing Secret key keeps the container waiting (CreateContainerConfigError) until it exists", async () => {
    await cluster.apply(
      job("waits", {
        env: [{ name: "X_SECRET", valueFrom: { secretKeyRef: { name: "later", key: "key" } } }],
        volumeMounts: mounts,
      }),
    );
    let waiting: KubeObject | undefined;
    for (let i = 0; i < 60 && !waiting; i++) {
      await new Promise((r) => setTimeout(r, 250));
      waiting = (await jobPod("waits"))?.status?.containerStatuses?.[0]?.state?.waiting;
    }
    expect(waiting).toMatchObject({
      reason: "CreateContainerConfigError",
      message: 'secret "later" not found',
    });
    await cluster.apply({
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "later", namespace: NS },
      stringData: { key: "arrived" },
    });
    expect(await jobEnd("waits")).toBe("Complete");
  });

  it("deleting the Job stops its running process", async () => {
    await cluster.apply(job("sleeps", { env: [{ name: "X_SLEEP", value: "600000" }], volumeMounts: mounts }));
    const run = await runner.waitForRun((r) => r.pod.startsWith("sleeps-"), 60_000);
    await cluster.kubectl(["delete", "job", "-n", NS, "sleeps", "--cascade=background", "--wait=false"]);
    const ended = await Promise.race([run.done, new Promise((r) => setTimeout(() => r(undefined), 60_000))]);
    expect(ended, "the process was not stopped").toBeDefined();
    expect(run.exitCode).toBe(128 + 15);
  });
});
