import type { Neo4jCredentials } from "../engines/neo4j/credentials.js";
import { cypherShell, cypherString, plainRows } from "../engines/neo4j/cypher-shell.js";
import type { PostgresCredentials } from "../engines/postgres/credentials.js";
import { CONNECTION_HINT, psqlQuery } from "../engines/postgres/postgres-engine.js";
import type { Environment } from "../environment/environment.js";
import { BackupError } from "../errors.js";
import type { Executor } from "../exec/executor.js";
import { findNeo4jCredentials, findPostgresCredentials, type HostEnv } from "./deployment.js";
import { type EventSink, ignoreEvents } from "./events.js";

/**
 * What Infrahub's first start (`first_time_initialization`) creates, and nothing else: the definition of
 * a fresh deployment. Conservative on purpose: anything not listed — a user object, a user schema, a
 * second branch, an extra account, a label this list does not know — makes the deployment "holds data".
 */
export const FRESH_INFRAHUB = {
  /** Labels of the graph's own structure (not `:Node`): the root, branches, attribute and relationship vertices. */
  structuralLabels: [
    "Root",
    "Branch",
    "Attribute",
    "AttributeValue",
    "AttributeValueIndexed",
    "AttributeValueNonIndexed",
    "AttributeIPHost",
    "AttributeIPNetwork",
    "Boolean",
    "Relationship",
  ],
  /**
   * `:Node` kinds the first start creates, with the most of each it creates (across the Infrahub versions
   * whose initialisation we read): the admin (and agent) account and their tokens, the built-in roles,
   * groups and permissions, the default menu, the default IP namespace. Schema kinds are not counted:
   * their namespaces are checked instead.
   */
  kinds: {
    CoreAccount: 2,
    CoreAccountToken: 2,
    InternalAccountToken: 2,
    CoreAccountGroup: 2,
    CoreAccountRole: 3,
    CoreGlobalPermission: 10,
    CoreObjectPermission: 3,
    CoreMenuItem: 150,
    IpamNamespace: 1,
    BuiltinIPNamespace: 1,
  } as Readonly<Record<string, number>>,
  /** The kinds of the schema stored in the graph. */
  schemaKinds: ["SchemaNode", "SchemaGeneric", "SchemaAttribute", "SchemaRelationship"],
  /**
   * Namespaces of Infrahub's own schema (its restricted namespaces); a SchemaNode or SchemaGeneric in any
   * other namespace was loaded by a user. `Ipam` is shared with user schemas: only IpamNamespace is Infrahub's.
   */
  schemaNamespaces: [
    "Account",
    "Branch",
    "Builtin",
    "Core",
    "Deprecated",
    "Diff",
    "Infrahub",
    "Internal",
    "Lineage",
    "Schema",
    "Profile",
    "Template",
  ],
  schemaKindsOutsideNamespaces: ["IpamNamespace"],
  /** The branch every Infrahub has besides the default one. */
  globalBranch: "-global-",
  /**
   * Prefect runs Infrahub's own scheduled flows from the first minutes on: flow runs created after the
   * graph's first start are not data. Runs older than this before it are.
   */
  flowRunSlackMs: 10 * 60_000,
  /**
   * A first start writes tens of thousands of vertices (the schema's attributes and values); a graph with
   * more is not fresh, and is not scanned (the count comes from Neo4j's count store: no scan).
   */
  maxVertices: 2_000_000,
  /** Flow runs counted at most (an index-free scan of a large Prefect history stays bounded). */
  maxFlowRunsCounted: 1000,
} as const;

/** What the freshness probe found. `fresh` is true only when nothing but a first start's data is there. */
export interface FreshnessReport {
  /** True when nothing but what a first start creates was found (an empty deployment included). */
  fresh: boolean;
  /** Why the deployment is not fresh, one finding a line (empty when fresh). */
  findings: string[];
  /** Vertices in the graph database (0: Infrahub never started on it). */
  graphNodes: number;
  /** Vertices that a first start does not create, by kind or label. */
  dataKinds: Record<string, number>;
  /** Prefect flow runs older than the graph's first start; undefined when not probed (excluded, absent). */
  oldFlowRuns?: number;
}

/** Options of probeFreshness. */
export interface ProbeFreshnessOptions {
  /** The deployment to probe (read-only). */
  environment: Environment;
  /** Variables of the host that take precedence over the containers' (INFRAHUB_DB_*, PREFECT_*). */
  hostEnv?: HostEnv;
  /** Leave the task-manager database out (`--exclude-taskmanager`: it is neither restored nor probed). */
  excludeTaskManager?: boolean;
  /** Aborts the probe (CANCELLED). */
  signal?: AbortSignal;
  /** Receives the `freshness-checked` event and warnings. */
  onEvent?: EventSink;
  /**
   * Log in with these instead of finding them: a probe while the application services are stopped
   * cannot read their environment (`findFreshnessCredentials` while they run).
   */
  credentials?: FreshnessCredentials;
}

/** What a freshness probe logs in with; `postgres` when the task-manager database is probed. */
export interface FreshnessCredentials {
  /** For cypher-shell in the database container. */
  neo4j: Neo4jCredentials;
  /** For psql in the task-manager-db container; absent when that database is not probed. */
  postgres?: PostgresCredentials;
}

/**
 * The credentials `probeFreshness` uses, found as a restore finds them (host env, then the services'
 * env, then the defaults) — so while the application services run.
 */
export async function findFreshnessCredentials(
  options: Omit<ProbeFreshnessOptions, "credentials" | "signal">,
): Promise<FreshnessCredentials> {
  const { environment } = options;
  const onEvent = options.onEvent ?? ignoreEvents;
  const hostEnv = options.hostEnv ?? {};
  const neo4j = await findNeo4jCredentials(environment, hostEnv, onEvent);
  if (options.excludeTaskManager || !(await environment.has("task-manager-db"))) return { neo4j };
  return { neo4j, postgres: await findPostgresCredentials(environment, hostEnv, onEvent) };
}

/**
 * Read-only: asks the live Neo4j (cypher-shell in its container, as a restore does) and Prefect's
 * PostgreSQL (psql) whether the deployment holds anything beyond what Infrahub's first start creates
 * (FRESH_INFRAHUB). Any error is thrown: a probe that cannot run never reads as fresh.
 */
export async function probeFreshness(options: ProbeFreshnessOptions): Promise<FreshnessReport> {
  const { environment, signal } = options;
  const onEvent = options.onEvent ?? ignoreEvents;
  const sig = signal ? { signal } : {};
  const credentials = options.credentials ?? (await findFreshnessCredentials(options));
  const graph = await probeGraph(await environment.executor("database"), credentials.neo4j, sig);
  const findings = [...graph.findings];
  let oldFlowRuns: number | undefined;
  const pg = credentials.postgres;
  if (pg) {
    const before =
      graph.firstStart === undefined
        ? undefined
        : new Date(graph.firstStart.getTime() - FRESH_INFRAHUB.flowRunSlackMs).toISOString();
    oldFlowRuns = await countFlowRuns(await environment.executor("task-manager-db"), pg, before);
    const max = FRESH_INFRAHUB.maxFlowRunsCounted;
    const runs = oldFlowRuns > max ? `more than ${max}` : String(oldFlowRuns);
    if (oldFlowRuns > 0)
      findings.push(
        before === undefined
          ? `${runs} Prefect flow runs, and no first start of Infrahub in the graph`
          : `${runs} Prefect flow runs older than the graph's first start (${graph.firstStart?.toISOString()})`,
      );
  }
  const report: FreshnessReport = {
    fresh: findings.length === 0,
    findings,
    graphNodes: graph.nodes,
    dataKinds: graph.dataKinds,
    ...(oldFlowRuns !== undefined ? { oldFlowRuns } : {}),
  };
  onEvent({
    type: "freshness-checked",
    fresh: report.fresh,
    findings: report.findings,
    graphNodes: report.graphNodes,
  });
  return report;
}

interface GraphFacts {
  nodes: number;
  findings: string[];
  dataKinds: Record<string, number>;
  /** The earliest `created_at` of a branch: when Infrahub first started on this graph. */
  firstStart: Date | undefined;
}

const list = (values: readonly string[]) => `[${values.map(cypherString).join(", ")}]`;

/**
 * One cypher-shell run (a JVM start each): every fact as a `what|name|count` row. A constant beside an
 * aggregate is a grouping key (no row on an empty graph), hence the node count's WITH.
 */
function graphQuery(): string {
  const f = FRESH_INFRAHUB;
  // Each scanning branch runs only on a graph small enough to be fresh.
  const guard = `MATCH (g) WITH count(g) AS total WHERE total <= ${f.maxVertices}`;
  return `CALL () {
  MATCH (n) WITH count(n) AS c RETURN 'nodes' AS what, '' AS name, c
UNION ALL
  ${guard} MATCH (n) WHERE NOT n:Node
  UNWIND (CASE WHEN size(labels(n)) = 0 THEN ['(no label)'] ELSE labels(n) END) AS label
  WITH label WHERE NOT label IN ${list(f.structuralLabels)}
  RETURN 'label' AS what, label AS name, count(*) AS c
UNION ALL
  ${guard} MATCH (n:Node) WHERE NOT coalesce(n.kind, '') IN ${list(f.schemaKinds)}
  RETURN 'kind' AS what, coalesce(n.kind, '(no kind)') AS name, count(*) AS c
UNION ALL
  ${guard} MATCH (r:Root) RETURN 'root' AS what, coalesce(r.default_branch, '') AS name, count(*) AS c
UNION ALL
  ${guard} MATCH (b:Branch) RETURN 'branch' AS what, coalesce(b.name, '') AS name, count(*) AS c
UNION ALL
  ${guard} MATCH (b:Branch) WHERE b.created_at IS NOT NULL RETURN 'created' AS what, coalesce(min(toString(b.created_at)), '') AS name, count(*) AS c
UNION ALL
  ${guard} MATCH (s:Node) WHERE s.kind IN ['SchemaNode', 'SchemaGeneric']
  OPTIONAL MATCH (s)-[:HAS_ATTRIBUTE]->(:Attribute {name: 'namespace'})-[:HAS_VALUE]->(ns)
  OPTIONAL MATCH (s)-[:HAS_ATTRIBUTE]->(:Attribute {name: 'name'})-[:HAS_VALUE]->(nm)
  WITH s, collect(DISTINCT toString(ns.value)) AS namespaces, collect(DISTINCT toString(nm.value)) AS names
  WITH CASE WHEN size(namespaces) = 1 AND size(names) = 1 THEN namespaces[0] + '|' + names[0] ELSE '(unreadable)|' END AS kind
  RETURN 'schema' AS what, kind AS name, count(*) AS c
}
RETURN what + '|' + name + '|' + toString(c) AS fact`;
}

async function probeGraph(
  executor: Executor,
  credentials: Neo4jCredentials,
  sig: { signal?: AbortSignal },
): Promise<GraphFacts> {
  const output = await cypherShell(executor, credentials, graphQuery(), { timeoutMs: 120_000, ...sig });
  const rows = plainRows(output);
  const facts = rows.map((row) => {
    const parts = row.split("|");
    const count = Number(parts.at(-1));
    if (parts.length < 3 || !Number.isInteger(count))
      throw new BackupError("DATABASE_COMMAND_FAILED", `unexpected row from the freshness query: ${row}`);
    return { what: parts[0] as string, name: parts.slice(1, -1).join("|"), count };
  });
  const nodes = facts.find((f) => f.what === "nodes")?.count ?? Number.NaN;
  if (!Number.isInteger(nodes))
    throw new BackupError(
      "DATABASE_COMMAND_FAILED",
      `the freshness query returned no node count: ${JSON.stringify(output.slice(0, 300))}`,
    );
  const dataKinds: Record<string, number> = {};
  const findings: string[] = [];
  const add = (name: string, count: number) => {
    dataKinds[name] = (dataKinds[name] ?? 0) + count;
  };
  const roots = facts.filter((f) => f.what === "root");
  const rootCount = roots.reduce((n, f) => n + f.count, 0);
  if (rootCount > 1) findings.push(`${rootCount} Root nodes (a first start creates one)`);
  const defaultBranch = roots[0]?.name || "main";
  let firstStart: Date | undefined;
  for (const f of facts) {
    if (f.what === "label") add(`:${f.name}`, f.count);
    else if (f.what === "kind") {
      const most = FRESH_INFRAHUB.kinds[f.name];
      if (most === undefined) add(f.name, f.count);
      else if (f.count > most) {
        add(f.name, f.count);
        findings.push(`${f.count} nodes of kind ${f.name} (a first start creates at most ${most})`);
      }
    } else if (f.what === "branch") {
      if (f.name !== defaultBranch && f.name !== FRESH_INFRAHUB.globalBranch)
        add(`branch ${f.name}`, f.count);
      else if (f.count > 1) findings.push(`${f.count} branches named ${f.name}`);
    } else if (f.what === "schema") {
      const [namespace = "", name = ""] = f.name.split("|");
      const own =
        (FRESH_INFRAHUB.schemaNamespaces as readonly string[]).includes(namespace) ||
        (FRESH_INFRAHUB.schemaKindsOutsideNamespaces as readonly string[]).includes(namespace + name);
      if (!own) add(`schema ${namespace}${name}`, f.count);
    } else if (f.what === "created" && f.count > 0) {
      const at = new Date(f.name);
      if (Number.isNaN(at.getTime()))
        findings.push(
          `a branch's created_at is not a time (${f.name}): cannot tell when Infrahub first started`,
        );
      else firstStart = at;
    }
  }
  const kinds = Object.entries(dataKinds).sort(([, a], [, b]) => b - a);
  if (kinds.length > 0) {
    const total = kinds.reduce((n, [, c]) => n + c, 0);
    const shown = kinds.slice(0, 8).map(([k, c]) => `${k} (${c})`);
    findings.unshift(
      `${total} nodes a first start does not create: ${shown.join(", ")}${kinds.length > 8 ? `, and ${kinds.length - 8} more kinds` : ""}`,
    );
  }
  if (nodes > FRESH_INFRAHUB.maxVertices)
    findings.push(`${nodes} nodes: more than a first start creates (the graph was not scanned)`);
  else if (nodes > 0 && rootCount === 0)
    findings.push(`${nodes} nodes but no Root: not a graph Infrahub initialised`);
  return { nodes, findings, dataKinds, firstStart };
}

/** Flow runs created before `before` (all when undefined); 0 when Prefect has not created its tables yet. */
async function countFlowRuns(
  executor: Executor,
  credentials: Awaited<ReturnType<typeof findPostgresCredentials>>,
  before: string | undefined,
): Promise<number> {
  const where = before === undefined ? "" : ` WHERE created < ''${before}''::timestamptz`;
  const limit = FRESH_INFRAHUB.maxFlowRunsCounted + 1;
  // query_to_xml runs the count only when the table exists (a plain reference fails to plan without it).
  const sql = `SELECT CASE WHEN to_regclass('public.flow_run') IS NULL THEN 0 ELSE (xpath('/row/c/text()', query_to_xml('SELECT count(*) AS c FROM (SELECT 1 FROM public.flow_run${where} LIMIT ${limit}) r', false, true, '')))[1]::text::bigint END`;
  const out = await psqlQuery(executor, credentials, sql, credentials.database, {
    what: `counting Prefect flow runs in ${credentials.database}`,
    failureCode: "DATABASE_UNAVAILABLE",
    hint: CONNECTION_HINT,
  });
  const count = Number(out);
  if (!Number.isInteger(count))
    throw new BackupError("DATABASE_COMMAND_FAILED", `unexpected answer counting Prefect flow runs: ${out}`);
  return count;
}
