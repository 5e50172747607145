import { spawn } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { once } from "node:events";
import { createWriteStream } from "node:fs";
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Writable } from "node:stream";
import type { InfrahubLocalStack } from "@infrahub-backup/testkit";
import type { Neo4jCycle } from "./neo4j-cycle.js";

/**
 * `random`: incompressible values (random bytes in PostgreSQL, random base64 in Neo4j), so the dumps are
 * about as large as the data and their own compression gains nothing. `text`: log-like text that
 * compresses ~5×, so the dump tools spend their time compressing.
 */
export type DatasetKind = "random" | "text";

const ROW_BYTES = 256 * 1024;
const NODE_CHARS = 3 * 1024;
/** zstd leaves random base64 at about 3/4 of its length (6 bits of entropy per 8). */
const BASE64_DUMP_RATIO = 0.75;

function textBlock(bytes: number): Buffer {
  const lines: string[] = [];
  let n = 0;
  while (n < bytes) {
    const line = `flow_run=${randomUUID()} task=sync-device-${Math.floor(Math.random() * 5000)} state=COMPLETED level=INFO message=synchronised the device inventory with the source of truth\n`;
    lines.push(line);
    n += line.length;
  }
  return Buffer.from(lines.join("")).subarray(0, bytes);
}

async function write(stream: Writable, chunk: string | Buffer): Promise<void> {
  if (!stream.write(chunk)) await once(stream, "drain");
}

/** Fills one PostgreSQL table of the Prefect database and one Neo4j label, growing them between sizes. */
export class Dataset {
  #pgBytes = 0;

  constructor(
    readonly stack: InfrahubLocalStack,
    readonly kind: DatasetKind,
    readonly workDir: string,
    readonly cycle: Neo4jCycle,
  ) {}

  /** Makes the data about `bytes` of dump bytes (random) or of raw text (text), half in each database. */
  async grow(bytes: number): Promise<void> {
    await this.#growPostgres(Math.floor(bytes / 2));
    await this.#importNeo4j(Math.floor(bytes / 2));
  }

  async #growPostgres(target: number): Promise<void> {
    const pg = this.stack.postgres;
    if (this.#pgBytes === 0) {
      await pg.psql(
        "DROP TABLE IF EXISTS bench_blob; CREATE TABLE bench_blob (id bigserial PRIMARY KEY, data bytea);",
      );
    }
    const add = target - this.#pgBytes;
    if (add <= 0) return;
    // Binary COPY: the bytes go in as they are (text COPY would need them hex-encoded, twice as many).
    const psql = spawn(
      pg.bin("psql"),
      ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", "COPY bench_blob (data) FROM STDIN (FORMAT binary)"],
      { env: pg.env("app"), stdio: ["pipe", "ignore", "pipe"] },
    );
    let stderr = "";
    psql.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    const done = new Promise<number | null>((resolve) => psql.on("close", resolve));
    const header = Buffer.alloc(19);
    header.write("PGCOPY\n\xff\r\n\0", 0, "latin1");
    await write(psql.stdin, header);
    for (let n = 0; n < add; n += ROW_BYTES) {
      const size = Math.min(ROW_BYTES, add - n);
      const tuple = Buffer.alloc(6);
      tuple.writeInt16BE(1, 0);
      tuple.writeInt32BE(size, 2);
      await write(psql.stdin, tuple);
      await write(psql.stdin, this.kind === "random" ? randomBytes(size) : textBlock(size));
    }
    await write(psql.stdin, Buffer.from([0xff, 0xff]));
    psql.stdin.end();
    const code = await done;
    if (code !== 0) throw new Error(`COPY into bench_blob failed: ${stderr}`);
    this.#pgBytes = target;
  }

  /** `neo4j-admin database import full` (the database offline): a :Root node and `target` bytes of nodes. */
  async #importNeo4j(target: number): Promise<void> {
    const neo4j = this.stack.neo4j;
    const rootCsv = join(this.workDir, "root.csv");
    const blobCsv = join(this.workDir, "blob.csv");
    await writeFile(rootCsv, `uuid,default_branch\n${randomUUID()},main\n`);
    const out = createWriteStream(blobCsv);
    await write(out, "id:ID,data\n");
    const chars = this.kind === "random" ? target / BASE64_DUMP_RATIO : target;
    for (let i = 0, n = 0; n < chars; i++, n += NODE_CHARS) {
      const value =
        this.kind === "random"
          ? randomBytes((NODE_CHARS * 3) / 4).toString("base64")
          : textBlock(NODE_CHARS).toString().replaceAll("\n", " ");
      await write(out, `${i},${value}\n`);
    }
    out.end();
    await once(out, "finish");
    try {
      await this.cycle.offline(async () => {
        const importer = spawn(
          join(neo4j.binDir, "neo4j-admin"),
          [
            "database",
            "import",
            "full",
            neo4j.database,
            "--overwrite-destination=true",
            `--report-file=${join(this.workDir, "import.report")}`,
            `--nodes=Root=${rootCsv}`,
            `--nodes=Blob=${blobCsv}`,
          ],
          { env: neo4j.env(), stdio: ["ignore", "pipe", "pipe"] },
        );
        let output = "";
        importer.stdout.on("data", (d: Buffer) => {
          output += d.toString();
        });
        importer.stderr.on("data", (d: Buffer) => {
          output += d.toString();
        });
        const code = await new Promise<number | null>((resolve) => importer.on("close", resolve));
        if (code !== 0) throw new Error(`neo4j-admin import failed (${code}):\n${output.slice(-3000)}`);
      });
    } finally {
      await rm(blobCsv, { force: true });
    }
  }
}
