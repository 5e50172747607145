import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type ContainerSandbox,
  createContainerSandbox,
  type LocalCluster,
  startLocalCluster,
} from "../src/index.js";

describe("local cluster", () => {
  let cluster: LocalCluster;
  let sandbox: ContainerSandbox;
  beforeAll(async () => {
    const t0 = Date.now();
    cluster = await startLocalCluster();
    console.log(`cluster up in ${Date.now() - t0} ms`);
    sandbox = await createContainerSandbox({ name: "web", env: { APP: "x" } });
  });
  afterAll(async () => {
    await cluster?.[Symbol.asyncDispose]();
    await sandbox?.[Symbol.asyncDispose]();
  });

  it("execs into a deployment pod", async () => {
    await cluster.createNamespace("demo");
    await cluster.bindSandboxes({
      namespace: "demo",
      selector: { app: "web" },
      containers: { web: sandbox },
    });
    await cluster.apply({
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "web", namespace: "demo" },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: "web" } },
        template: {
          metadata: { labels: { app: "web" } },
          spec: { containers: [{ name: "web", image: "fake" }] },
        },
      },
    });
    await cluster.waitForReady("demo");
    const pods = await cluster.kubectl(["get", "pods", "-n", "demo", "-o", "name"]);
    const pod = pods.stdout.trim().split("\n")[0] ?? "";
    const result = await cluster.kubectl(["exec", "-n", "demo", pod, "--", "env"], { allowFailure: true });
    console.log(result);
    expect(result.stdout).toContain("APP=x");
  });
});
