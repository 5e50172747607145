// Kubeconfig loading and the API client, against a real kube-apiserver (testkit's local cluster): each way
// kubectl authenticates (token, token file, client certificate, exec plugin, service account in a pod) must
// reach the API server as the identity it names, and each configuration the tool cannot use must say so.
import { chmod, copyFile, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type LocalCluster, startLocalCluster, tempDir } from "@infrahub-backup/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KubeApi, KubeApiError } from "../src/environment/kubernetes-api.js";
import {
  type KubeConfig,
  loadKubeConfig,
  SERVICE_ACCOUNT_DIR,
} from "../src/environment/kubernetes-config.js";
import { KubernetesDetector } from "../src/environment/kubernetes-detector.js";

const NS = "kubeconfig-test";
let cluster: LocalCluster;
let work: AsyncDisposable & { path: string };
let saToken: string;

/** A kubeconfig with one context `test` whose cluster and user entries are given as YAML lines. */
function kubeconfig(user: string[], options: { cluster?: string[]; current?: string } = {}): string {
  return [
    "apiVersion: v1",
    "kind: Config",
    `current-context: ${options.current ?? "test"}`,
    "clusters:",
    "- name: local",
    "  cluster:",
    `    server: ${cluster.server}`,
    ...(options.cluster ?? [`    certificate-authority: ${cluster.caFile}`]),
    "users:",
    "- name: tester",
    "  user:",
    ...user,
    "contexts:",
    "- name: test",
    "  context: {cluster: local, user: tester}",
    "",
  ].join("\n");
}

async function file(name: string, text: string): Promise<string> {
  const path = join(work.path, name);
  await writeFile(path, text, { mode: 0o600 });
  return path;
}

/** Loads a kubeconfig written to the work dir, with no environment (no KUBECONFIG, no HOME). */
async function configFrom(name: string, text: string): Promise<KubeConfig> {
  return loadKubeConfig({ kubeconfig: await file(name, text), env: {} });
}

/** Lists pods through the tool's own client (the identity may read them) and says which credential it sent. */
async function credentialSent(kubeconfigPath: string): Promise<string> {
  const config = loadKubeConfig({ kubeconfig: kubeconfigPath, env: {} });
  await new KubeApi(config).listNamespacedPod({ namespace: NS, limit: 1 });
  const options = await config.requestOptions();
  return options.headers.Authorization ? "bearer" : options.cert ? "certificate" : "anonymous";
}

beforeAll(async () => {
  cluster = await startLocalCluster();
  work = await tempDir("ihb-kubeconfig-");
  await cluster.kubectl(["create", "namespace", NS]);
  await cluster.kubectl(["-n", NS, "create", "serviceaccount", "reader"]);
  await cluster.kubectl(["-n", NS, "create", "role", "reader", "--verb=list,get", "--resource=pods"]);
  await cluster.kubectl([
    "-n",
    NS,
    "create",
    "rolebinding",
    "reader",
    "--role=reader",
    `--serviceaccount=${NS}:reader`,
  ]);
  saToken = await cluster.serviceAccountToken(NS, "reader");
}, 180_000);

afterAll(async () => {
  await work?.[Symbol.asyncDispose]();
  await cluster?.[Symbol.asyncDispose]();
}, 60_000);

describe("kubeconfig credentials reach the API server", () => {
  it("a token, a token file read at each request, and a client certificate given by relative paths", async () => {
    expect(await credentialSent(await file("token.yaml", kubeconfig([`    token: ${saToken}`])))).toBe(
      "bearer",
    );

    const tokenPath = await file("sa-token", "not-a-token");
    const viaFile = await configFrom("tokenfile.yaml", kubeconfig(["    tokenFile: sa-token"]));
    await expect(new KubeApi(viaFile).listNamespacedPod({ namespace: NS })).rejects.toMatchObject({
      code: 401,
    });
    await writeFile(tokenPath, `${saToken}\n`);
    expect((await new KubeApi(viaFile).listNamespacedPod({ namespace: NS })).items).toEqual([]);

    await copyFile(cluster.adminClientCert.cert, join(work.path, "admin.crt"));
    await copyFile(cluster.adminClientCert.key, join(work.path, "admin.key"));
    const certConfig = await file(
      "cert.yaml",
      kubeconfig(["    client-certificate: admin.crt", "    client-key: admin.key"]),
    );
    expect(await credentialSent(certConfig)).toBe("certificate");
    // The same certificate inline (*-data), as kind writes it; admin may list every namespace's pods.
    const inline = await configFrom(
      "cert-data.yaml",
      kubeconfig(
        [
          `    client-certificate-data: ${(await readFile(cluster.adminClientCert.cert)).toString("base64")}`,
          `    client-key-data: ${(await readFile(cluster.adminClientCert.key)).toString("base64")}`,
        ],
        {
          cluster: [`    certificate-authority-data: ${(await readFile(cluster.caFile)).toString("base64")}`],
        },
      ),
    );
    expect((await new KubeApi(inline).listPodForAllNamespaces()).kind).toBe("PodList");
  });

  it("an exec plugin: run as kubectl runs it (env, cluster info, not interactive), its credential kept until it expires", async () => {
    const calls = join(work.path, "plugin-calls");
    await writeFile(calls, "");
    // A real plugin program (relative command path, resolved against the kubeconfig's directory).
    await mkdir(join(work.path, "bin"), { recursive: true });
    const plugin = join(work.path, "bin", "issue-token");
    await writeFile(
      plugin,
      [
        "#!/bin/sh",
        `printf '%s\\n' "$KUBERNETES_EXEC_INFO" >> "${calls}"`,
        '[ "$PLUGIN_GREETING" = hello ] || { echo "PLUGIN_GREETING missing" >&2; exit 3; }',
        // kubectl's own environment reaches the plugin (cloud plugins need HOME and PATH).
        '[ -n "$HOME" ] && [ -n "$PATH" ] || { echo "HOME or PATH missing" >&2; exit 4; }',
        `printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"%s"%s}}' "$(cat "${join(work.path, "plugin-token")}")" "$EXPIRY"`,
        "",
      ].join("\n"),
    );
    await chmod(plugin, 0o755);
    await writeFile(join(work.path, "plugin-token"), saToken);
    const execUser = (expiry: string) => [
      "    exec:",
      "      apiVersion: client.authentication.k8s.io/v1",
      "      command: ./bin/issue-token",
      "      provideClusterInfo: true",
      "      interactiveMode: Never",
      "      env:",
      "      - {name: PLUGIN_GREETING, value: hello}",
      `      - {name: EXPIRY, value: '${expiry}'}`,
    ];
    const config = await configFrom("exec.yaml", kubeconfig(execUser("")));
    const api = new KubeApi(config);
    await api.listNamespacedPod({ namespace: NS });
    await api.listNamespacedPod({ namespace: NS });
    const infos = (await readFile(calls, "utf8"))
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(infos).toHaveLength(1); // no expiry: issued once for the process
    expect(infos[0]).toMatchObject({
      apiVersion: "client.authentication.k8s.io/v1",
      kind: "ExecCredential",
      spec: {
        interactive: false,
        // The CA given as a file is sent as data, as client-go does.
        cluster: {
          server: cluster.server,
          "certificate-authority-data": (await readFile(cluster.caFile)).toString("base64"),
        },
      },
    });

    // Already expired: run again for each request.
    await writeFile(calls, "");
    const expiring = await configFrom(
      "exec-expiring.yaml",
      kubeconfig(execUser(',"expirationTimestamp":"2020-01-01T00:00:00Z"')),
    );
    await new KubeApi(expiring).listNamespacedPod({ namespace: NS });
    await new KubeApi(expiring).listNamespacedPod({ namespace: NS });
    expect((await readFile(calls, "utf8")).trim().split("\n")).toHaveLength(2);
  });

  it("an exec credential without an expiry that the API server refuses (revoked) is dropped and the plugin run again, once per refusal", async () => {
    const calls = join(work.path, "rotating-calls");
    const tokenFile = join(work.path, "rotating-token");
    await writeFile(calls, "");
    let current: string | undefined;
    const recreate = async () => {
      // A ServiceAccount deleted and made again: its earlier tokens are refused (401); the RoleBinding,
      // by name, binds the new one.
      await cluster.kubectl(["-n", NS, "delete", "serviceaccount", "rotating", "--ignore-not-found"]);
      await cluster.kubectl(["-n", NS, "create", "serviceaccount", "rotating"]);
      const revoked = current;
      current = await cluster.serviceAccountToken(NS, "rotating");
      if (revoked) {
        // The API server keeps a token it accepted for up to 10 s: until the revoked one is refused.
        const old = new KubeApi(await configFrom("revoked.yaml", kubeconfig([`    token: ${revoked}`])));
        const deadline = Date.now() + 30_000;
        while (
          await old.listNamespacedPod({ namespace: NS }).then(
            () => true,
            () => false,
          )
        ) {
          if (Date.now() > deadline) throw new Error("the revoked token is still accepted after 30 s");
          await new Promise((r) => setTimeout(r, 500));
        }
      }
      return current;
    };
    await cluster.kubectl([
      "-n",
      NS,
      "create",
      "rolebinding",
      "rotating",
      "--role=reader",
      `--serviceaccount=${NS}:rotating`,
    ]);
    await writeFile(tokenFile, await recreate());
    const config = await configFrom(
      "exec-rotating.yaml",
      kubeconfig([
        "    exec:",
        "      apiVersion: client.authentication.k8s.io/v1",
        "      command: sh",
        "      args:",
        "      - -c",
        `      - echo run >> '${calls}'; printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"%s"}}' "$(cat '${tokenFile}')"`,
      ]),
    );
    const api = new KubeApi(config);
    const runs = async () => (await readFile(calls, "utf8")).trim().split("\n").length;
    await api.listNamespacedPod({ namespace: NS });
    await api.listNamespacedPod({ namespace: NS });
    expect(await runs()).toBe(1);

    // Revoked mid-run, the plugin now issuing the new token: the refused call is made again with it.
    await writeFile(tokenFile, await recreate());
    await api.listNamespacedPod({ namespace: NS });
    expect(await runs()).toBe(2);

    // Revoked again, and the plugin only issues what the API server refuses: one more run, then the 401.
    await recreate();
    await writeFile(tokenFile, "not-a-token");
    const refused = await api.listNamespacedPod({ namespace: NS }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(KubeApiError);
    expect((refused as KubeApiError).code).toBe(401);
    expect(await runs()).toBe(3);
  });

  it("a failing exec plugin: INVALID_CONFIG with the plugin's last line and its install hint", async () => {
    const config = await configFrom(
      "exec-fails.yaml",
      kubeconfig([
        "    exec:",
        "      apiVersion: client.authentication.k8s.io/v1",
        "      command: sh",
        "      args: ['-c', 'echo step one >&2; echo token expired, log in again >&2; exit 1']",
        "      installHint: install the login helper",
      ]),
    );
    await expect(new KubeApi(config).listNamespacedPod({ namespace: NS })).rejects.toMatchObject({
      code: "INVALID_CONFIG",
      message: expect.stringMatching(
        /credential plugin "sh" of user "tester" failed \(exit status 1\): token expired, log in again$/,
      ),
      hint: "install the login helper",
    });
    // Environment detection says the same, instead of "no Infrahub here" (which would try the next kind).
    await expect(
      new KubernetesDetector({ kubeconfig: join(work.path, "exec-fails.yaml"), env: {} }).detect({}),
    ).rejects.toMatchObject({ code: "INVALID_CONFIG", hint: "install the login helper" });
    const missing = await configFrom(
      "exec-missing.yaml",
      kubeconfig(["    exec:", "      command: no-such-plugin-ihb"]),
    );
    await expect(new KubeApi(missing).listNamespacedPod({ namespace: NS })).rejects.toMatchObject({
      code: "INVALID_CONFIG",
      message: expect.stringContaining("could not run"),
    });
    // Output that is not an ExecCredential is not repeated: it may be a bare token.
    const raw = await configFrom(
      "exec-raw.yaml",
      kubeconfig(["    exec:", "      command: sh", `      args: ['-c', 'echo ${saToken}']`]),
    );
    const refused = await new KubeApi(raw).listNamespacedPod({ namespace: NS }).catch((e: unknown) => e);
    expect(refused).toMatchObject({
      code: "INVALID_CONFIG",
      message: expect.stringContaining("printed no ExecCredential"),
    });
    expect(JSON.stringify({ ...(refused as object), message: (refused as Error).message })).not.toContain(
      saToken.slice(0, 12),
    );
  });

  it("kubectl's impersonation (as, as-groups): the API server acts as that user", async () => {
    await copyFile(cluster.adminClientCert.cert, join(work.path, "imp.crt"));
    await copyFile(cluster.adminClientCert.key, join(work.path, "imp.key"));
    const config = await configFrom(
      "impersonate.yaml",
      kubeconfig([
        "    client-certificate: imp.crt",
        "    client-key: imp.key",
        `    as: system:serviceaccount:${NS}:reader`,
        "    as-groups: [system:serviceaccounts, system:authenticated]",
      ]),
    );
    const api = new KubeApi(config);
    expect((await api.listNamespacedPod({ namespace: NS })).items).toEqual([]);
    // The reader may not list pods cluster-wide; the certificate's own identity (system:masters) could.
    await expect(api.listPodForAllNamespaces()).rejects.toMatchObject({
      code: 403,
      message: expect.stringContaining(`system:serviceaccount:${NS}:reader`),
    });
  });

  it("an oidc id-token is checked at each request: one that expires during a run is refused from then on", async () => {
    const config = await configFrom(
      "oidc-soon.yaml",
      kubeconfig([
        "    auth-provider:",
        "      name: oidc",
        `      config: {id-token: ${jwt({ exp: Math.ceil(Date.now() / 1000) + 2 })}}`,
      ]),
    );
    // In date: sent, and refused by this API server (no OIDC issuer configured).
    await expect(new KubeApi(config).listNamespacedPod({ namespace: NS })).rejects.toMatchObject({
      code: 401,
    });
    await new Promise((r) => setTimeout(r, 3_000));
    await expect(new KubeApi(config).listNamespacedPod({ namespace: NS })).rejects.toMatchObject({
      code: "INVALID_CONFIG",
      message: expect.stringContaining("OIDC id-token has expired"),
    });
  });

  it("in a pod: the service account's token, CA and the address in KUBERNETES_SERVICE_HOST/PORT", async () => {
    await using root = await tempDir("ihb-incluster-");
    const saDir = join(root.path, SERVICE_ACCOUNT_DIR);
    await mkdir(saDir, { recursive: true });
    await writeFile(join(saDir, "token"), saToken);
    await copyFile(cluster.caFile, join(saDir, "ca.crt"));
    const server = new URL(cluster.server);
    const config = loadKubeConfig({
      inClusterRoot: root.path,
      env: {
        KUBERNETES_SERVICE_HOST: server.hostname,
        KUBERNETES_SERVICE_PORT: server.port,
        HOME: root.path,
      },
    });
    expect(config.server).toBe(cluster.server);
    expect((await new KubeApi(config).listNamespacedPod({ namespace: NS })).items).toEqual([]);
    // Rotated by the kubelet: the next request reads the new token.
    await writeFile(join(saDir, "token"), "rotated-but-wrong");
    await expect(new KubeApi(config).listNamespacedPod({ namespace: NS })).rejects.toBeInstanceOf(
      KubeApiError,
    );
  });
});

describe("kubeconfig files", () => {
  it("KUBECONFIG's files merge as kubectl merges them: the first to name an entry or a current context wins", async () => {
    const first = await file(
      "merge-1.yaml",
      [
        "apiVersion: v1",
        "kind: Config",
        "current-context: second",
        "users:",
        "- name: tester",
        "  user:",
        `    token: ${saToken}`,
        "",
      ].join("\n"),
    );
    const second = await file(
      "merge-2.yaml",
      kubeconfig(["    token: overridden-by-the-first-file"], { current: "test" }).replace(
        "- name: test\n",
        "- name: second\n",
      ),
    );
    const merged = loadKubeConfig({
      kubeconfig: `${first}:${join(work.path, "absent.yaml")}:${second}`,
      env: {},
    });
    expect(merged.contextName).toBe("second");
    expect((await new KubeApi(merged).listNamespacedPod({ namespace: NS })).items).toEqual([]);
  });

  it("what cannot be used is INVALID_CONFIG or ENVIRONMENT_NOT_FOUND with a hint, never a secret", async () => {
    const token = `    token: ${saToken}`;
    const cases: [string, string, RegExp][] = [
      ["no-context.yaml", kubeconfig([token], { current: "elsewhere" }), /no context "elsewhere"/],
      [
        "proxy.yaml",
        kubeconfig([token], { cluster: ["    proxy-url: http://127.0.0.1:3128"] }),
        /sets proxy-url, which infrahub-backup does not support/,
      ],
      [
        "gcp.yaml",
        kubeconfig([
          "    auth-provider:",
          "      name: gcp",
          "      config: {access-token: secret-gcp-token}",
        ]),
        /auth-provider "gcp", which infrahub-backup does not support/,
      ],
      [
        "oidc.yaml",
        kubeconfig([
          "    auth-provider:",
          "      name: oidc",
          `      config: {id-token: ${jwt({ exp: 1_600_000_000 })}, refresh-token: secret-refresh}`,
        ]),
        /OIDC id-token has expired/,
      ],
      [
        // js-yaml quotes the lines around a fault: the token two lines above must not come along.
        "not-yaml.yaml",
        `users:\n- name: a\n  user:\n    token: ${saToken}\n    bad: [unclosed\n`,
        /cannot load the Kubernetes configuration: .*not-yaml.yaml is not valid YAML: .*\(line \d+, column \d+\)/,
      ],
    ];
    for (const [name, text, message] of cases) {
      let caught: unknown;
      try {
        await configFrom(name, text);
      } catch (error) {
        caught = error;
      }
      expect(caught, name).toMatchObject({ code: "INVALID_CONFIG", message: expect.stringMatching(message) });
      const said = JSON.stringify({ ...(caught as object), message: (caught as Error).message });
      for (const secret of [saToken, "secret-gcp-token", "secret-refresh"])
        expect(said, name).not.toContain(secret);
    }
    expect(() => loadKubeConfig({ kubeconfig: join(work.path, "absent.yaml"), env: {} })).toThrow(
      expect.objectContaining({ code: "ENVIRONMENT_NOT_FOUND", hint: "check KUBECONFIG" }),
    );
    expect(() => loadKubeConfig({ env: { HOME: work.path } })).toThrow(
      expect.objectContaining({ code: "ENVIRONMENT_NOT_FOUND" }),
    );
  });

  it("an oidc id-token still in date is sent as the bearer token (the API server decides: 401 here, no OIDC issuer)", async () => {
    const config = await configFrom(
      "oidc-valid.yaml",
      kubeconfig([
        "    auth-provider:",
        "      name: oidc",
        `      config: {id-token: ${jwt({ exp: 4_000_000_000 })}}`,
      ]),
    );
    await expect(new KubeApi(config).listNamespacedPod({ namespace: NS })).rejects.toMatchObject({
      code: 401,
    });
  });

  it("refusals carry the HTTP status and the API server's own message", async () => {
    const api = new KubeApi(loadKubeConfig({ kubeconfig: cluster.adminKubeconfig, env: {} }));
    const missing = await api
      .readNamespacedLease({ name: "no-such-lease", namespace: NS })
      .catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(KubeApiError);
    expect(missing).toMatchObject({
      code: 404,
      message: 'leases.coordination.k8s.io "no-such-lease" not found',
    });
    // A write with a precondition that fails: 409 from the server, as the lease code expects.
    const lease = await api.createNamespacedLease({
      namespace: NS,
      body: { metadata: { name: "probe" }, spec: { holderIdentity: "test" } },
    });
    const conflict = await api
      .replaceNamespacedLease({
        name: "probe",
        namespace: NS,
        body: { ...lease, metadata: { ...lease.metadata, resourceVersion: "1" } },
      })
      .catch((e: unknown) => e);
    expect(conflict).toMatchObject({ code: 409 });
    await api.deleteNamespacedLease({
      name: "probe",
      namespace: NS,
      body: { preconditions: { resourceVersion: lease.metadata?.resourceVersion ?? "" } },
    });
    await expect(api.readNamespacedLease({ name: "probe", namespace: NS })).rejects.toMatchObject({
      code: 404,
    });
  });
});

/** An unsigned JWT with the given payload (only its `exp` is read client-side). */
function jwt(payload: object): string {
  const part = (o: object) => Buffer.from(JSON.stringify(o)).toString("base64url");
  return `${part({ alg: "none", typ: "JWT" })}.${part(payload)}.`;
}
