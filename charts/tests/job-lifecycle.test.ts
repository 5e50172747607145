// ci-cost: 50 s (measured at load 13; a stuck scheduled run: its deadline, then the next minute's run)
// What `helm upgrade` does to the one-shot Jobs, on a real kube-apiserver (testkit's local cluster): each
// toggle sequence the README documents (on → off → on, key changed, image changed, nothing changed). No
// pod runs here (kwok keeps Job pods Running): the Jobs' names, uids and request hashes are what count;
// that a re-created Job for a completed request restores nothing is run for real by the acceptance
// scenarios. On chart 2.1.0 the image change failed with "field is immutable".
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { type LocalCluster, startLocalCluster, tempDir } from "@infrahub-backup/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { runMissedSchedule } from "./cron.ts";
import { chartDir, helm, type K8sObject } from "./helm.ts";

const NS = "lifecycle";
let cluster: LocalCluster;
let work: Awaited<ReturnType<typeof tempDir>>;
let n = 0;

beforeAll(async () => {
  [cluster, work] = await Promise.all([startLocalCluster(), tempDir("ihb-lifecycle-")]);
  await cluster.createNamespace(NS);
}, 300_000);

afterAll(async () => {
  await cluster?.[Symbol.asyncDispose]();
  await work?.[Symbol.asyncDispose]();
}, 120_000);

/** `helm upgrade --install` of the chart with these values; the output on failure. */
function upgrade(release: string, values: unknown): { ok: boolean; output: string } {
  n += 1;
  const file = join(work.path, `values-${n}.yaml`);
  writeFileSync(file, stringify(values));
  const res = helm([
    "upgrade",
    "--install",
    release,
    chartDir,
    "-n",
    NS,
    "-f",
    file,
    "--kubeconfig",
    cluster.adminKubeconfig,
  ]);
  return { ok: res.status === 0, output: `${res.stdout}\n${res.stderr}` };
}

interface JobSeen {
  name: string;
  uid: string;
  request: string | undefined;
  image: string;
}

/** The release's Jobs as the API server has them. */
async function jobObjects(release: string): Promise<K8sObject[]> {
  const list = JSON.parse(
    (
      await cluster.kubectl([
        "-n",
        NS,
        "get",
        "jobs",
        "-l",
        `app.kubernetes.io/instance=${release}`,
        "-o",
        "json",
      ])
    ).stdout,
  ) as { items: K8sObject[] };
  return list.items;
}

async function jobs(release: string): Promise<JobSeen[]> {
  return (await jobObjects(release))
    .filter((j) => !j.metadata.deletionTimestamp)
    .map((j) => ({
      name: j.metadata.name,
      uid: j.metadata.uid,
      request: j.metadata.annotations?.["infrahub-backup/request-hash"],
      image: j.spec.template.spec.containers[0].image,
    }));
}

/** The release's one Job, once Helm's deletions of the previous ones are done. */
async function onlyJob(release: string): Promise<JobSeen> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const found = await jobs(release);
    if (found.length === 1) return found[0] as JobSeen;
    if (Date.now() > deadline)
      throw new Error(`expected one Job of ${release}, found ${JSON.stringify(found)}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

const restore = (
  extra: Record<string, unknown> = {},
  key = "prod/infrahub_backup_20260101_020000.tar.gz",
) => ({
  image: { repository: "registry.example/infrahub-backup", tag: "1.0.0" },
  restore: { enabled: true, storage: { s3: { bucket: "backups", key } } },
  ...extra,
});

describe("one-shot restore Job under helm upgrade", () => {
  it("nothing changed: the same Job (same uid); image changed: a new Job for the same request, no immutable error", async () => {
    const first = upgrade("r", restore());
    expect(first.ok, first.output).toBe(true);
    const a = await onlyJob("r");
    const again = upgrade("r", restore());
    expect(again.ok, again.output).toBe(true);
    expect(await onlyJob("r")).toEqual(a);
    const image = upgrade(
      "r",
      restore({ image: { repository: "registry.example/infrahub-backup", tag: "1.0.1" } }),
    );
    expect(image.ok, image.output).toBe(true);
    expect(image.output).not.toMatch(/immutable/);
    const b = await onlyJob("r");
    expect(b.name).not.toBe(a.name);
    expect(b.image).toBe("registry.example/infrahub-backup:1.0.1");
    // Same request: the CLI finds it recorded as restored (once it was) and does nothing.
    expect(b.request).toBe(a.request);
  });

  it("key changed: a new Job with a new request", async () => {
    const before = await onlyJob("r");
    const res = upgrade(
      "r",
      restore(
        { image: { repository: "registry.example/infrahub-backup", tag: "1.0.1" } },
        "prod/other.tar.gz",
      ),
    );
    expect(res.ok, res.output).toBe(true);
    const after = await onlyJob("r");
    expect(after.name).not.toBe(before.name);
    expect(after.request).not.toBe(before.request);
  });

  it("on → off → on: the Job is removed, then created again with the same name and request (a new uid)", async () => {
    const values = restore(
      { image: { repository: "registry.example/infrahub-backup", tag: "1.0.1" } },
      "prod/other.tar.gz",
    );
    const on = await onlyJob("r");
    const off = upgrade("r", { ...values, restore: { ...values.restore, enabled: false } });
    expect(off.ok, off.output).toBe(true);
    const deadline = Date.now() + 60_000;
    while ((await jobs("r")).length > 0) {
      if (Date.now() > deadline) throw new Error("the Job was not removed");
      await new Promise((r) => setTimeout(r, 500));
    }
    const back = upgrade("r", values);
    expect(back.ok, back.output).toBe(true);
    const again = await onlyJob("r");
    expect(again.name).toBe(on.name);
    expect(again.uid).not.toBe(on.uid);
    expect(again.request).toBe(on.request);
  });
});

describe("plain one-shot backup Job under helm upgrade", () => {
  it("image changed: a new Job instead of an immutable error", async () => {
    const values = (tag: string) => ({
      image: { repository: "registry.example/infrahub-backup", tag },
      backup: { enabled: true, job: { helmHook: false }, storage: { s3: { bucket: "backups" } } },
    });
    const first = upgrade("b", values("1.0.0"));
    expect(first.ok, first.output).toBe(true);
    const a = await onlyJob("b");
    const res = upgrade("b", values("1.0.1"));
    expect(res.ok, res.output).toBe(true);
    const b = await onlyJob("b");
    expect(b.name).not.toBe(a.name);
  });
});

describe("a stuck scheduled run under concurrencyPolicy Forbid (issue 20 §1)", () => {
  interface JobStatus {
    name: string;
    created: number;
    failed: { reason: string } | undefined;
  }
  async function jobStatuses(release: string): Promise<JobStatus[]> {
    return (await jobObjects(release))
      .map((j) => ({
        name: j.metadata.name as string,
        created: Date.parse(j.metadata.creationTimestamp),
        failed: (j.status?.conditions ?? []).find(
          (c: K8sObject) => c.type === "Failed" && c.status === "True",
        ) as { reason: string } | undefined,
      }))
      .sort((a, b) => a.created - b.created);
  }
  async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = await probe();
      if (value !== undefined) return value;
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 1000));
    }
  }

  // kwok keeps a Job's pod Running forever: the stuck run (ImagePullBackOff, a hung exec) of the issue. On
  // chart 2.1.0 no run had a deadline, so with Forbid that first run stayed active and every later
  // scheduled run was skipped. The deadline is shortened here; its 4 h default is checked in render.test.ts.
  it("the run is failed at its deadline (DeadlineExceeded) and the next scheduled run starts", async () => {
    const started = Date.now();
    const res = upgrade("stuck", {
      image: { repository: "registry.example/infrahub-backup", tag: "1.0.0" },
      backup: {
        enabled: true,
        mode: "cronjob",
        schedule: "* * * * *",
        job: { activeDeadlineSeconds: 15 },
        storage: { s3: { bucket: "backups" } },
      },
    });
    expect(res.ok, res.output).toBe(true);
    // The first run now, not at the next minute boundary; the second one is the schedule's own.
    await runMissedSchedule(cluster, NS, "stuck");
    const first = await until("the first scheduled run", 90_000, async () => (await jobStatuses("stuck"))[0]);
    const failed = await until("the first run to hit its deadline", 60_000, async () =>
      (await jobStatuses("stuck")).find((j) => j.name === first.name && j.failed),
    );
    expect(failed.failed?.reason).toBe("DeadlineExceeded");
    const second = await until("the next scheduled run", 90_000, async () =>
      (await jobStatuses("stuck")).find((j) => j.name !== first.name),
    );
    expect(second.created).toBeGreaterThan(first.created);
    console.log(
      `stuck run failed at its deadline and the next run started ${Date.now() - started} ms after install`,
    );
    const removed = helm(["uninstall", "stuck", "-n", NS, "--kubeconfig", cluster.adminKubeconfig]);
    expect(removed.status, removed.stderr).toBe(0);
  }, 300_000);
});
