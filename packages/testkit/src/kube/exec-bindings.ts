import { chmod, mkdir, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { KubeApiError, type KubeClient, type KubeObject } from "../job-pod-runner/kube-client.js";
import type { ContainerSandbox } from "../sandbox/container-sandbox.js";

/** Which pods' containers run in which sandboxes: pods of `namespace` whose labels include `selector`. */
export interface SandboxBinding {
  namespace: string;
  selector: Record<string, string>;
  /** Container name → sandbox. A container without an entry has no exec (kwok answers "no exec found"). */
  containers: Record<string, ContainerSandbox>;
}

/**
 * kwok resolves argv[0] of an exec with its OWN PATH, which is this directory. Each command name any bound
 * sandbox offers is a link to this dispatcher, which re-resolves the name with the PATH the pod's `Exec`
 * object gave (the container's sandbox bin): a command the container lacks is "not found", exit 127.
 */
const dispatcher = (dispatchDir: string) => `#!/bin/sh
name=\${0##*/}
case ":$PATH:" in
*":${dispatchDir}:"*) echo "exec: \\"$name\\": executable file not found in \\$PATH (no sandbox bound to this container)" >&2; exit 127 ;;
esac
exec "$name" "$@"
`;

/**
 * Keeps one kwok `Exec` object per bound pod (same namespace/name as the pod; kwok matches exec rules by
 * pod name only, and Deployment pods have random names): watches pods, creates the Exec when a pod that
 * matches a binding appears (before it is scheduled, so it is in place when the pod turns Ready), deletes
 * it when the pod goes. Events are handled one at a time, in order, so a StatefulSet pod deleted and
 * recreated under the same name ends with the new pod's Exec.
 */
export class ExecBinder {
  readonly #client: KubeClient;
  readonly #dispatchDir: string;
  readonly #bindings: SandboxBinding[] = [];
  readonly #linked = new Set<string>();
  /** pod key (ns/name) → uid of the pod its Exec was made for. */
  readonly #bound = new Map<string, string>();
  readonly #abort = new AbortController();
  #queue: Promise<void> = Promise.resolve();
  #loop: Promise<void> | undefined;
  #lastError: unknown;

  constructor(client: KubeClient, dispatchDir: string) {
    this.#client = client;
    this.#dispatchDir = dispatchDir;
  }

  get dispatchDir(): string {
    return this.#dispatchDir;
  }

  /** Whether `pod` matches a binding (so it should get an Exec). */
  isBindable(pod: KubeObject): boolean {
    return this.#match(pod) !== undefined;
  }

  /** Whether the Exec for this very pod (same uid) is in place. */
  isBound(pod: KubeObject): boolean {
    return this.#bound.get(`${pod.metadata?.namespace}/${pod.metadata?.name}`) === pod.metadata?.uid;
  }

  /** The last error of the watch loop (it retries), for diagnostics. */
  get lastError(): unknown {
    return this.#lastError;
  }

  async prepare(): Promise<void> {
    await mkdir(this.#dispatchDir, { recursive: true });
    await writeFile(join(this.#dispatchDir, ".dispatch"), dispatcher(this.#dispatchDir));
    await chmod(join(this.#dispatchDir, ".dispatch"), 0o755);
  }

  /** Adds a binding (before the pods exist, or existing pods are bound on the next event/resync). */
  async bind(binding: SandboxBinding): Promise<void> {
    await this.#link(binding);
    this.#bindings.push(binding);
    await this.#resync();
  }

  /** Dispatcher links for every command the binding's sandboxes offer now (commands may be added later). */
  async #link(binding: SandboxBinding): Promise<void> {
    for (const sandbox of Object.values(binding.containers)) {
      for (const command of sandbox.commands) {
        if (this.#linked.has(command)) continue;
        this.#linked.add(command);
        await symlink(".dispatch", join(this.#dispatchDir, command));
      }
    }
  }

  /** Removes a binding (by identity); pods keep their Exec until they go. */
  unbind(binding: SandboxBinding): void {
    const index = this.#bindings.indexOf(binding);
    if (index >= 0) this.#bindings.splice(index, 1);
  }

  start(): void {
    this.#loop ??= this.#run();
  }

  async stop(): Promise<void> {
    this.#abort.abort();
    // Stopping aborts both: their rejections are the abort itself.
    await this.#loop?.catch(() => undefined);
    await this.#queue.catch(() => undefined);
  }

  #match(pod: KubeObject): SandboxBinding | undefined {
    const labels: Record<string, string> = pod.metadata?.labels ?? {};
    // The latest binding wins, so a namespace deployed again is bound to its new sandboxes.
    return this.#bindings.findLast(
      (b) =>
        b.namespace === pod.metadata?.namespace &&
        Object.entries(b.selector).every(([key, value]) => labels[key] === value),
    );
  }

  #enqueue(task: () => Promise<void>): Promise<void> {
    const next = this.#queue.then(task).catch((error: unknown) => {
      this.#lastError = error;
    });
    this.#queue = next;
    return next;
  }

  async #resync(): Promise<string> {
    const list = await this.#client.json("GET", "/api/v1/pods");
    for (const pod of list.items ?? []) {
      await this.#enqueue(() => this.#onPod("ADDED", pod));
    }
    return String(list.metadata?.resourceVersion ?? "");
  }

  async #run(): Promise<void> {
    const signal = this.#abort.signal;
    while (!signal.aborted) {
      try {
        const resourceVersion = await this.#resync();
        await this.#client.watch(
          "/api/v1/pods",
          resourceVersion,
          (type, pod) => {
            if (type === "ADDED" || type === "MODIFIED" || type === "DELETED")
              void this.#enqueue(() => this.#onPod(type, pod));
          },
          signal,
        );
      } catch (error) {
        if (signal.aborted) return;
        this.#lastError = error;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  }

  async #onPod(type: string, pod: KubeObject): Promise<void> {
    const namespace: string = pod.metadata.namespace;
    const name: string = pod.metadata.name;
    const key = `${namespace}/${name}`;
    const uid: string = pod.metadata.uid;
    const path = `/apis/kwok.x-k8s.io/v1alpha1/namespaces/${namespace}/execs/${name}`;
    if (type === "DELETED") {
      if (this.#bound.get(key) !== uid) return;
      this.#bound.delete(key);
      await this.#client.json("DELETE", path).catch((error: unknown) => {
        if (!(error instanceof KubeApiError && error.status === 404)) throw error;
      });
      return;
    }
    if (this.#bound.get(key) === uid) return;
    const binding = this.#match(pod);
    if (!binding) return;
    await this.#link(binding);
    const exec = {
      apiVersion: "kwok.x-k8s.io/v1alpha1",
      kind: "Exec",
      metadata: {
        name,
        namespace,
        labels: { "testkit.infrahub-backup/bound-by": "exec-binder" },
        annotations: { "testkit.infrahub-backup/pod-uid": uid },
      },
      spec: {
        execs: Object.entries(binding.containers).map(([container, sandbox]) => ({
          containers: [container],
          local: {
            workDir: sandbox.dir,
            // The kubelet sets HOSTNAME to the pod name in every container; the sandbox may be shared by replicas.
            envs: Object.entries({ HOSTNAME: name, ...sandbox.env }).map(([envName, value]) => ({
              name: envName,
              value,
            })),
            ...(sandbox.user.host
              ? { securityContext: { runAsUser: sandbox.user.host.uid, runAsGroup: sandbox.user.host.gid } }
              : {}),
          },
        })),
      },
    };
    const existing = await this.#client.get(path);
    if (existing) {
      await this.#client.json("PUT", path, {
        ...exec,
        metadata: { ...exec.metadata, resourceVersion: existing.metadata.resourceVersion },
      });
    } else {
      await this.#client.json("POST", `/apis/kwok.x-k8s.io/v1alpha1/namespaces/${namespace}/execs`, exec);
    }
    this.#bound.set(key, uid);
  }
}
