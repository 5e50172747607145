// The acceptance scenarios of issue 11, written once against AcceptanceDriver and run by every driver
// (local cluster here, kind in GitHub Actions). Scenarios run in order and share one Infrahub: some read
// what an earlier one left (the one-shot backup is what the restores restore). Backups and restores are
// configured with Helm values only; the driver is used to arrange data/storage/faults and read results.
import { createReadStream } from "node:fs";
import { Readable } from "node:stream";
import { verifyArchive } from "@infrahub-backup/core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { AcceptanceDriver, FreshInstall, JobOutcome, Values } from "./driver.js";

const MIN = 60_000;
/** The chart's default terminationGracePeriodSeconds. */
const GRACE_PERIOD_S = 600;
/**
 * What the chart's Role grants, as audited requests (resource.group verb): each one must be used by the
 * scenarios, and nothing else (the least-privilege check of scenario 20).
 */
const ROLE_USES = [
  "deployments.apps get",
  "deployments.apps list",
  "deployments/scale.apps get",
  "deployments/scale.apps patch",
  "leases.coordination.k8s.io create",
  "leases.coordination.k8s.io delete",
  "leases.coordination.k8s.io get",
  "leases.coordination.k8s.io update",
  "pods list",
  // A WebSocket exec is audited as get; kube-apiserver ≥ 1.35 also authorizes it as create (the Role grants
  // both: upstream's create alone is refused, see packages/core/README.md).
  "pods/exec get",
  "statefulsets.apps get",
  "statefulsets.apps list",
  "statefulsets/scale.apps get",
  "statefulsets/scale.apps patch",
];
/** The Deployments a restore stops and starts (infrahub chart names, release `infrahub`). */
const APP_DEPLOYMENTS = /^(infrahub-infrahub-server|infrahub-infrahub-task-worker|prefect-server)$/;
const ARCHIVE_NAME = /^infrahub_backup_\d{8}_\d{6}\.tar\.gz$/;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Deep merge of Helm values (arrays and scalars of `b` win), like Helm merges -f files. */
export function mergeValues(a: Values, b: Values): Values {
  const out: Values = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const cur = out[k];
    out[k] = isObject(cur) && isObject(v) ? mergeValues(cur, v) : v;
  }
  return out;
}

async function waitFor<T>(
  what: string,
  timeoutMs: number,
  probe: () => Promise<T | undefined>,
  /** Checked on every round: a reason to stop waiting (e.g. the Job failed), thrown as the error. */
  failIf?: () => Promise<string | undefined>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value === undefined && failIf) {
      const reason = await failIf();
      if (reason !== undefined) throw new Error(`while waiting for ${what}: ${reason}`);
    }
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

function flipByte(archive: Buffer): Buffer {
  const copy = Buffer.from(archive);
  const at = Math.floor(copy.length / 2);
  copy[at] = (copy[at] as number) ^ 0xff;
  return copy;
}

export function defineAcceptanceScenarios(getDriver: () => AcceptanceDriver): void {
  let d: AcceptanceDriver;
  const values = (v: Values) => mergeValues(d.baseValues, v);
  const s3 = (prefix: string, extra: Values = {}) => ({
    bucket: d.store.bucket,
    prefix,
    endpoint: d.store.endpoint,
    secretName: d.store.secrets.readwrite,
    ...extra,
  });
  /** A plain (non-hook) one-shot backup Job: `helm install` returns at once. */
  const plainBackup = (storage: Values, options: Values = {}) =>
    values({ backup: { enabled: true, mode: "job", job: { helmHook: false }, storage, options } });
  const restore = (s3Settings: Values) =>
    values({ restore: { enabled: true, storage: { type: "s3", s3: s3Settings } } });

  // Releases installed and not yet removed; each test removes its own (afterEach) unless a later test
  // of the same group still needs it (`keep`), which the group's afterAll removes.
  const installed = new Set<string>();
  const keep = new Set<string>();
  const install = (release: string, v: Values) => {
    installed.add(release);
    return d.install(release, v);
  };
  const uninstall = async (release: string) => {
    installed.delete(release);
    keep.delete(release);
    await d.uninstall(release);
  };
  const uninstallKept = async () => {
    for (const release of [...keep]) await uninstall(release);
  };
  /** A reason to stop waiting when the release's newest Job has failed (its log included). */
  const jobFailed = (release: string) => async () => {
    const job = (await d.jobs(release)).at(-1);
    if (!job || job.active > 0) return undefined;
    // Not ended within 5 s (or gone): not a failure to report yet; the caller's wait goes on.
    const outcome = await d.waitForJobEnd(job.name, 5_000).catch(() => undefined);
    if (outcome?.condition !== "Failed") return undefined;
    return `Job ${job.name} failed:\n${await d.logs(job.name).catch((e: Error) => e.message)}`;
  };

  /** Installs a release whose one Job is expected to end; returns its outcome and log. */
  async function runJob(release: string, v: Values, timeoutMs = 5 * MIN) {
    const started = Date.now();
    const helm = install(release, v);
    const job = await d.waitForJob(release, 2 * MIN);
    const outcome = await d.waitForJobEnd(job, timeoutMs);
    const logs = await d.logs(job);
    const logsAt = new Date();
    const helmOutcome = await helm;
    const elapsedMs = Date.now() - started;
    console.log(
      `acceptance: ${release}: Job ${outcome.condition} (exit ${outcome.exitCode}) in ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
    return { job, outcome, logs, logsAt, elapsedMs, helm: helmOutcome };
  }

  const backupState: { digest?: string; key?: string; archive?: Buffer } = {};
  let restoreWorkloadsBefore: Awaited<ReturnType<AcceptanceDriver["workloads"]>> = [];
  /** Scenario 5's archive copied under `prefix` (a `latest` of its own); its name there and its bytes. */
  async function copyBackupTo(prefix: string): Promise<{ name: string; archive: Buffer }> {
    const key = backupState.key ?? "";
    const archive = await d.store.get(key);
    const name = key.slice("oneshot/".length);
    await d.store.put(`${prefix}${name}`, archive);
    return { name, archive };
  }
  /** A damaged copy of `archive`, newer than any backup, under `prefix`: restoring it would fail. */
  async function putNewerDamaged(prefix: string, archive: Buffer): Promise<void> {
    const damaged = Buffer.from(archive);
    damaged[damaged.length >> 1] = (damaged[damaged.length >> 1] ?? 0) ^ 0xff;
    await d.store.put(`${prefix}infrahub_backup_29991231_235959.tar.gz`, damaged);
  }
  /** Scenario 8's restore Job: scenario 18 is about the same run (it restored onto changed data). */
  let restoreRun: { outcome: JobOutcome; logs: string } | undefined;

  beforeAll(() => {
    d = getDriver();
    d.startRecording();
  });

  afterEach(async () => {
    for (const release of [...installed]) if (!keep.has(release)) await uninstall(release);
  });

  describe("scheduled backup to S3", () => {
    afterAll(uninstallKept);
    let cronJobName = "";
    let firstJob = "";
    let firstJobCreated = new Date(0);
    let key = "";

    it("1. when the CronJob's schedule fires, a backup Job runs and the archive appears in the bucket", async () => {
      // Every minute: the CronJob controller itself starts the run. The run sleeps after the upload so it
      // is still active at the next scheduled minute (scenario 4), which removes it then.
      const v = values({
        backup: {
          enabled: true,
          mode: "cronjob",
          schedule: "* * * * *",
          storage: { type: "s3", s3: s3("scheduled") },
          options: { extraArgs: ["--sleep=90s"] },
        },
      });
      keep.add("sched");
      const helm = await install("sched", v);
      expect(helm.ok, helm.output).toBe(true);
      cronJobName = "sched-infrahub-backup";
      firstJob = await d.waitForJob("sched", 2 * MIN);
      // The controller names a scheduled Job <cronjob>-<scheduled time in minutes since the epoch>.
      const [job] = await d.jobs("sched");
      expect(job?.name).toBe(firstJob);
      expect(firstJob).toMatch(new RegExp(`^${cronJobName}-\\d{8}$`));
      firstJobCreated = job?.created ?? new Date();
      const keys = await waitFor(
        "the scheduled archive in the bucket",
        4 * MIN,
        async () => {
          const found = await d.store.listKeys("scheduled/");
          return found.length > 0 ? found : undefined;
        },
        jobFailed("sched"),
      );
      expect(keys).toHaveLength(1);
      key = keys[0] as string;
    });

    it("2. the object name is timestamped (<prefix>/infrahub_backup_YYYYMMDD_HHMMSS.tar.gz, UTC)", () => {
      expect(key).toMatch(/^scheduled\/infrahub_backup_\d{8}_\d{6}\.tar\.gz$/);
      const m = /(\d{4})(\d{2})(\d{2})_(\d{2})(\d{2})(\d{2})/.exec(key) as RegExpExecArray;
      const stamp = Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!);
      expect(Math.abs(stamp - firstJobCreated.getTime())).toBeLessThan(3 * MIN);
    });

    it("4. a second scheduled run does not start while the previous Job is still running", async () => {
      expect(firstJob, "scenario 1 did not start a run").not.toBe("");
      // The next minute boundary after the first run was created, plus time for the controller to act.
      const nextFire = Math.floor(firstJobCreated.getTime() / MIN) * MIN + MIN;
      while (Date.now() < nextFire + 10_000) {
        const jobs = await d.jobs("sched");
        expect(jobs.map((j) => j.name)).toEqual([firstJob]);
        await new Promise((r) => setTimeout(r, 2000));
      }
      const [job] = await d.jobs("sched");
      expect(job?.active, "the first run ended before the next scheduled time: nothing was tested").toBe(1);
      const events = await d.events(cronJobName);
      expect(events.map((e) => e.reason)).toContain("JobAlreadyActive");
      // The archive was committed before the sleep: removing the release (values only: helm uninstall)
      // deletes the sleeping run, so no later scheduled run can start.
      expect((await d.jobs("sched")).map((j) => j.name)).toEqual([firstJob]);
      await uninstall("sched");
      backupState.archive = await d.store.get(key);
    });
  });

  describe("3. S3 upload fails", () => {
    it("wrong credentials: the Job fails, its log names the cause within 30 s, no object is left", async () => {
      const r = await runJob(
        "s3-wrong",
        plainBackup({ type: "s3", s3: s3("failing", { secretName: d.store.secrets.wrong }) }),
      );
      expect(r.outcome.condition).toBe("Failed");
      // Exit 4 cannot heal by retrying: the pod failure policy fails the Job at once (backoffLimit is 2).
      expect(r.outcome.exitCode).toBe(4);
      expect([r.outcome.reason, r.outcome.failedPods]).toEqual(["PodFailurePolicy", 1]);
      expect(r.logs).toMatch(/credentials|InvalidAccessKeyId|access key/i);
      expect(r.logsAt.getTime() - r.outcome.finishedAt.getTime()).toBeLessThan(30_000);
      expect(await d.store.listKeys("failing/")).toEqual([]);
      expect(await d.store.pendingUploads("failing/")).toEqual([]);
      await uninstall("s3-wrong");
    });

    it("endpoint cut mid-upload: the Job fails, its log names the cause within 30 s, no object is left", async (ctx) => {
      const faults = d.faults;
      if (!faults) return ctx.skip("this driver has no fault proxy in front of the object store");
      // Cut in the middle of what a full archive uploads (scenario 1's archive), or after 32 KiB.
      const size = backupState.archive?.length ?? 64 * 1024;
      faults.cutUploadsAfter(Math.floor(size / 2));
      try {
        // No retries here (scenario 15 is about them): each would meet the cut proxy again.
        const r = await runJob(
          "s3-cut",
          mergeValues(plainBackup({ type: "s3", s3: s3("cut", { endpoint: faults.endpoint }) }), {
            backup: { job: { backoffLimit: 0 } },
          }),
        );
        expect(r.outcome.condition).toBe("Failed");
        expect(r.outcome.failedPods, "backoffLimit 0: one attempt").toBe(1);
        expect(r.logs).toMatch(/level=error.*(S3|storage|upload|unreachable|connection|socket)/i);
        expect(r.logsAt.getTime() - r.outcome.finishedAt.getTime()).toBeLessThan(30_000);
        expect(faults.wasCut(), "the upload never reached the cut: nothing was tested").toBe(true);
      } finally {
        faults.pass();
      }
      expect(await d.store.listKeys("cut/")).toEqual([]);
      await uninstall("s3-cut");
    });
  });

  describe("one-shot backup", () => {
    let run: Awaited<ReturnType<typeof runJob>> | undefined;

    it("5. Job mode: one backup Job runs on install and the archive exists in S3", async () => {
      backupState.digest = await d.data.digest();
      // Default Job mode: a post-install Helm hook, so `helm install` itself waits for it.
      run = await runJob(
        "oneshot",
        values({ backup: { enabled: true, mode: "job", storage: { type: "s3", s3: s3("oneshot") } } }),
      );
      expect(run.helm.ok, run.helm.output).toBe(true);
      expect(run.outcome.condition).toBe("Complete");
      expect((await d.jobs("oneshot")).map((j) => j.name)).toEqual([run.job]);
      const keys = await d.store.listKeys("oneshot/");
      expect(keys).toHaveLength(1);
      backupState.key = keys[0] as string;
      expect(backupState.key.slice("oneshot/".length)).toMatch(ARCHIVE_NAME);
      backupState.archive = await d.store.get(backupState.key);
      const report = await verifyArchive(Readable.from([backupState.archive]));
      expect(report.ok, JSON.stringify(report.problems)).toBe(true);
      // A backup does not change the data.
      expect(await d.data.digest()).toBe(backupState.digest);
    });

    it("6. on success the pod completes with exit code 0", () => {
      expect(run, "scenario 5 did not run").toBeDefined();
      expect(run?.outcome.exitCode).toBe(0);
      expect(run?.logs).toMatch(/Backup created successfully/);
    });

    it("7. on failure (database unreachable) the pod fails non-zero with the error in its log", async () => {
      await d.data.takeDatabaseDown();
      let r: Awaited<ReturnType<typeof runJob>>;
      try {
        // One attempt (scenario 15 is about retries): Helm waits for this hook Job.
        r = await runJob(
          "nodb",
          values({
            backup: {
              enabled: true,
              mode: "job",
              job: { backoffLimit: 0 },
              storage: { type: "s3", s3: s3("nodb") },
            },
          }),
        );
      } finally {
        await d.data.bringDatabaseUp();
      }
      expect(r.outcome.condition).toBe("Failed");
      expect(r.outcome.exitCode).toBeGreaterThan(0);
      expect(r.logs).toMatch(/level=error/);
      expect(r.logs).toMatch(/database|postgres|connect/i);
      // The hook failed, so the install says so.
      expect(r.helm.ok).toBe(false);
      await uninstall("nodb");
    });
  });

  describe("restore from S3", () => {
    afterAll(uninstallKept);
    let restoreOutcome: JobOutcome | undefined;

    it("8. the restore Job downloads the archive and restores both databases: the data equals the backup state", async () => {
      expect(backupState.key, "scenario 5 left no archive").toBeDefined();
      await d.data.change("after-backup");
      expect(await d.data.digest()).not.toBe(backupState.digest);
      restoreWorkloadsBefore = await d.workloads();
      keep.add("restore");
      const r = await runJob("restore", restore(s3("oneshot/", { key: backupState.key })));
      restoreOutcome = r.outcome;
      restoreRun = { outcome: r.outcome, logs: r.logs };
      expect(r.outcome.condition, r.logs).toBe("Complete");
      expect(r.outcome.exitCode).toBe(0);
      await d.waitForInfrahubReady(2 * MIN);
      expect(await d.data.digest()).toBe(backupState.digest);
    });

    it("9. invalid S3 credentials: the restore Job fails with an authentication error", async () => {
      const before = await d.data.digest();
      const r = await runJob(
        "restore-badcreds",
        restore(s3("oneshot/", { key: backupState.key, secretName: d.store.secrets.wrong })),
      );
      expect(r.outcome.condition).toBe("Failed");
      expect(r.outcome.exitCode).toBe(4);
      expect(r.logs).toMatch(/credentials|authentication|InvalidAccessKeyId/i);
      expect(await d.data.digest()).toBe(before);
      await uninstall("restore-badcreds");
    });

    it('10. a key that does not exist: the restore Job fails with "artifact not found"', async () => {
      const r = await runJob(
        "restore-nokey",
        restore(s3("oneshot/", { key: "oneshot/infrahub_backup_19990101_000000.tar.gz" })),
      );
      expect(r.outcome.condition).toBe("Failed");
      expect(r.outcome.exitCode).toBe(5);
      expect(r.logs).toMatch(/artifact not found/i);
      await uninstall("restore-nokey");
    });

    it("11. after the restore Infrahub's workloads are scaled back and the data is what was backed up", async () => {
      expect(restoreOutcome?.condition, "scenario 8 did not restore").toBe("Complete");
      const after = await d.workloads();
      for (const before of restoreWorkloadsBefore) {
        const now = after.find((w) => w.kind === before.kind && w.name === before.name);
        expect(now, `${before.kind} ${before.name}`).toBeDefined();
        expect(now?.replicas, `${before.kind} ${before.name} replicas`).toBe(before.replicas);
        expect(now?.readyReplicas, `${before.kind} ${before.name} ready`).toBe(before.replicas);
        // The application Deployments were really stopped and started (each scale bumps the generation).
        if (APP_DEPLOYMENTS.test(before.name)) {
          expect(now?.generation, `${before.name} was not scaled down and up`).toBeGreaterThanOrEqual(
            before.generation + 2,
          );
        }
      }
      expect(await d.data.digest()).toBe(backupState.digest);
    });

    it("12. a corrupted archive: the restore refuses before changing any data", async () => {
      expect(backupState.archive, "scenario 5 left no archive").toBeDefined();
      await d.data.change("before-corrupt-restore");
      const before = await d.data.digest();
      const workloadsBefore = await d.workloads();
      const neo4jStarts = await d.data.neo4jStarts();
      const key = "corrupt/infrahub_backup_20000101_000000.tar.gz";
      await d.store.put(key, flipByte(backupState.archive as Buffer));
      const r = await runJob("restore-corrupt", restore(s3("corrupt/", { key })));
      expect(r.outcome.condition).toBe("Failed");
      expect(r.outcome.exitCode).toBe(6);
      expect(r.logs).toMatch(/checksum|corrupt|integrity|mismatch|crc|invalid/i);
      expect(await d.data.digest()).toBe(before);
      expect(await d.data.neo4jStarts()).toBe(neo4jStarts);
      // No workload was scaled: their specs did not change.
      expect((await d.workloads()).map((w) => [w.name, w.generation])).toEqual(
        workloadsBefore.map((w) => [w.name, w.generation]),
      );
      await uninstall("restore-corrupt");
    });

    it("13. an unrelated helm upgrade of the release after a restore does not run the restore again", async () => {
      expect(restoreOutcome?.condition, "scenario 8 did not restore").toBe("Complete");
      const jobsBefore = await d.jobs("restore");
      expect(jobsBefore).toHaveLength(1);
      await d.data.change("after-restore");
      const dataBefore = await d.data.digest();
      const upgraded = await d.upgrade(
        "restore",
        mergeValues(restore(s3("oneshot/", { key: backupState.key })), {
          serviceAccount: { annotations: { "example.com/unrelated-change": "1" } },
          networkPolicy: { enabled: true },
        }),
      );
      expect(upgraded.ok, upgraded.output).toBe(true);
      await new Promise((r) => setTimeout(r, 10_000));
      const jobsAfter = await d.jobs("restore");
      expect(jobsAfter.map((j) => [j.name, j.uid, j.active])).toEqual(
        jobsBefore.map((j) => [j.name, j.uid, 0]),
      );
      expect(await d.data.digest()).toBe(dataBefore);
    });

    it("13b. an image change re-creates the restore Job (no 'field is immutable'): it finds its request recorded as restored and changes nothing", async () => {
      expect(restoreOutcome?.condition, "scenario 8 did not restore").toBe("Complete");
      const [before] = await d.jobs("restore");
      const dataBefore = await d.data.digest();
      const neo4jStarts = await d.data.neo4jStarts();
      const workloadsBefore = await d.workloads();
      const upgraded = await d.upgrade(
        "restore",
        mergeValues(restore(s3("oneshot/", { key: backupState.key })), {
          image: { tag: "acceptance-rebuilt" },
          serviceAccount: { annotations: { "example.com/unrelated-change": "1" } },
          networkPolicy: { enabled: true },
        }),
      );
      expect(upgraded.ok, upgraded.output).toBe(true);
      const job = await waitFor("the re-created restore Job", 2 * MIN, async () => {
        const jobs = await d.jobs("restore");
        return jobs.length === 1 && jobs[0]?.name !== before?.name ? jobs[0]?.name : undefined;
      });
      const outcome = await d.waitForJobEnd(job, 3 * MIN);
      const logs = await d.logs(job);
      expect([outcome.condition, outcome.exitCode], logs).toEqual(["Complete", 0]);
      expect(logs).toMatch(/Restore request [0-9a-f]{10} was already completed at .*nothing was changed/);
      expect(await d.data.digest()).toBe(dataBefore);
      expect(await d.data.neo4jStarts()).toBe(neo4jStarts);
      expect((await d.workloads()).map((w) => [w.name, w.generation])).toEqual(
        workloadsBefore.map((w) => [w.name, w.generation]),
      );
      await uninstall("restore");
    });
  });

  describe("issue 20: fresh installs, GitOps controllers, deleted Jobs", () => {
    /** Waits until the release's run holds infrahub-server at 0 replicas (restore, or a backup's Neo4j dump). */
    const serverHeldAtZero = (release: string) =>
      waitFor(
        `${release} holding infrahub-server at 0`,
        4 * MIN,
        async () =>
          (await d.workloads()).find((w) => w.name === "infrahub-infrahub-server")?.replicas === 0
            ? true
            : undefined,
        jobFailed(release),
      );

    it("G1. one helm install of the umbrella brings up Infrahub and a restore: the restore waits until Infrahub is Ready, then restores", async (ctx) => {
      const fresh = d.fresh;
      if (!fresh) return ctx.skip("this driver cannot install a second Infrahub with the umbrella chart");
      expect(backupState.key, "scenario 5 left no archive").toBeDefined();
      await d.data.change("before-fresh-install");
      expect(await d.data.digest()).not.toBe(backupState.digest);
      const umbrellaValues = {
        "infrahub-backup": mergeValues(d.baseValues, {
          enabled: true,
          restore: {
            enabled: true,
            storage: {
              type: "s3",
              s3: s3("oneshot/", { key: backupState.key, secretName: fresh.secrets.readwrite }),
            },
          },
        }),
      };
      const started = Date.now();
      // The database takes 30 s to become available (minReadySeconds), as a real one takes to start.
      const helm = await fresh.install("infrahub", umbrellaValues, { databaseMinReadySeconds: 30 });
      expect(helm.ok, helm.output).toBe(true);
      const job = await fresh.waitForJob("infrahub", 2 * MIN);
      const outcome = await fresh.waitForJobEnd(job, 8 * MIN);
      const logs = await fresh.logs(job);
      console.log(
        `acceptance: fresh install + restore in ${((Date.now() - started) / 1000).toFixed(1)} s; ${/Infrahub is ready \(waited \d+ s\)/.exec(logs)?.[0]}`,
      );
      expect([outcome.condition, outcome.exitCode], logs).toEqual(["Complete", 0]);
      // It started before Infrahub was available, said what it waited for, and restored only after.
      expect(logs).toMatch(
        /waiting for Infrahub in namespace fresh to be ready .*database: StatefulSet infrahub-database 0\/1 available/,
      );
      const waited = Number(/Infrahub is ready \(waited (\d+) s\)/.exec(logs)?.[1]);
      expect(waited).toBeGreaterThanOrEqual(5);
      expect(await d.data.digest()).toBe(backupState.digest);
      for (const w of await fresh.workloads())
        expect(w.readyReplicas, `${w.kind} ${w.name}`).toBe(w.replicas);
      const removed = await fresh.uninstall("infrahub");
      expect(removed.ok, removed.output).toBe(true);
    });

    it("G2. a GitOps controller scaling Infrahub back up mid-restore stops it: the Job fails naming the field manager, nothing changed, everything back", async (ctx) => {
      const gitops = d.gitops;
      if (!gitops) return ctx.skip("this driver has no GitOps controller double");
      await d.data.change("before-scale-fight");
      const before = await d.data.digest();
      const workloadsBefore = await d.workloads();
      const helm = install("scale-fight", restore(s3("oneshot/", { key: backupState.key })));
      const job = await d.waitForJob("scale-fight", 2 * MIN);
      await serverHeldAtZero("scale-fight");
      await gitops.scale("infrahub-infrahub-server", 1);
      const outcome = await d.waitForJobEnd(job, 5 * MIN);
      const logs = await d.logs(job);
      await helm;
      console.log(`acceptance: scale-fight: Job ${outcome.condition} (exit ${outcome.exitCode})`);
      expect(outcome.condition, logs).toBe("Failed");
      expect(outcome.exitCode).not.toBe(0);
      expect(logs).toContain(
        `Deployment infrahub-infrahub-server in namespace ${d.namespace} was scaled to 1 by the field manager "${gitops.manager}"`,
      );
      expect(logs).toMatch(/GitOps: keep controllers from scaling Infrahub back up/);
      await d.waitForInfrahubReady(3 * MIN);
      expect(await d.data.digest()).toBe(before);
      const after = await d.workloads();
      expect(after.map((w) => [w.name, w.replicas])).toEqual(
        workloadsBefore.map((w) => [w.name, w.replicas]),
      );
      await uninstall("scale-fight");
    });

    it("G2b. a GitOps controller scaling Infrahub back up mid-backup fails that attempt (exit 3, naming the field manager, nothing stored, everything back); the retry backs up", async (ctx) => {
      const gitops = d.gitops;
      if (!gitops) return ctx.skip("this driver has no GitOps controller double");
      const workloadsBefore = await d.workloads();
      const data = await d.data.digest();
      // The chart's default backup retry policy: exit 3 (SCALE_CONFLICT) is not one of the codes that fail
      // the Job at once, so the README's promise is that the backup is retried once the controller is done.
      void install("backup-fight", plainBackup({ type: "s3", s3: s3("backup-fight") }));
      const job = await d.waitForJob("backup-fight", 2 * MIN);
      await serverHeldAtZero("backup-fight");
      const firstAttempt = d.podExit(job);
      if (!firstAttempt) return ctx.skip("this driver cannot see a pod's process end");
      await gitops.scale("infrahub-infrahub-server", 1);
      const attempt = await firstAttempt;
      console.log(`acceptance: backup scale-fight: first attempt exit ${attempt.exitCode}`);
      expect(attempt.exitCode, attempt.logs).toBe(3);
      expect(attempt.logs).toContain(
        `Deployment infrahub-infrahub-server in namespace ${d.namespace} was scaled to 1 by the field manager "${gitops.manager}"`,
      );
      expect(attempt.logs).toMatch(/GitOps: keep controllers from scaling Infrahub back up/);
      const outcome = await d.waitForJobEnd(job, 5 * MIN);
      expect([outcome.condition, outcome.failedPods], await d.logs(job)).toEqual(["Complete", 1]);
      // One archive (the retry's); the stopped attempt left no object and no open multipart upload.
      const keys = await d.store.listKeys("backup-fight/");
      expect(keys).toHaveLength(1);
      expect(keys[0]?.slice("backup-fight/".length)).toMatch(ARCHIVE_NAME);
      expect(await d.store.pendingUploads("backup-fight/")).toEqual([]);
      await d.waitForInfrahubReady(3 * MIN);
      expect(await d.data.digest()).toBe(data);
      expect((await d.workloads()).map((w) => [w.name, w.replicas])).toEqual(
        workloadsBefore.map((w) => [w.name, w.replicas]),
      );
      await uninstall("backup-fight");
    });

    it("G3. a restore Job deleted mid-restore (helm uninstall, Flux remediation) winds up within its grace period: nothing changed, services back", async (ctx) => {
      await d.data.change("before-sigterm");
      const before = await d.data.digest();
      const workloadsBefore = await d.workloads();
      void install("sigterm", restore(s3("oneshot/", { key: backupState.key })));
      const job = await d.waitForJob("sigterm", 2 * MIN);
      const exit = d.podExit(job);
      if (!exit) return ctx.skip("this driver cannot see a pod's process end");
      await waitFor(
        "the restore's destructive phase",
        4 * MIN,
        async () =>
          /stopping application services/.test(await d.logs(job).catch(() => "")) ? true : undefined,
        jobFailed("sigterm"),
      );
      const deletedAt = Date.now();
      await uninstall("sigterm");
      const run = await exit;
      const windUpMs = run.exitedAt.getTime() - deletedAt;
      console.log(
        `acceptance: SIGTERM wind-up (Job deleted → process exit) ${windUpMs} ms, exit ${run.exitCode}`,
      );
      expect(run.exitCode, run.logs).toBe(143);
      expect(windUpMs).toBeLessThan(GRACE_PERIOD_S * 1000);
      expect(run.logs).toMatch(/PostgreSQL: unchanged/);
      expect(run.logs).toMatch(/Neo4j: unchanged/);
      await d.waitForInfrahubReady(3 * MIN);
      expect(await d.data.digest()).toBe(before);
      expect((await d.workloads()).map((w) => [w.name, w.replicas])).toEqual(
        workloadsBefore.map((w) => [w.name, w.replicas]),
      );
    });
  });

  describe("runs killed outright", () => {
    /**
     * Installs `release`, SIGKILLs its Job's pod (as an OOM kill would) once its log shows `marker`, and
     * waits for the Job to end (`Complete` unless `ends` says otherwise): its retry must take the dead run's
     * lock over and bring Infrahub back first. Undefined when the driver cannot kill a pod's processes.
     */
    async function killedOnce(
      release: string,
      v: Values,
      operation: "create" | "restore",
      what: string,
      marker: RegExp,
      afterKill?: () => Promise<void>,
      ends: "Complete" | "Failed" = "Complete",
    ) {
      const workloadsBefore = await d.workloads();
      void install(release, v);
      const job = await d.waitForJob(release, 2 * MIN);
      await waitFor(
        what,
        4 * MIN,
        async () => (marker.test(await d.logs(job).catch(() => "")) ? true : undefined),
        jobFailed(release),
      );
      const killed = d.oomKill(job);
      if (!killed) return undefined;
      await killed;
      const killedAt = Date.now();
      await afterKill?.();
      const outcome = await d.waitForJobEnd(job, 5 * MIN);
      const logs = await d.logs(job);
      console.log(
        `acceptance: OOM-killed during ${what}: Job ${outcome.condition} ${((Date.now() - killedAt) / 1000).toFixed(1)} s after the kill (${outcome.failedPods} failed pod); the retry said:\n${logs
          .split("\n")
          .filter((line) => /LOCK|LEFTOVER|taking over|previous operation|Bolt port/.test(line))
          .join("\n")}`,
      );
      expect(outcome.condition, logs).toBe(ends);
      expect(outcome.failedPods).toBe(ends === "Complete" ? 1 : 2);
      // The retry took the dead run's lock over and scaled back what it had stopped before anything else.
      expect(logs).toMatch(
        new RegExp(`taking over a stale operation lock .*${operation} by .*that process is gone`),
      );
      const broughtBack = logs
        .split("\n")
        .find((l) => /a previous operation ended without starting again/.test(l));
      expect(broughtBack, logs).toMatch(/scaled .*Deployment infrahub-infrahub-server to 1/);
      expect(broughtBack).toMatch(/Deployment infrahub-infrahub-task-worker to 2/);
      await d.waitForInfrahubReady(3 * MIN);
      expect((await d.workloads()).map((w) => [w.name, w.replicas])).toEqual(
        workloadsBefore.map((w) => [w.name, w.replicas]),
      );
      return { logs, exitCode: outcome.exitCode };
    }

    it("G4. a backup Job's pod OOM-killed while Infrahub is held down: its retry brings Infrahub back first, then backs up", async (ctx) => {
      const before = await d.data.digest();
      // Services stopped, Neo4j paused: the window an OOM kill of a streaming dump would hit.
      const v = plainBackup({ type: "s3", s3: s3("oom") });
      const killed = await killedOnce("oom", v, "create", "the offline Neo4j dump", /dumping Neo4j database/);
      if (killed === undefined) return ctx.skip("this driver cannot kill a pod's processes");
      expect(killed.logs).toMatch(/Backup created successfully/);
      expect(await d.store.listKeys("oom/")).toHaveLength(1);
      expect(await d.data.digest()).toBe(before);
    });

    it("G5. a restore Job's pod OOM-killed while it loads: its retry (exit 137 only) brings Infrahub back first, then restores the same archive from the start", async (ctx) => {
      expect(backupState.key, "scenario 5 left no archive").toBeDefined();
      await d.data.change("before-oom-restore");
      expect(await d.data.digest()).not.toBe(backupState.digest);
      // `--latest` in a prefix of its own, holding scenario 5's archive.
      const { name, archive } = await copyBackupTo("pinned/");
      // The chart's defaults: restore.job.backoffLimit 1, and every exit but 137 fails the Job at once.
      // Services stopped, the previous Neo4j store set aside: the window an OOM kill of a load would hit.
      const v = restore(s3("pinned/", { latest: true }));
      const killed = await killedOnce(
        "oomrestore",
        v,
        "restore",
        "the Neo4j load",
        /loading Neo4j database/,
        // A newer archive arrives before the retry (another release's backup, the next scheduled one): the
        // retry must restore what its request started with. This one is damaged: restoring it would fail.
        () => putNewerDamaged("pinned/", archive),
      );
      if (killed === undefined) return ctx.skip("this driver cannot kill a pod's processes");
      const { logs } = killed;
      expect(logs).toMatch(
        new RegExp(
          `Selected ${name.replaceAll(".", "\\.")}: the latest backup when this restore request was started`,
        ),
      );
      expect(logs).toMatch(/Restore completed successfully/);
      expect(await d.data.digest()).toBe(backupState.digest);
    });

    it("G5b. the archive a killed restore started with is deleted before its retry: the retry brings Infrahub back, restores nothing else, fails naming it", async (ctx) => {
      expect(backupState.key, "scenario 5 left no archive").toBeDefined();
      await d.data.change("before-pruned-restore");
      const before = await d.data.digest();
      const { name, archive } = await copyBackupTo("pruned/");
      const v = restore(s3("pruned/", { latest: true }));
      const killed = await killedOnce(
        "prunedrestore",
        v,
        "restore",
        "the Neo4j load",
        /loading Neo4j database/,
        // A retention prune: the archive goes, a newer one (of whatever the deployment held then) is there.
        async () => {
          await d.store.delete(`pruned/${name}`);
          await d.store.put("pruned/infrahub_backup_29991231_235959.tar.gz", archive);
        },
        "Failed",
      );
      if (killed === undefined) return ctx.skip("this driver cannot kill a pod's processes");
      const { logs, exitCode } = killed;
      // Exit 5: not found (ARTIFACT_NOT_FOUND).
      expect(exitCode, logs).toBe(5);
      expect(logs).toMatch(
        new RegExp(
          `${name.replaceAll(".", "\\.")}, the archive a killed run of restore request \\w+ started with .*is no longer in .*pruned/; nothing was restored`,
        ),
      );
      expect(logs).not.toMatch(/infrahub_backup_29991231_235959|Restore completed/);
      expect(logs).not.toMatch(/could not clear the record/);
      // The dead run's Neo4j freeze ends with its lease, putting the previous store back: nothing was lost.
      expect(await d.data.digest()).toBe(before);
    });

    it("G5c. the object store is unreachable when a killed restore's retry starts: the retry brings Infrahub back, then fails naming the store", async (ctx) => {
      const faults = d.faults;
      if (!faults) return ctx.skip("this driver has no fault proxy in front of the object store");
      expect(backupState.key, "scenario 5 left no archive").toBeDefined();
      await d.data.change("before-unreachable-restore");
      const before = await d.data.digest();
      // A named archive (`key`): the retry of any restore request, not only `latest`'s, brings Infrahub back.
      const { name } = await copyBackupTo("unreachable/");
      const v = restore(s3("unreachable/", { key: `unreachable/${name}`, endpoint: faults.endpoint }));
      try {
        const killed = await killedOnce(
          "unreachablerestore",
          v,
          "restore",
          "the Neo4j load",
          /loading Neo4j database/,
          async () => faults.refuse(),
          "Failed",
        );
        if (killed === undefined) return ctx.skip("this driver cannot kill a pod's processes");
        const { logs, exitCode } = killed;
        // Exit 9: other storage failure (STORAGE_UNREACHABLE), naming the store and the archive.
        expect(exitCode, logs).toBe(9);
        expect(logs).toMatch(
          new RegExp(
            `level=error msg=".*the connection to S3 at .* was cut \\(ECONNRESET\\) .*unreachable/${name.replaceAll(".", "\\.")}`,
          ),
        );
        expect(logs).not.toMatch(/Restore completed|could not bring back/);
      } finally {
        faults.pass();
      }
      // The dead run's Neo4j freeze ended with its lease, putting the previous store back: nothing was lost.
      expect(await d.data.digest()).toBe(before);
    });

    it("G6. values reverted to scenario 8's after other restore requests completed (a GitOps rollback): the re-created restore Job finds that request among the completed ones and changes nothing", async () => {
      expect(restoreRun?.outcome.condition, "scenario 8 did not restore").toBe("Complete");
      // G5's request completed since: scenario 8's is no longer the last one recorded.
      await d.data.change("before-reverted-restore");
      const before = await d.data.digest();
      const neo4jStarts = await d.data.neo4jStarts();
      const r = await runJob("restore", restore(s3("oneshot/", { key: backupState.key })));
      expect([r.outcome.condition, r.outcome.exitCode], r.logs).toEqual(["Complete", 0]);
      expect(r.logs).toMatch(/Restore request [0-9a-f]{10} was already completed at .*nothing was changed/);
      expect(await d.data.digest()).toBe(before);
      expect(await d.data.neo4jStarts()).toBe(neo4jStarts);
    });
  });

  describe("issue 23: restore on a fresh install (restoreOnInstall)", () => {
    // One `helm install` of the umbrella each, in the second namespace; `helm install` itself waits for
    // the post-install hook Job, which is kept afterwards (its log is the record). Cost: ~2-3 min together.
    const onInstall = (fresh: FreshInstall, prefix: string) => ({
      "infrahub-backup": mergeValues(d.baseValues, {
        enabled: true,
        restoreOnInstall: { enabled: true },
        restore: { storage: { type: "s3", s3: s3(prefix, { secretName: fresh.secrets.readwrite }) } },
      }),
    });
    async function installWithRestoreOnInstall(fresh: FreshInstall, prefix: string, what: string) {
      const started = Date.now();
      const helm = await fresh.install("infrahub", onInstall(fresh, prefix));
      const jobs = await fresh.jobs("infrahub");
      const job = jobs.at(-1)?.name ?? "";
      const outcome = await fresh.waitForJobEnd(job, 2 * MIN);
      const logs = await fresh.logs(job);
      console.log(
        `acceptance: restore on install (${what}): Job ${outcome.condition} (exit ${outcome.exitCode}) in ${((Date.now() - started) / 1000).toFixed(1)} s`,
      );
      const workloads = await fresh.workloads();
      const removed = await fresh.uninstall("infrahub");
      expect(removed.ok, removed.output).toBe(true);
      return { helm, jobs, outcome, logs, workloads };
    }

    it("F2. a deployment that holds data: the install-time Job skips, says why, succeeds; the data is untouched", async (ctx) => {
      const fresh = d.fresh;
      if (!fresh) return ctx.skip("this driver cannot install a second Infrahub with the umbrella chart");
      expect(backupState.key, "scenario 5 left no archive").toBeDefined();
      await d.data.change("before-restore-on-install");
      const before = await d.data.digest();
      const neo4jStarts = await d.data.neo4jStarts();
      const r = await installWithRestoreOnInstall(fresh, "oneshot/", "data present");
      expect(r.helm.ok, r.helm.output).toBe(true);
      expect(r.jobs.map((j) => j.name)).toEqual(["infrahub-infrahub-backup-restore-on-install"]);
      expect([r.outcome.condition, r.outcome.exitCode], r.logs).toEqual(["Complete", 0]);
      expect(r.logs).toMatch(
        /level=warn.*skipped: the deployment holds data \(\d+ nodes a first start does not create: .*InfraDevice \(\d+\)/,
      );
      expect(r.logs).toMatch(/skip_reason="?deployment-holds-data/);
      expect(r.logs).not.toMatch(/Selected latest backup|stopping application services/);
      expect(await d.data.digest()).toBe(before);
      expect(await d.data.neo4jStarts()).toBe(neo4jStarts);
      // Nothing was scaled down (the umbrella's workloads all Ready when the Job ended).
      for (const w of r.workloads) expect(w.readyReplicas, `${w.kind} ${w.name}`).toBe(w.replicas);
    });

    it("F3. a fresh deployment and no archive in the bucket: nothing to restore, exit 0 (the first install of a new deployment)", async (ctx) => {
      const fresh = d.fresh;
      const made = d.data.makeFresh();
      if (!fresh || !made)
        return ctx.skip("this driver cannot make a fresh deployment in a second namespace");
      await made;
      const before = await d.data.digest();
      const r = await installWithRestoreOnInstall(fresh, "never-backed-up/", "empty bucket");
      expect(r.helm.ok, r.helm.output).toBe(true);
      expect([r.outcome.condition, r.outcome.exitCode], r.logs).toEqual(["Complete", 0]);
      expect(r.logs).toMatch(/holds nothing beyond a fresh Infrahub/);
      expect(r.logs).toMatch(/nothing to restore: no backup archive found in .*never-backed-up/);
      expect(r.logs).toMatch(/skip_reason="?no-archive/);
      expect(await d.data.digest()).toBe(before);
    });

    // F1 (a fresh deployment, a backup in the bucket: `helm install` ends with the data restored) is F4's run
    // up to its kill: its first pod resolves the latest archive, the retry ends the install with its data.
    it("F4. the install-time restore's pod killed outright once the restored graph serves: its retry brings Infrahub back and restores the same archive again, not taking that data for data to keep", async (ctx) => {
      const fresh = d.fresh;
      const made = d.data.makeFresh();
      if (!fresh || !made)
        return ctx.skip("this driver cannot make a fresh deployment in a second namespace");
      expect(backupState.key, "scenario 5 left no archive").toBeDefined();
      await made;
      const { name, archive } = await copyBackupTo("oninstall-killed/");
      // An earlier install's hook Job of the same name stays until this install's hook replaces it.
      const earlier = new Set((await fresh.jobs("infrahub")).map((j) => j.uid));
      // `helm install` waits for the hook Job: it resolves once the retry has ended.
      const helm = fresh.install("infrahub", onInstall(fresh, "oninstall-killed/"));
      const job = await waitFor(
        "this install's hook Job",
        2 * MIN,
        async () => (await fresh.jobs("infrahub")).find((j) => !earlier.has(j.uid))?.name,
      );
      // The restored graph serves; PostgreSQL is switched in right after, the services not started yet (a
      // window of ~1 s): a probe of the deployment now finds data, this archive's.
      const killed = fresh.oomKill(job, /Neo4j serving database \w+ again/);
      if (!killed) return ctx.skip("this driver cannot kill a pod's processes");
      await killed;
      const killedAt = Date.now();
      // A newer archive meanwhile (the next scheduled backup of another deployment): not the one restored.
      await putNewerDamaged("oninstall-killed/", archive);
      const outcome = await fresh.waitForJobEnd(job, 5 * MIN);
      const logs = await fresh.logs(job);
      const installed = await helm;
      console.log(
        `acceptance: restore on install killed once the restored graph serves: Job ${outcome.condition} ${((Date.now() - killedAt) / 1000).toFixed(1)} s after the kill`,
      );
      const workloads = await fresh.workloads();
      const removed = await fresh.uninstall("infrahub");
      expect(removed.ok, removed.output).toBe(true);
      expect(installed.ok, installed.output).toBe(true);
      expect([outcome.condition, outcome.failedPods], logs).toEqual(["Complete", 1]);
      // Its data partly restored, the retry does not take it for data to keep.
      expect(logs).toMatch(/was killed after its last freshness check, while it restored/);
      expect(logs).not.toMatch(/skipped: /);
      expect(logs).toMatch(/taking over a stale operation lock .*restore by .*that process is gone/);
      expect(logs).toMatch(
        new RegExp(
          `Selected ${name.replaceAll(".", "\\.")}: the latest backup when this restore request was started`,
        ),
      );
      expect(logs).toMatch(/Restore completed successfully/);
      expect(await d.data.digest()).toBe(backupState.digest);
      for (const w of workloads) expect(w.readyReplicas, `${w.kind} ${w.name}`).toBe(w.replicas);
    });
  });

  describe("local storage", () => {
    it("14. local mode writes the archive to the configured path (emptyDir with sleep; PVC) and it can be read back", async (ctx) => {
      // emptyDir: the pod sleeps after the backup so the file can be copied out.
      await install("local-ed", plainBackup({ type: "local", path: "/infrahub_backups" }, { sleep: "10m" }));
      const job = await d.waitForJob("local-ed", 2 * MIN);
      const probe = d.readLocalArchives(job, "/infrahub_backups");
      if (!probe) return ctx.skip("this driver cannot read a pod's volumes");
      const fromEmptyDir = await waitFor(
        "the archive on the emptyDir",
        4 * MIN,
        async () => {
          const files = await d.readLocalArchives(job, "/infrahub_backups");
          return files && files.length > 0 ? files : undefined;
        },
        jobFailed("local-ed"),
      );
      expect(fromEmptyDir).toHaveLength(1);
      expect(fromEmptyDir[0]?.split("/").pop()).toMatch(ARCHIVE_NAME);
      const first = await verifyArchive(createReadStream(fromEmptyDir[0] as string));
      expect(first.ok, JSON.stringify(first.problems)).toBe(true);
      expect((await d.jobs("local-ed"))[0]?.active, "the pod should still be sleeping").toBe(1);
      await uninstall("local-ed");

      // PersistentVolumeClaim created by the chart: no sleep; the archive outlives the pod.
      const r = await runJob(
        "local-pvc",
        plainBackup({
          type: "local",
          path: "/infrahub_backups",
          local: { persistence: { enabled: true, size: "1Gi" } },
        }),
      );
      expect(r.outcome.condition, r.logs).toBe("Complete");
      expect(r.logs).not.toMatch(/Sleeping/);
      const fromClaim = (await d.readLocalArchives(r.job, "/infrahub_backups")) ?? [];
      expect(fromClaim).toHaveLength(1);
      const second = await verifyArchive(createReadStream(fromClaim[0] as string));
      expect(second.ok, JSON.stringify(second.problems)).toBe(true);
      await uninstall("local-pvc");
    });
  });

  describe("edge cases from the spec", () => {
    it("15. database unavailable: a connection error, and no partial backup anywhere", async () => {
      const neo4jStarts = await d.data.neo4jStarts();
      await d.data.takeDatabaseDown();
      let r: Awaited<ReturnType<typeof runJob>>;
      try {
        // One retry instead of the default two: the chart's failure policy (exit 7 is retried, counted) is what
        // is tested, and each retry waits out the Job controller's back-off (10 s, then 20 s).
        r = await runJob(
          "nodb-edge",
          mergeValues(plainBackup({ type: "s3", s3: s3("nodb-edge") }), {
            backup: { job: { backoffLimit: 1 } },
          }),
        );
      } finally {
        await d.data.bringDatabaseUp();
      }
      expect(r.outcome.condition).toBe("Failed");
      expect(r.outcome.exitCode).toBe(7);
      // A database outage may heal: the backup retry policy ran it 1 + backoffLimit times.
      expect([r.outcome.reason, r.outcome.failedPods]).toEqual(["BackoffLimitExceeded", 2]);
      expect(r.logs).toMatch(/connect|connection|unreachable|refused|unavailable/i);
      expect(await d.store.listKeys("nodb-edge/")).toEqual([]);
      expect(await d.store.pendingUploads("nodb-edge/")).toEqual([]);
      // Neo4j was never stopped for a dump that could not be completed.
      expect(await d.data.neo4jStarts()).toBe(neo4jStarts);
      await uninstall("nodb-edge");
    });

    it("16. a read-only bucket user: fails fast with a permission error", async () => {
      const neo4jStarts = await d.data.neo4jStarts();
      const r = await runJob(
        "s3-readonly",
        plainBackup({ type: "s3", s3: s3("readonly", { secretName: d.store.secrets.readonly }) }),
      );
      expect(r.outcome.condition).toBe("Failed");
      expect(r.outcome.exitCode).toBe(4);
      expect(r.logs).toMatch(/permission|access denied|AccessDenied/i);
      expect(r.elapsedMs, "install to failed Job").toBeLessThan(60_000);
      // Fast: refused before any database work (Neo4j untouched).
      expect(await d.data.neo4jStarts()).toBe(neo4jStarts);
      expect(await d.store.listKeys("readonly/")).toEqual([]);
      await uninstall("s3-readonly");
    });

    it("17. storage quota exceeded: fails with a storage error, existing backups intact", async () => {
      expect(backupState.archive, "scenario 5 left no archive").toBeDefined();
      const bucket = "quota";
      await d.store.createBucket(bucket);
      const existing = "kept/infrahub_backup_20000101_000000.tar.gz";
      await d.store.put(existing, backupState.archive as Buffer, bucket);
      await d.data.change("before-quota-backup");
      await d.store.setQuota(bucket, 1024);
      // No retries here (scenario 15 is about them).
      const r = await runJob(
        "quota",
        mergeValues(plainBackup({ type: "s3", s3: s3("new", { bucket }) }), {
          backup: { job: { backoffLimit: 0 } },
        }),
      );
      expect(r.outcome.condition).toBe("Failed");
      expect(r.outcome.exitCode).toBe(9);
      expect(r.logs).toMatch(/quota/i);
      expect(await d.store.listKeys("new/", bucket)).toEqual([]);
      expect((await d.store.get(existing, bucket)).equals(backupState.archive as Buffer)).toBe(true);
      await uninstall("quota");
    });

    it("18. a restore onto an instance with existing data overwrites it (documented as destructive)", () => {
      // Scenario 8 restored onto data changed after the backup, and its data equals the backup's; the
      // seed plan's `latest` shape of the same Job runs in F4 and in charts/tests/cli-contract-run.test.ts.
      expect(restoreRun?.outcome.condition, "scenario 8 did not restore").toBe("Complete");
      // The plan the Job printed before it changed anything says the graph is overwritten.
      expect(restoreRun?.logs).toMatch(/overwrit/i);
    });

    it("19. everything was configured with Helm values only: no other write to the cluster in any scenario", async (ctx) => {
      const writes = d.clusterWrites();
      if (!writes) return ctx.skip("this driver cannot read the API server's audit log");
      const { byHelm, others } = await writes;
      expect(byHelm, "the audit log saw no Helm writes: it did not record the scenarios").toBeGreaterThan(10);
      expect(others).toEqual([]);
    });

    it("20. the chart's Role is what the CLI used: no request of the backup identities was refused, none read a log, every rule was needed", async (ctx) => {
      const requests = d.backupIdentityRequests();
      if (!requests) return ctx.skip("this driver cannot read the API server's audit log");
      const seen = await requests;
      const used = [...new Set(seen.map((r) => `${r.resource} ${r.verb}`))].sort();
      console.log(`acceptance: the backup identities' requests (${seen.length}):\n  ${used.join("\n  ")}`);
      expect(seen.length, "no request of a backup identity was recorded").toBeGreaterThan(100);
      expect(seen.filter((r) => r.code === 403)).toEqual([]);
      expect(seen.filter((r) => r.resource.startsWith("pods/log"))).toEqual([]);
      expect(used).toEqual(expect.arrayContaining(ROLE_USES));
      // Nothing outside the Role's resources was even tried.
      expect(used.filter((u) => !ROLE_USES.includes(u))).toEqual([]);
    });
  });
}
