import { AppServiceStandIn, tempDir } from "@infrahub-backup/testkit";
import { describe, expect, it } from "vitest";
import { LocalEnvironment } from "./local-environment.js";
import { APP_START_ORDER, APP_STOP_ORDER } from "./services.js";

describe("LocalEnvironment stop/start (real processes)", () => {
  it("stops running services in order and brings back exactly those", async () => {
    await using logs = await tempDir("ihb-env-");
    const server = new AppServiceStandIn("infrahub-server", logs.path);
    const worker = new AppServiceStandIn("task-worker", logs.path);
    const idle = new AppServiceStandIn("task-manager", logs.path);
    await server.start();
    await worker.start();
    const env = new LocalEnvironment({
      services: {
        "infrahub-server": { control: server },
        "task-worker": { control: worker },
        "task-manager": { control: idle },
      },
      neo4j: { pidFile: "/nonexistent" },
    });
    try {
      const stopped = await env.stop(APP_STOP_ORDER);
      expect(stopped.services).toEqual(["infrahub-server", "task-worker"]);
      expect(server.isRunning() || worker.isRunning()).toBe(false);
      await env.start(stopped, APP_START_ORDER);
      expect(server.isRunning() && worker.isRunning()).toBe(true);
      expect(idle.isRunning()).toBe(false);
    } finally {
      await server.stop();
      await worker.stop();
    }
  });

  it("a service that cannot be stopped leaves nothing half-stopped: the ones stopped before it are started again", async () => {
    await using logs = await tempDir("ihb-env-");
    const server = new AppServiceStandIn("infrahub-server", logs.path);
    await server.start();
    // A control whose stop fails, as a process manager refusing the request would.
    const stubborn = {
      isRunning: () => true,
      stop: async () => Promise.reject(new Error("permission denied")),
      start: async () => {},
    };
    const env = new LocalEnvironment({
      services: { "infrahub-server": { control: server }, "task-worker": { control: stubborn } },
      neo4j: { pidFile: "/nonexistent" },
    });
    try {
      await expect(env.stop(APP_STOP_ORDER)).rejects.toMatchObject({ code: "SERVICES_NOT_RESTORED" });
      expect(server.isRunning()).toBe(true);
      expect(server.stops).toBe(1);
    } finally {
      await server.stop();
    }
  });
});
