import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { toolsDir, toolVersions } from "@infrahub-backup/testkit";
import { Ajv2020, type ValidateFunction } from "ajv/dist/2020.js";
import addFormatsModule from "ajv-formats";
import type { K8sObject } from "./helm.ts";

// ajv-formats is CommonJS: under Node's ESM loader its function arrives as the default export's .default.
type AddFormats = (ajv: Ajv2020) => unknown;
const addFormats: AddFormats =
  (addFormatsModule as unknown as { default?: AddFormats }).default ??
  (addFormatsModule as unknown as AddFormats);

/**
 * Strict Kubernetes JSON schemas (additionalProperties false everywhere) as shipped by the PyPI
 * package kubernetes-validate, installed by tools/install/python-tools.sh.
 */
export function kubeSchemaDir(kubeVersion: string): string {
  const v = toolVersions();
  const venv = join(
    toolsDir(),
    `pytools-${v.YAMLLINT_VERSION}-${v.YAMALE_VERSION}-${v.KUBERNETES_VALIDATE_VERSION}`,
  );
  if (!existsSync(join(venv, ".installed")))
    throw new Error(`${venv} is not installed: run tools/bootstrap.sh`);
  const lib = join(venv, "lib");
  const py = readdirSync(lib).find((d) => d.startsWith("python3"));
  const dir = join(
    lib,
    py!,
    "site-packages/kubernetes_validate/kubernetes-json-schema",
    `v${kubeVersion}-local-strict`,
  );
  if (!existsSync(dir))
    throw new Error(`kubernetes-validate ships no schemas for Kubernetes ${kubeVersion} (${dir})`);
  return dir;
}

export class KubeValidator {
  readonly #ajv: Ajv2020;
  readonly #dir: string;
  readonly #cache = new Map<string, ValidateFunction>();

  constructor(readonly kubeVersion: string) {
    this.#dir = kubeSchemaDir(kubeVersion);
    // strict: false because the schemas carry x-kubernetes-* annotations Ajv does not know.
    this.#ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats(this.#ajv);
    this.#ajv.addSchema(JSON.parse(readFileSync(join(this.#dir, "_definitions.json"), "utf8")));
  }

  /** Errors of one object, as readable strings; empty when valid. */
  validate(obj: K8sObject): string[] {
    const [group, version] = String(obj.apiVersion).includes("/")
      ? String(obj.apiVersion).split("/")
      : ["", String(obj.apiVersion)];
    const file = `${String(obj.kind).toLowerCase()}${group ? `-${group.split(".")[0]}` : ""}-${version}.json`;
    let validate = this.#cache.get(file);
    if (!validate) {
      const schema = JSON.parse(readFileSync(join(this.#dir, file), "utf8"));
      validate = this.#ajv.compile(schema);
      this.#cache.set(file, validate);
    }
    const where = `${obj.kind}/${obj.metadata?.name}`;
    if (validate(obj)) return [];
    return (validate.errors ?? []).map(
      (e) => `${where}${e.instancePath} ${e.message} ${JSON.stringify(e.params)}`,
    );
  }
}
