import type { KubeClient, KubeObject } from "./kube-client.js";

/** Thrown when the pod cannot start as a kubelet would refuse it (CreateContainerConfigError). */
export class ContainerConfigError extends Error {}

/**
 * Expands `$(VAR)` references as the kubelet does for env values, command and args: a defined variable
 * is replaced, an undefined one is left as written, `$$` is an escaped `$`.
 */
export function expandVars(text: string, vars: Readonly<Record<string, string>>): string {
  let out = "";
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c !== "$" || i + 1 >= text.length) {
      out += c;
      continue;
    }
    const next = text[i + 1];
    if (next === "$") {
      out += "$";
      i += 1;
    } else if (next === "(") {
      const end = text.indexOf(")", i + 2);
      if (end < 0) {
        out += text.slice(i);
        break;
      }
      const name = text.slice(i + 2, end);
      const value = vars[name];
      out += value ?? text.slice(i, end + 1);
      i = end;
    } else {
      out += c;
    }
  }
  return out;
}

/** `metadata.labels['x']` / `metadata.annotations['x']` / plain field paths a downward API allows. */
export function fieldRef(pod: KubeObject, fieldPath: string): string {
  const m = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(fieldPath);
  if (m) return String(pod.metadata?.[m[1] as string]?.[m[2] as string] ?? "");
  switch (fieldPath) {
    case "metadata.name":
      return pod.metadata.name;
    case "metadata.namespace":
      return pod.metadata.namespace;
    case "metadata.uid":
      return pod.metadata.uid;
    case "spec.nodeName":
      return pod.spec.nodeName ?? "";
    case "spec.serviceAccountName":
      return pod.spec.serviceAccountName ?? "default";
    case "status.podIP":
      return pod.status?.podIP ?? "";
    case "status.hostIP":
      return pod.status?.hostIP ?? "";
    default:
      throw new ContainerConfigError(`fieldRef ${fieldPath} is not supported by the job pod runner`);
  }
}

/** Reads Secrets and ConfigMaps of the pod's namespace once each. */
class RefCache {
  readonly #cache = new Map<string, KubeObject | undefined>();
  constructor(
    readonly client: KubeClient,
    readonly namespace: string,
  ) {}

  async data(kind: "secrets" | "configmaps", name: string): Promise<Record<string, string> | undefined> {
    const key = `${kind}/${name}`;
    if (!this.#cache.has(key)) {
      this.#cache.set(key, await this.client.get(`/api/v1/namespaces/${this.namespace}/${kind}/${name}`));
    }
    const obj = this.#cache.get(key);
    if (!obj) return undefined;
    if (kind === "configmaps") return { ...(obj.data ?? {}) };
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries((obj.data ?? {}) as Record<string, string>)) {
      out[k] = Buffer.from(v, "base64").toString("utf8");
    }
    return out;
  }
}

/**
 * The container's environment as the kubelet builds it: `base` (image ENV and what the runtime adds),
 * then `envFrom`, then `env` in order, with Secret/ConfigMap refs read through the API and `$(VAR)`
 * expanded against what is defined before. A missing non-optional ref fails like the kubelet does.
 */
export async function resolveContainerEnv(
  client: KubeClient,
  pod: KubeObject,
  container: KubeObject,
  base: Readonly<Record<string, string>>,
): Promise<Record<string, string>> {
  const refs = new RefCache(client, pod.metadata.namespace);
  const env: Record<string, string> = { ...base };
  for (const source of (container.envFrom ?? []) as KubeObject[]) {
    const kind = source.secretRef ? "secrets" : "configmaps";
    const ref = source.secretRef ?? source.configMapRef;
    const data = await refs.data(kind, ref.name);
    if (!data) {
      if (ref.optional) continue;
      throw new ContainerConfigError(
        `${kind === "secrets" ? "secret" : "configmap"} "${ref.name}" not found`,
      );
    }
    for (const [k, v] of Object.entries(data)) env[`${source.prefix ?? ""}${k}`] = v;
  }
  for (const e of (container.env ?? []) as KubeObject[]) {
    if (e.valueFrom === undefined) {
      env[e.name] = expandVars(String(e.value ?? ""), env);
      continue;
    }
    const from = e.valueFrom;
    if (from.fieldRef) {
      env[e.name] = fieldRef(pod, from.fieldRef.fieldPath);
    } else if (from.secretKeyRef || from.configMapKeyRef) {
      const kind = from.secretKeyRef ? "secrets" : "configmaps";
      const ref = from.secretKeyRef ?? from.configMapKeyRef;
      const data = await refs.data(kind, ref.name);
      const value = data?.[ref.key];
      if (value === undefined) {
        if (ref.optional) continue;
        throw new ContainerConfigError(
          data
            ? `couldn't find key ${ref.key} in ${kind === "secrets" ? "Secret" : "ConfigMap"} ${pod.metadata.namespace}/${ref.name}`
            : `${kind === "secrets" ? "secret" : "configmap"} "${ref.name}" not found`,
        );
      }
      env[e.name] = value;
    } else {
      throw new ContainerConfigError(`env ${e.name}: valueFrom kind not supported by the job pod runner`);
    }
  }
  return env;
}
