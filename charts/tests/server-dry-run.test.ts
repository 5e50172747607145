// Every rendered scenario of the chart, applied to a real kube-apiserver (testkit's local cluster) with a
// server-side dry-run (`kubectl apply --server-side --dry-run=server`: admission and strict field
// validation run, nothing is stored) into a namespace that enforces the `restricted` Pod Security level.
import { basename } from "node:path";
import {
  KubeApiError,
  type KubeObject,
  type LocalCluster,
  startLocalCluster,
} from "@infrahub-backup/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ciValuesFiles, type K8sObject, parseObjects, renderRaw } from "./helm.ts";

const NS = "dry-run-restricted";
let cluster: LocalCluster;

/** The REST collection of each kind the chart renders. */
const COLLECTIONS: Record<string, string> = {
  "v1/ServiceAccount": "/api/v1/namespaces/{ns}/serviceaccounts",
  "v1/PersistentVolumeClaim": "/api/v1/namespaces/{ns}/persistentvolumeclaims",
  "v1/Pod": "/api/v1/namespaces/{ns}/pods",
  "v1/ConfigMap": "/api/v1/namespaces/{ns}/configmaps",
  "v1/Secret": "/api/v1/namespaces/{ns}/secrets",
  "rbac.authorization.k8s.io/v1/Role": "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/roles",
  "rbac.authorization.k8s.io/v1/RoleBinding":
    "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings",
  "batch/v1/Job": "/apis/batch/v1/namespaces/{ns}/jobs",
  "batch/v1/CronJob": "/apis/batch/v1/namespaces/{ns}/cronjobs",
  "networking.k8s.io/v1/NetworkPolicy": "/apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies",
};

function objectPath(obj: K8sObject): string {
  const collection = COLLECTIONS[`${obj.apiVersion}/${obj.kind}`];
  if (!collection)
    throw new Error(`no collection known for ${obj.apiVersion} ${obj.kind}: add it to COLLECTIONS`);
  return `${collection.replace("{ns}", NS)}/${obj.metadata.name}`;
}

/** Server-side apply with dryRun=All and strict field validation; resolves to the server's answer. */
async function dryRunApply(obj: K8sObject): Promise<KubeObject> {
  const query = "fieldManager=ihb-dry-run-test&force=true&dryRun=All&fieldValidation=Strict";
  return await cluster.client.json(
    "PATCH",
    `${objectPath(obj)}?${query}`,
    JSON.stringify(obj),
    "application/apply-patch+yaml",
  );
}

/** The message of the Status a rejected request answers with. */
function statusMessage(error: unknown): string {
  expect(error).toBeInstanceOf(KubeApiError);
  return (JSON.parse((error as KubeApiError).body) as { message: string }).message;
}

/** The pod template of a Job or CronJob. */
function podSpecOf(obj: K8sObject): K8sObject {
  return obj.kind === "CronJob" ? obj.spec.jobTemplate.spec.template : obj.spec.template;
}

function renderScenario(release: string, values: unknown, valuesFile?: string): K8sObject[] {
  const res = renderRaw(values, { release, namespace: NS, args: valuesFile ? ["-f", valuesFile] : [] });
  if (res.status !== 0) throw new Error(`helm template failed:\n${res.stderr}`);
  return parseObjects(res.stdout);
}

const s3 = { bucket: "infrahub-backups", endpoint: "http://minio:9000", secretName: "s3-credentials" };

/** The main modes, beyond the ci/ files. */
const MODES: Record<string, unknown> = {
  "backup-job-hook": { backup: { enabled: true, storage: { type: "s3", s3 } } },
  "backup-job-plain": { backup: { enabled: true, job: { helmHook: false }, storage: { type: "s3", s3 } } },
  "backup-cronjob-s3": {
    backup: { enabled: true, mode: "cronjob", storage: { type: "s3", s3 } },
    networkPolicy: { enabled: true },
  },
  "backup-local-emptydir": { backup: { enabled: true, storage: { type: "local" } } },
  "backup-local-existing-claim": {
    backup: {
      enabled: true,
      storage: { type: "local", local: { persistence: { enabled: true, existingClaim: "backups" } } },
    },
  },
  "restore-job-key": {
    restore: {
      enabled: true,
      storage: { type: "s3", s3: { ...s3, key: "p/infrahub_backup_20260101_000000.tar.gz" } },
    },
  },
  "restore-cronjob-latest": {
    restore: {
      enabled: true,
      mode: "cronjob",
      storage: { type: "s3", s3: { ...s3, prefix: "p", latest: true } },
    },
  },
  "restore-local-claim-latest": {
    restore: {
      enabled: true,
      storage: {
        type: "local",
        local: { latest: true, persistence: { enabled: true, existingClaim: "backups" } },
      },
    },
  },
  "restore-seed-plan-shape": { restore: { enabled: true, s3: { ...s3, latest: true } } },
};

const scenarios: { name: string; release: string; values: unknown; file?: string }[] = [
  ...ciValuesFiles().map((file, i) => ({
    name: `ci/${basename(file)}`,
    release: `ci-${i}`,
    values: {},
    file,
  })),
  ...Object.entries(MODES).map(([name, values], i) => ({ name, release: `mode-${i}`, values })),
];

beforeAll(async () => {
  cluster = await startLocalCluster();
  await cluster.createNamespace(NS, {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/enforce-version": "latest",
  });
}, 300_000);

afterAll(async () => {
  await cluster?.[Symbol.asyncDispose]();
}, 120_000);

describe("server-side dry-run of every rendered scenario into a restricted namespace", () => {
  it.each(scenarios)("$name is accepted", async ({ release, values, file }) => {
    const objects = renderScenario(release, values, file);
    expect(objects.some((o) => o.kind === "Job" || o.kind === "CronJob")).toBe(true);
    // A Pod (the helm test) is admitted only when its ServiceAccount exists: create those for real.
    for (const sa of objects.filter((o) => o.kind === "ServiceAccount")) {
      await cluster.client.json(
        "PATCH",
        `${objectPath(sa)}?fieldManager=ihb-dry-run-test&force=true`,
        JSON.stringify(sa),
        "application/apply-patch+yaml",
      );
    }
    // PodSecurity enforces on Pods only (on Jobs and CronJobs it merely warns): also dry-run the Pod each
    // Job/CronJob would create, as its controller would create it.
    const pods = objects
      .filter((o) => o.kind === "Job" || o.kind === "CronJob")
      .map((o) => ({
        apiVersion: "v1",
        kind: "Pod",
        metadata: {
          name: `${o.metadata.name}-pod`.slice(0, 63),
          namespace: NS,
          labels: podSpecOf(o).metadata?.labels,
        },
        spec: podSpecOf(o).spec,
      }));
    const rejected: string[] = [];
    for (const obj of [...objects, ...pods]) {
      try {
        const answer = await dryRunApply(obj);
        expect(answer.metadata?.name).toBe(obj.metadata.name);
      } catch (error) {
        rejected.push(`${obj.kind}/${obj.metadata.name}: ${(error as Error).message}`);
      }
    }
    expect(rejected).toEqual([]);
  });

  it("the namespace really enforces restricted: a privileged pod is rejected", async () => {
    const pod = {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "privileged", namespace: NS },
      spec: { containers: [{ name: "c", image: "busybox", securityContext: { privileged: true } }] },
    };
    const error = await dryRunApply(pod).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(KubeApiError);
    expect((error as KubeApiError).status).toBe(403);
    expect(statusMessage(error)).toMatch(/violates PodSecurity "restricted:latest": privileged/);
  });

  it("the chart's security defaults are what make its pods pass: without them the Job is rejected", async () => {
    const objects = renderScenario("no-security", {
      backup: { enabled: true, job: { helmHook: false }, storage: { type: "s3", s3 } },
      podSecurityContext: null,
      securityContext: null,
    });
    const job = objects.find((o) => o.kind === "Job") as K8sObject;
    expect(job.spec.template.spec.securityContext).toBeUndefined();
    // A Job is not a Pod: PodSecurity warns on workload objects and enforces on their pods. The pod the
    // Job controller would create is what enforcement sees; dry-run it as such.
    const pod = {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "job-pod", namespace: NS },
      spec: { ...job.spec.template.spec, serviceAccountName: "default" },
    };
    const error = await dryRunApply(pod).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((error as KubeApiError | undefined)?.status).toBe(403);
    expect(statusMessage(error)).toMatch(/violates PodSecurity "restricted:latest": .*runAsNonRoot != true/);
  });
});
