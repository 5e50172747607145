import { chmod, mkdir, writeFile } from "node:fs/promises";
import { dirname, join, posix } from "node:path";
import type { KubeClient, KubeObject } from "./kube-client.js";
import { ContainerConfigError, fieldRef } from "./pod-env.js";

/** One container mount: the path the container sees and the local directory behind it. */
export interface Mount {
  mountPath: string;
  hostPath: string;
  readOnly: boolean;
}

/**
 * The container's view of the file system, as path rewriting: a path under a mount is the same path
 * under the mount's local directory; any other absolute path is under the pod's own "root file system"
 * directory. The CLI runs as a local process, so the paths in its args and env are rewritten with this
 * table instead of being mounted (no mount namespace needed, no root).
 */
export class MountTable {
  readonly #mounts: Mount[];

  constructor(
    mounts: Mount[],
    readonly rootDir: string,
  ) {
    // Longest mount path first, so /a/b wins over /a.
    this.#mounts = [...mounts].sort((a, b) => b.mountPath.length - a.mountPath.length);
  }

  get mounts(): readonly Mount[] {
    return this.#mounts;
  }

  /** The local path of an absolute container path. */
  resolve(containerPath: string): string {
    const p = posix.normalize(containerPath);
    for (const m of this.#mounts) {
      if (p === m.mountPath) return m.hostPath;
      if (p.startsWith(`${m.mountPath}/`)) return join(m.hostPath, p.slice(m.mountPath.length + 1));
    }
    return join(this.rootDir, p);
  }

  /**
   * Rewrites an arg or env value that is an absolute container path, or `--flag=<absolute path>`.
   * Anything else (URLs, `s3://…`, relative paths, words) is left as it is.
   */
  rewrite(value: string): string {
    if (value.startsWith("/")) return this.resolve(value);
    const m = /^(--?[A-Za-z0-9][A-Za-z0-9-]*=)(\/.*)$/.exec(value);
    if (m) return `${m[1]}${this.resolve(m[2] as string)}`;
    return value;
  }
}

async function writeItems(
  dir: string,
  data: Record<string, string>,
  items: KubeObject[] | undefined,
  mode: number,
): Promise<void> {
  await mkdir(dir, { recursive: true });
  const selected = items?.length
    ? items.map((i) => ({ key: i.key as string, path: i.path as string, mode: i.mode as number | undefined }))
    : Object.keys(data).map((key) => ({ key, path: key, mode: undefined }));
  for (const item of selected) {
    const value = data[item.key];
    if (value === undefined) throw new ContainerConfigError(`volume item ${item.key} not found`);
    const file = join(dir, item.path);
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, value);
    await chmod(file, item.mode ?? mode);
  }
}

function decodeSecret(obj: KubeObject): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries((obj.data ?? {}) as Record<string, string>)) {
    out[k] = Buffer.from(v, "base64").toString("utf8");
  }
  return out;
}

/**
 * A projected volume, e.g. the `kube-api-access-*` one the ServiceAccount admission adds: the token is a
 * real TokenRequest for the pod's ServiceAccount bound to the pod (as the kubelet asks for it), the CA
 * comes from the `kube-root-ca.crt` ConfigMap, the namespace from the downward API.
 */
async function writeProjected(
  client: KubeClient,
  pod: KubeObject,
  projected: KubeObject,
  dir: string,
): Promise<void> {
  const ns = pod.metadata.namespace as string;
  const mode = projected.defaultMode ?? 0o644;
  await mkdir(dir, { recursive: true });
  for (const source of (projected.sources ?? []) as KubeObject[]) {
    if (source.serviceAccountToken) {
      const sa = (pod.spec.serviceAccountName as string | undefined) ?? "default";
      const tr = await client.json("POST", `/api/v1/namespaces/${ns}/serviceaccounts/${sa}/token`, {
        apiVersion: "authentication.k8s.io/v1",
        kind: "TokenRequest",
        spec: {
          ...(source.serviceAccountToken.audience
            ? { audiences: [source.serviceAccountToken.audience] }
            : {}),
          expirationSeconds: source.serviceAccountToken.expirationSeconds ?? 3607,
          boundObjectRef: { apiVersion: "v1", kind: "Pod", name: pod.metadata.name, uid: pod.metadata.uid },
        },
      });
      const file = join(dir, source.serviceAccountToken.path);
      await writeFile(file, tr.status.token as string);
      await chmod(file, 0o600);
    } else if (source.configMap) {
      const cm = await client.get(`/api/v1/namespaces/${ns}/configmaps/${source.configMap.name}`);
      if (!cm) {
        if (source.configMap.optional) continue;
        throw new ContainerConfigError(`configmap "${source.configMap.name}" not found`);
      }
      await writeItems(dir, cm.data ?? {}, source.configMap.items, mode);
    } else if (source.secret) {
      const secret = await client.get(`/api/v1/namespaces/${ns}/secrets/${source.secret.name}`);
      if (!secret) {
        if (source.secret.optional) continue;
        throw new ContainerConfigError(`secret "${source.secret.name}" not found`);
      }
      await writeItems(dir, decodeSecret(secret), source.secret.items, mode);
    } else if (source.downwardAPI) {
      const data: Record<string, string> = {};
      const items: KubeObject[] = [];
      for (const item of (source.downwardAPI.items ?? []) as KubeObject[]) {
        data[item.path] = fieldRef(pod, item.fieldRef?.fieldPath ?? "");
        items.push({ key: item.path, path: item.path, mode: item.mode });
      }
      await writeItems(dir, data, items, mode);
    } else {
      throw new ContainerConfigError("projected volume source not supported by the job pod runner");
    }
  }
}

/**
 * Prepares the pod's volumes under `podDir` and returns the container's mount table. emptyDir → a fresh
 * directory of the pod; persistentVolumeClaim → the `hostPath`/`local` path of the PersistentVolume the
 * claim is bound to (so the data outlives the pod and can be read back); secret/configMap → files.
 */
export async function prepareMounts(
  client: KubeClient,
  pod: KubeObject,
  container: KubeObject,
  podDir: string,
  /** Where the pod's emptyDirs are, shared by its containers; default `podDir`. */
  sharedDir: string = podDir,
): Promise<MountTable> {
  const ns = pod.metadata.namespace as string;
  const volumes = new Map<string, string>();
  for (const v of (pod.spec.volumes ?? []) as KubeObject[]) {
    const dir = join(podDir, "volumes", v.name);
    if (v.emptyDir) {
      const shared = join(sharedDir, "volumes", v.name);
      await mkdir(shared, { recursive: true });
      // As a kubelet makes it: writable by every container's user.
      await chmod(shared, 0o777);
      volumes.set(v.name, shared);
    } else if (v.persistentVolumeClaim) {
      const claim = await client.get(
        `/api/v1/namespaces/${ns}/persistentvolumeclaims/${v.persistentVolumeClaim.claimName}`,
      );
      if (!claim)
        throw new ContainerConfigError(
          `persistentvolumeclaim "${v.persistentVolumeClaim.claimName}" not found`,
        );
      const pvName = claim.spec?.volumeName;
      const pv = pvName ? await client.get(`/api/v1/persistentvolumes/${pvName}`) : undefined;
      const path = pv?.spec?.hostPath?.path ?? pv?.spec?.local?.path;
      if (!path) {
        throw new ContainerConfigError(
          `claim ${v.persistentVolumeClaim.claimName} is not bound to a hostPath/local PersistentVolume`,
        );
      }
      await mkdir(path, { recursive: true });
      volumes.set(v.name, path);
    } else if (v.secret) {
      const secret = await client.get(`/api/v1/namespaces/${ns}/secrets/${v.secret.secretName}`);
      if (!secret) {
        if (v.secret.optional) continue;
        throw new ContainerConfigError(`secret "${v.secret.secretName}" not found`);
      }
      await writeItems(dir, decodeSecret(secret), v.secret.items, v.secret.defaultMode ?? 0o644);
      volumes.set(v.name, dir);
    } else if (v.configMap) {
      const cm = await client.get(`/api/v1/namespaces/${ns}/configmaps/${v.configMap.name}`);
      if (!cm) {
        if (v.configMap.optional) continue;
        throw new ContainerConfigError(`configmap "${v.configMap.name}" not found`);
      }
      await writeItems(dir, cm.data ?? {}, v.configMap.items, v.configMap.defaultMode ?? 0o644);
      volumes.set(v.name, dir);
    } else if (v.projected) {
      await writeProjected(client, pod, v.projected, dir);
      volumes.set(v.name, dir);
    } else {
      throw new ContainerConfigError(
        `volume ${v.name}: this volume type is not supported by the job pod runner`,
      );
    }
  }
  const mounts: Mount[] = [];
  for (const m of (container.volumeMounts ?? []) as KubeObject[]) {
    const base = volumes.get(m.name);
    if (base === undefined) throw new ContainerConfigError(`volumeMount ${m.name}: no such volume`);
    const hostPath = m.subPath ? join(base, m.subPath) : base;
    await mkdir(hostPath, { recursive: true });
    mounts.push({ mountPath: posix.normalize(m.mountPath), hostPath, readOnly: m.readOnly === true });
  }
  const rootDir = join(podDir, "rootfs");
  await mkdir(rootDir, { recursive: true });
  return new MountTable(mounts, rootDir);
}
