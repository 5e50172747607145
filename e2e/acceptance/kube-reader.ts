import { setTimeout as sleep } from "node:timers/promises";
import type { KubeClient, KubeObject } from "@infrahub-backup/testkit";
import type { ClusterEvent, JobOutcome, Workload } from "./driver.js";

function condition(job: KubeObject, type: string): KubeObject | undefined {
  return ((job.status?.conditions ?? []) as KubeObject[]).find((c) => c.type === type && c.status === "True");
}

/** What the scenarios read from the cluster (Jobs, pods, logs, events, workloads): GETs only, as `kubectl get/logs`. */
export class KubeReader {
  constructor(
    readonly client: KubeClient,
    readonly namespace: string,
  ) {}

  async #get(path: string): Promise<KubeObject | undefined> {
    return await this.client.get(path);
  }

  async #text(path: string): Promise<string> {
    return await this.client.text("GET", path);
  }

  async jobs(release: string): Promise<{ name: string; uid: string; active: number; created: Date }[]> {
    const selector = encodeURIComponent(`app.kubernetes.io/instance=${release}`);
    const list = await this.#get(
      `/apis/batch/v1/namespaces/${this.namespace}/jobs?labelSelector=${selector}`,
    );
    return ((list?.items ?? []) as KubeObject[])
      .map((j) => ({
        name: j.metadata.name as string,
        uid: j.metadata.uid as string,
        active: (j.status?.active as number | undefined) ?? 0,
        created: new Date(j.metadata.creationTimestamp),
      }))
      .sort((a, b) => a.created.getTime() - b.created.getTime() || a.name.localeCompare(b.name));
  }

  async waitForJob(release: string, timeoutMs: number): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const jobs = await this.jobs(release);
      const newest = jobs.at(-1);
      if (newest) return newest.name;
      if (Date.now() > deadline) throw new Error(`no Job of release ${release} after ${timeoutMs} ms`);
      await sleep(500);
    }
  }

  async waitForJobEnd(name: string, timeoutMs: number): Promise<JobOutcome> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const job = await this.#get(`/apis/batch/v1/namespaces/${this.namespace}/jobs/${name}`);
      if (!job) throw new Error(`Job ${name} does not exist`);
      const done = condition(job, "Complete") ?? condition(job, "Failed");
      if (done) {
        return {
          name,
          condition: done.type,
          finishedAt: new Date(done.lastTransitionTime),
          exitCode: await this.#exitCode(name),
          reason: done.reason,
          failedPods: (job.status?.failed as number | undefined) ?? 0,
        };
      }
      if (Date.now() > deadline) throw new Error(`Job ${name} did not end within ${timeoutMs} ms`);
      await sleep(500);
    }
  }

  async #pods(job: string): Promise<KubeObject[]> {
    const selector = encodeURIComponent(`batch.kubernetes.io/job-name=${job}`);
    const list = await this.#get(`/api/v1/namespaces/${this.namespace}/pods?labelSelector=${selector}`);
    return ((list?.items ?? []) as KubeObject[]).sort(
      (a, b) => Date.parse(a.metadata.creationTimestamp) - Date.parse(b.metadata.creationTimestamp),
    );
  }

  /** The Job's newest pod. */
  async pod(job: string): Promise<KubeObject | undefined> {
    return (await this.#pods(job)).at(-1);
  }

  async #exitCode(job: string): Promise<number | undefined> {
    const pod = await this.pod(job);
    const status = (pod?.status?.containerStatuses ?? [])[0] as KubeObject | undefined;
    return status?.state?.terminated?.exitCode;
  }

  /** `kubectl logs job/<job>`: the log of the Job's newest pod, through the API server. */
  async logs(job: string): Promise<string> {
    const pod = await this.pod(job);
    if (!pod) throw new Error(`Job ${job} has no pod`);
    return await this.#text(`/api/v1/namespaces/${this.namespace}/pods/${pod.metadata.name}/log`);
  }

  async events(objectName: string): Promise<ClusterEvent[]> {
    const selector = encodeURIComponent(`involvedObject.name=${objectName}`);
    const list = await this.#get(`/api/v1/namespaces/${this.namespace}/events?fieldSelector=${selector}`);
    return ((list?.items ?? []) as KubeObject[]).map((e) => ({
      reason: e.reason,
      message: e.message,
      involvedObject: `${e.involvedObject?.kind}/${e.involvedObject?.name}`,
    }));
  }

  async workloads(): Promise<Workload[]> {
    const out: Workload[] = [];
    for (const [kind, plural] of [
      ["Deployment", "deployments"],
      ["StatefulSet", "statefulsets"],
    ] as const) {
      const list = await this.#get(`/apis/apps/v1/namespaces/${this.namespace}/${plural}`);
      for (const w of (list?.items ?? []) as KubeObject[]) {
        out.push({
          kind,
          name: w.metadata.name,
          replicas: w.spec.replicas ?? 1,
          readyReplicas: w.status?.readyReplicas ?? 0,
          generation: w.metadata.generation,
        });
      }
    }
    return out.sort((a, b) => `${a.kind}/${a.name}`.localeCompare(`${b.kind}/${b.name}`));
  }

  async waitForReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const notReady = (await this.workloads()).filter((w) => w.readyReplicas !== w.replicas);
      if (notReady.length === 0) return;
      if (Date.now() > deadline) {
        throw new Error(
          `not ready after ${timeoutMs} ms: ${notReady.map((w) => `${w.kind}/${w.name}`).join(", ")}`,
        );
      }
      await sleep(1000);
    }
  }
}
