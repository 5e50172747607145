// The chart ↔ CLI contract, at the level available today: every rendered pod's args and env (Secret
// refs and the namespace fieldRef resolved) go through the CLI's own side-effect-free parser
// (packages/cli/src/parse.ts), and the parsed command must be what the values say. cli-contract-run.test.ts
// runs the backup and restore pods' command lines for real against a local stack.
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { type ParsedCommand, parseCommandLine } from "../../packages/cli/src/parse.ts";
import { ciValuesFiles, container, type K8sObject, render } from "./helm.ts";

const NAMESPACE = "infrahub";
const JOB_UID = "0b5c3f7e-2d1a-4c8e-9f60-7a1d2e3b4c5d";

function resolveEnv(obj: K8sObject): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of container(obj).env ?? []) {
    if (e.value !== undefined) env[e.name] = String(e.value);
    else if (e.valueFrom?.fieldRef?.fieldPath === "metadata.namespace") env[e.name] = NAMESPACE;
    // The Job controller's label on its pods (a UUID), as the kubelet resolves it.
    else if (e.valueFrom?.fieldRef?.fieldPath === "metadata.labels['batch.kubernetes.io/controller-uid']")
      env[e.name] = JOB_UID;
    else if (e.valueFrom?.secretKeyRef)
      env[e.name] = `secret:${e.valueFrom.secretKeyRef.name}/${e.valueFrom.secretKeyRef.key}`;
    else if (e.valueFrom?.configMapKeyRef) env[e.name] = `configmap:${e.valueFrom.configMapKeyRef.name}`;
    else throw new Error(`unresolvable env ${e.name}`);
  }
  return env;
}

function parsePod(obj: K8sObject): ParsedCommand {
  const res = parseCommandLine(container(obj).args, { env: resolveEnv(obj), cwd: "/", version: "0.1.0" });
  if (res.kind !== "command") throw new Error(`the CLI printed instead of running: ${res.text}`);
  return res.command;
}

function durationMs(v: string | undefined | null): number {
  if (!v) return 0;
  const m = /^(\d+)(s|m|h)$/.exec(v);
  if (!m) throw new Error(`test helper: unsupported duration ${v}`);
  return Number(m[1]) * { s: 1000, m: 60_000, h: 3_600_000 }[m[2] as "s" | "m" | "h"];
}

// biome-ignore lint/suspicious/noExplicitAny: free-form values
type V = any;
const scenarios: [string, V][] = [
  ...ciValuesFiles().map((f): [string, V] => [basename(f), parse(readFileSync(f, "utf8"))]),
  ["restore-local-emptydir", { restore: { enabled: true, storage: { type: "local" } } }],
  [
    "restore-local-claim-latest",
    {
      restore: {
        enabled: true,
        storage: {
          type: "local",
          local: { latest: true, persistence: { enabled: true, existingClaim: "c" } },
        },
      },
    },
  ],
  [
    "backup-encrypted-to-a-key-secret-waiting-5m",
    {
      backup: {
        enabled: true,
        storage: { s3: { bucket: "bkt" } },
        options: { waitReady: "5m" },
        encryption: { keySecret: { name: "pub", key: "backup.pub" } },
      },
    },
  ],
  [
    "backup-encrypted-built-in",
    { backup: { enabled: true, storage: { s3: { bucket: "bkt" } }, encryption: { enabled: true } } },
  ],
  [
    "restore-encrypted-no-wait",
    {
      restore: {
        enabled: true,
        s3: { bucket: "bkt", key: "k.tar.gz.enc" },
        options: { waitReady: "" },
        decryption: { keySecret: { name: "priv" } },
      },
    },
  ],
  [
    "restore-cronjob-latest",
    { restore: { enabled: true, mode: "cronjob", storage: { s3: { bucket: "bkt", latest: true } } } },
  ],
  [
    "backup-with-ca-and-insecure",
    {
      backup: {
        enabled: true,
        storage: { s3: { bucket: "bkt", caBundle: { configMapName: "ca" }, insecureTLS: true } },
      },
    },
  ],
];

/** The chart's defaults merged with a scenario's values, for the expectations. */
function effective(values: V): V {
  const defaults = parse(readFileSync(new URL("../infrahub-backup/values.yaml", import.meta.url), "utf8"));
  const merge = (a: V, b: V): V => {
    if (b === undefined) return a;
    if (a && b && typeof a === "object" && typeof b === "object" && !Array.isArray(a) && !Array.isArray(b)) {
      const out: V = { ...a };
      for (const [k, v] of Object.entries(b)) out[k] = merge(a[k], v);
      return out;
    }
    return b;
  };
  const v = merge(defaults, values);
  for (const [k, val] of Object.entries(v.restore.s3 ?? {})) if (val) v.restore.storage.s3[k] = val;
  return v;
}

describe("chart ↔ CLI contract: the CLI parses every rendered pod into the command the values describe", () => {
  it.each(scenarios)("%s", (_name, values) => {
    const v = effective(values);
    const workloads = render(values).filter((o) => ["Job", "CronJob", "Pod"].includes(o.kind));
    expect(workloads.length).toBeGreaterThan(0);
    for (const w of workloads) {
      const cmd = parsePod(w);
      expect(cmd.global.k8sNamespace).toBe(NAMESPACE);
      const component = w.metadata.labels["app.kubernetes.io/component"];
      if (component === "backup") {
        if (cmd.command !== "create") throw new Error(`expected create, got ${cmd.command}`);
        const st = v.backup.storage;
        const o = v.backup.options;
        expect(cmd.force).toBe(Boolean(o.force));
        expect(cmd.excludeTaskManager).toBe(Boolean(o.excludeTaskmanager));
        expect(cmd.neo4jMetadata).toBe(o.neo4jMetadata);
        expect(cmd.global.backupDir).toBe(st.path);
        if (st.type === "s3") {
          expect(cmd.s3Upload).toBe(true);
          expect(cmd.s3KeepLocal).toBe(Boolean(o.keepLocal));
          expect(cmd.global.s3).toMatchObject({
            bucket: st.s3.bucket,
            prefix: st.s3.prefix || undefined,
            endpoint: st.s3.endpoint || undefined,
            region: st.s3.region,
            insecureTls: Boolean(st.s3.insecureTLS),
          });
          const ca = st.s3.caBundle;
          expect(cmd.global.s3.caBundle).toBe(
            ca.secretName || ca.configMapName ? `/etc/infrahub-backup/s3-ca/${ca.key}` : undefined,
          );
          expect(cmd.sleepMs).toBe(0);
        } else {
          expect(cmd.s3Upload).toBe(false);
          expect(cmd.sleepMs).toBe(st.local.persistence.enabled ? 0 : durationMs(o.sleep));
        }
        if (o.extraArgs?.includes("--retention-count=14")) expect(cmd.retentionCount).toBe(14);
        expect(cmd.waitReadyMs).toBe(durationMs(o.waitReady));
        const enc = v.backup.encryption;
        expect(cmd.encrypt).toBe(Boolean(enc.enabled || enc.keySecret.name));
        expect(cmd.encryptKey).toBe(
          enc.keySecret.name ? `/etc/infrahub-backup/keys/${enc.keySecret.key}` : undefined,
        );
      } else if (component === "restore") {
        if (cmd.command !== "restore") throw new Error(`expected restore, got ${cmd.command}`);
        const st = v.restore.storage;
        expect(cmd.yes).toBe(true);
        expect(cmd.dryRun).toBe(false);
        expect(cmd.migrateFormat).toBe(Boolean(v.restore.options.migrateFormat));
        expect(cmd.excludeTaskManager).toBe(Boolean(v.restore.options.excludeTaskmanager));
        expect(cmd.waitReadyMs).toBe(durationMs(v.restore.options.waitReady));
        // A plain one-shot Job restores its request once; a scheduled restore or a hook has no request id.
        expect(cmd.requestId).toBe(
          w.kind === "Job" && !v.restore.job.helmHook
            ? w.metadata.annotations["infrahub-backup/request-hash"]
            : undefined,
        );
        const dec = v.restore.decryption.keySecret;
        expect(cmd.decryptKey).toBe(dec.name ? `/etc/infrahub-backup/keys/${dec.key}` : undefined);
        if (st.type === "s3" && st.s3.latest) {
          expect(cmd.source).toEqual({ kind: "latest", s3: true });
          expect(cmd.global.s3).toMatchObject({ bucket: st.s3.bucket, prefix: st.s3.prefix || undefined });
        } else if (st.type === "s3") {
          expect(cmd.source).toEqual({ kind: "s3", uri: `s3://${st.s3.bucket}/${st.s3.key}` });
          expect(cmd.global.s3.endpoint).toBe(st.s3.endpoint || undefined);
        } else if (st.local.latest) {
          expect(cmd.source).toEqual({ kind: "latest", s3: false });
          expect(cmd.global.backupDir).toBe(st.path);
        } else {
          expect(cmd.source).toEqual({ kind: "path", path: `${st.path}/${st.local.filename}` });
          expect(cmd.sleepMs).toBe(durationMs(v.restore.options.sleep));
        }
      } else if (component === "restore-on-install") {
        if (cmd.command !== "restore") throw new Error(`expected restore, got ${cmd.command}`);
        const o = v.restoreOnInstall;
        const s3 = v.restore.storage.s3.bucket ? v.restore.storage.s3 : v.backup.storage.s3;
        expect(cmd.onlyIfFresh).toBe(true);
        expect(cmd.source).toEqual({ kind: "latest", s3: true });
        expect(cmd.global.s3).toMatchObject({ bucket: s3.bucket, prefix: s3.prefix || undefined });
        expect(cmd.waitReadyMs).toBe(durationMs(o.waitReady));
        expect(cmd.excludeTaskManager).toBe(Boolean(o.excludeTaskmanager));
        // Its Job's uid: the same request for the Job's retry, a new one for each install.
        expect([cmd.requestId, cmd.dryRun, cmd.yes]).toEqual([JOB_UID, false, true]);
      } else if (component === "drill") {
        if (cmd.command !== "drill") throw new Error(`expected drill, got ${cmd.command}`);
        const d = v.drill;
        expect(cmd.source).toEqual({ kind: "latest", s3: true });
        expect(cmd.global.s3).toMatchObject({
          bucket: v.backup.storage.s3.bucket,
          prefix: v.backup.storage.s3.prefix || undefined,
        });
        // The databases run in the pod's other containers: no local installation is named.
        expect(cmd.exchangeDir).toBe("/drill");
        expect([cmd.neo4jHome, cmd.pgBin]).toEqual([undefined, undefined]);
        expect(cmd.agentTimeoutMs).toBe(durationMs(d.agentTimeout));
        expect(cmd.startTimeoutMs).toBe(durationMs(d.startTimeout));
        expect([cmd.neo4jHeap, cmd.neo4jPageCache]).toEqual([d.neo4j.heap, d.neo4j.pageCache]);
        expect(cmd.excludeTaskManager).toBe(Boolean(d.excludeTaskManager));
        const dec = v.restore.decryption.keySecret;
        expect(cmd.decryptKey).toBe(dec.name ? `/etc/infrahub-backup/keys/${dec.key}` : undefined);
        expect(cmd.checks).toHaveLength(d.extraArgs.filter((a: string) => a.startsWith("--check-")).length);
      } else if (component === "test") {
        if (cmd.command !== "list") throw new Error(`expected list, got ${cmd.command}`);
        expect(cmd.s3).toBe(true);
        expect(cmd.global.s3.bucket).toBeTruthy();
      } else {
        throw new Error(`unexpected workload ${w.kind}/${w.metadata.name}`);
      }
    }
  });
});

describe("the contract check is not vacuous", () => {
  const ctx = { env: { INFRAHUB_K8S_NAMESPACE: NAMESPACE }, cwd: "/", version: "0.1.0" };
  it("an unknown flag or a missing source is refused by the parser", () => {
    expect(() => parseCommandLine(["create", "--neo4jmetadata=all", "--s3-uplaod"], ctx)).toThrow();
    expect(() => parseCommandLine(["restore", "--yes"], ctx)).toThrow(/requires exactly 1 arg/);
  });
  it("without the chart's --yes a restore would not be confirmed", () => {
    const res = parseCommandLine(["restore", "s3://b/k"], ctx);
    expect(res.kind === "command" && res.command.command === "restore" && res.command.yes).toBe(false);
  });
});

describe("monitoring env (issue 24) is what the CLI reads", () => {
  const secrets: Record<string, string> = {
    "secret:pgw/user": "ops",
    "secret:pgw/pass": "pgw-password",
    "secret:pgw/token": "pgw-token",
    "secret:hooks/urls": "https://hooks.example/T1/a, https://chat.example/hooks/b\nhttps://third.example/c",
  };
  const parsedMonitoring = (values: V) =>
    render(values)
      .filter((o) => o.kind === "Job" || o.kind === "CronJob")
      .map((w) => {
        const env = Object.fromEntries(Object.entries(resolveEnv(w)).map(([k, v]) => [k, secrets[v] ?? v]));
        const res = parseCommandLine(container(w).args, { env, cwd: "/", version: "0.1.0" });
        if (res.kind !== "command" || !("monitoring" in res.command))
          throw new Error("no monitoring options");
        return res.command.monitoring;
      });

  it("basic auth and webhooks from Secrets, notifyOn always: every backup and restore pod", () => {
    const monitoring = {
      metrics: {
        pushgateway: {
          url: "http://pgw.monitoring:9091",
          auth: { secretName: "pgw", usernameKey: "user", passwordKey: "pass" },
        },
      },
      notifications: { webhook: { secretName: "hooks" }, notifyOn: "always" },
    };
    const all = [
      ...parsedMonitoring({
        ...monitoring,
        backup: { enabled: true, mode: "cronjob", storage: { s3: { bucket: "bkt" } } },
      }),
      ...parsedMonitoring({ ...monitoring, restore: { enabled: true, s3: { bucket: "bkt", latest: true } } }),
    ];
    expect(all).toHaveLength(2);
    for (const m of all) {
      expect(m.pushgateway).toEqual({
        url: "http://pgw.monitoring:9091",
        auth: { kind: "basic", username: "ops", password: "pgw-password" },
      });
      expect(m.webhooks).toEqual([
        "https://hooks.example/T1/a",
        "https://chat.example/hooks/b",
        "https://third.example/c",
      ]);
      expect(m.notifyOn).toBe("always");
    }
  });

  it("a bearer token; no monitoring values means no push and no webhook", () => {
    const [bearer] = parsedMonitoring({
      metrics: {
        pushgateway: { url: "https://pgw.example", auth: { secretName: "pgw", bearerTokenKey: "token" } },
      },
      backup: { enabled: true, storage: { s3: { bucket: "bkt" } } },
    });
    expect(bearer?.pushgateway?.auth).toEqual({ kind: "bearer", token: "pgw-token" });
    const [none] = parsedMonitoring({ backup: { enabled: true, storage: { s3: { bucket: "bkt" } } } });
    expect(none?.pushgateway).toBeUndefined();
    expect(none?.webhooks).toEqual([]);
    expect(none?.notifyOn).toBe("failure");
  });
});
