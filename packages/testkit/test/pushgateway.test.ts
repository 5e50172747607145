import { describe, expect, it } from "vitest";
import { parseExposition, startPushgateway } from "../src/index.js";

describe("startPushgateway", () => {
  it("serves pushed series on /metrics and stops on dispose", async () => {
    let url: string;
    {
      await using gateway = await startPushgateway();
      url = gateway.url;
      const push = await fetch(`${gateway.url}/metrics/job/testkit/instance/a`, {
        method: "POST",
        body: "# TYPE testkit_value gauge\ntestkit_value 42\n",
      });
      expect(push.status).toBe(200);
      expect(await gateway.samples("testkit_value")).toEqual([
        { name: "testkit_value", labels: { instance: "a", job: "testkit" }, value: 42 },
      ]);
    }
    await expect(fetch(`${url}/-/ready`)).rejects.toThrow();
  });

  it("with basicAuth refuses a request without the credentials", async () => {
    await using gateway = await startPushgateway({ basicAuth: true });
    expect((await fetch(`${gateway.url}/metrics`)).status).toBe(401);
    expect(await gateway.scrape()).toContain("pushgateway_build_info");
  });
});

describe("parseExposition", () => {
  it("reads labels with escapes and skips comments", () => {
    expect(parseExposition('# HELP x y\nx{a="q\\"b",c="d\\\\"} 1.5\ny 2 1700000000\n')).toEqual([
      { name: "x", labels: { a: 'q"b', c: "d\\" }, value: 1.5 },
      { name: "y", labels: {}, value: 2 },
    ]);
  });
});
