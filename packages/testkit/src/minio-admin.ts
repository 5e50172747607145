import { run } from "./run.js";

const ALIAS = "ihb";

/**
 * Runs the pinned `mc` against one MinIO server. The alias (with the root credentials) travels in the
 * `MC_HOST_<alias>` environment variable and secrets on stdin, so no secret ever appears in argv.
 */
export class MinioAdmin {
  readonly #env: NodeJS.ProcessEnv;
  readonly #mc: string;

  constructor(mc: string, endpoint: URL, rootUser: string, rootPassword: string, configDir: string) {
    const withCredentials = new URL(endpoint);
    withCredentials.username = encodeURIComponent(rootUser);
    withCredentials.password = encodeURIComponent(rootPassword);
    this.#mc = mc;
    this.#env = {
      PATH: process.env.PATH,
      HOME: configDir,
      MC_CONFIG_DIR: configDir,
      [`MC_HOST_${ALIAS}`]: withCredentials.href.replace(/\/$/, ""),
      MC_NO_COLOR: "1",
    };
  }

  /** `mc <args…>` with `ALIAS` as the first path element, e.g. `target("bucket")` → `ihb/bucket`. */
  target(path = ""): string {
    return path ? `${ALIAS}/${path}` : ALIAS;
  }

  async mc(args: readonly string[], input?: string): Promise<string> {
    const { stdout } = await run(this.#mc, ["--json", "--disable-pager", ...args], {
      env: this.#env,
      ...(input === undefined ? {} : { input }),
      timeoutMs: 30_000,
    });
    return stdout;
  }
}
