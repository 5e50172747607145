import { createHash } from "node:crypto";

/** What the seed and the digest need of a graph database: a local Neo4jServer, or a container's cypher-shell. */
export interface GraphQueries {
  cypher(query: string): Promise<string>;
}
/** What the seed and the digest need of the task-manager database: a local PostgresCluster, or a container's psql. */
export interface SqlQueries {
  psql(sql: string): Promise<string>;
}

/**
 * Seeds an Infrahub-shaped graph (a :Root with the deployment uuid, nodes with attribute values and
 * relationships between them) and Prefect-shaped tables (flow runs, task runs, logs).
 */
export async function seedInfrahubData(
  neo4j: GraphQueries,
  postgres: SqlQueries,
  options: { nodes?: number; flowRuns?: number } = {},
): Promise<void> {
  const nodes = options.nodes ?? 500;
  const flowRuns = options.flowRuns ?? 2000;
  await neo4j.cypher(
    `CREATE (:Root {uuid: randomUUID(), default_branch: 'main'})
     WITH 1 AS x UNWIND range(1, ${nodes}) AS i
     CREATE (n:Node:InfraDevice {uuid: 'node-' + i, kind: 'InfraDevice', branch: 'main'})
     CREATE (n)-[:HAS_ATTRIBUTE {branch: 'main'}]->(:Attribute {name: 'name'})-[:HAS_VALUE]->(:AttributeValue {value: 'device-' + i})
     CREATE (n)-[:HAS_ATTRIBUTE {branch: 'main'}]->(:Attribute {name: 'role'})-[:HAS_VALUE]->(:AttributeValue {value: CASE i % 3 WHEN 0 THEN 'core' WHEN 1 THEN 'edge' ELSE 'spine' END})
     WITH count(*) AS created
     MATCH (a:InfraDevice), (b:InfraDevice) WHERE toInteger(substring(b.uuid, 5)) = toInteger(substring(a.uuid, 5)) + 1
     CREATE (a)-[:IS_RELATED {name: 'peer'}]->(b)`,
  );
  await postgres.psql(`
    CREATE TABLE IF NOT EXISTS flow_run (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), name text NOT NULL, state_type text, created timestamptz DEFAULT now(), parameters jsonb);
    CREATE TABLE IF NOT EXISTS task_run (id bigserial PRIMARY KEY, flow_run_id uuid REFERENCES flow_run(id), name text, state_type text);
    CREATE TABLE IF NOT EXISTS log (id bigserial PRIMARY KEY, flow_run_id uuid, level int, message text);
    INSERT INTO flow_run (name, state_type, parameters)
      SELECT 'flow-' || g, CASE WHEN g % 7 = 0 THEN 'FAILED' ELSE 'COMPLETED' END, jsonb_build_object('branch', 'main', 'n', g)
      FROM generate_series(1, ${flowRuns}) g;
    INSERT INTO task_run (flow_run_id, name, state_type) SELECT id, 'task-of-' || name, state_type FROM flow_run;
    INSERT INTO log (flow_run_id, level, message) SELECT id, 20, repeat(md5(name), 3) FROM flow_run;
  `);
}

/**
 * A MODEL of what Infrahub's first start (`first_time_initialization`) writes to an empty graph: the Root,
 * the default and global branches (with `created_at`), Infrahub's own schema (SchemaNode/SchemaGeneric with
 * namespace and name attributes, a few SchemaAttribute), the admin account and its token, the built-in
 * roles, groups and permissions, a default menu and the default IP namespace — what `--only-if-fresh`
 * must take for a fresh deployment. Not Infrahub's real output (no Infrahub runs here): its shape.
 */
export async function seedFreshInfrahub(neo4j: GraphQueries): Promise<void> {
  await neo4j.cypher(
    `WITH toString(datetime()) AS now
     CREATE (:Root {uuid: randomUUID(), default_branch: 'main', graph_version: 20})
     CREATE (:Branch {name: 'main', is_default: true, created_at: now})
     CREATE (:Branch {name: '-global-', is_global: true, created_at: now})
     WITH 1 AS x
     UNWIND [['Core', 'Account', 'SchemaNode'], ['Core', 'Node', 'SchemaGeneric'], ['Builtin', 'Tag', 'SchemaNode'],
             ['Lineage', 'Owner', 'SchemaGeneric'], ['Ipam', 'Namespace', 'SchemaNode'], ['Core', 'MenuItem', 'SchemaNode']] AS s
     CREATE (n:Node {uuid: randomUUID(), kind: s[2], namespace: 'Schema', branch_support: 'aware'})
     CREATE (n)-[:HAS_ATTRIBUTE {branch: 'main', status: 'active'}]->(:Attribute {name: 'namespace'})-[:HAS_VALUE {branch: 'main'}]->(:AttributeValue:AttributeValueIndexed {value: s[0]})
     CREATE (n)-[:HAS_ATTRIBUTE {branch: 'main', status: 'active'}]->(:Attribute {name: 'name'})-[:HAS_VALUE {branch: 'main'}]->(:AttributeValue:AttributeValueIndexed {value: s[1]})
     CREATE (a:Node {uuid: randomUUID(), kind: 'SchemaAttribute'})-[:IS_RELATED {branch: 'main'}]->(:Relationship {name: 'schema__node__attributes'})<-[:IS_RELATED {branch: 'main'}]-(n)
     WITH count(*) AS schema
     UNWIND [['CoreAccount', 'admin'], ['InternalAccountToken', 'Created automatically'], ['CoreGlobalPermission', 'super_admin'],
             ['CoreAccountRole', 'Super Administrator'], ['CoreAccountGroup', 'Super Administrators'],
             ['CoreAccountRole', 'General Access'], ['CoreAccountGroup', 'Infrahub Users'], ['CoreObjectPermission', 'view'],
             ['CoreMenuItem', 'Objects'], ['CoreMenuItem', 'IPAM'], ['IpamNamespace', 'default']] AS o
     CREATE (n:Node {uuid: randomUUID(), kind: o[0], namespace: substring(o[0], 0, 4), branch_support: 'agnostic'})
     CREATE (n)-[:HAS_ATTRIBUTE {branch: '-global-', status: 'active'}]->(:Attribute {name: 'name'})-[:HAS_VALUE {branch: '-global-'}]->(:AttributeValue {value: o[1]})
     CREATE (n)-[:HAS_ATTRIBUTE {branch: '-global-', status: 'active'}]->(:Attribute {name: 'description'})-[:IS_VISIBLE]->(:Boolean {value: true})`,
  );
}

/**
 * Bulk that makes dumps larger than an S3 part (5 MiB), so uploads happen while each dump streams:
 * a PostgreSQL table of random bytes (pg_dump cannot compress it) and Neo4j `:Filler` nodes of random
 * UUID text. `digestInfrahubData` covers the filler by count and total length (a full digest of
 * megabytes of node text is slow in Cypher).
 */
export async function seedBulkData(
  neo4j: GraphQueries,
  postgres: SqlQueries,
  options: { postgresMiB?: number; neo4jNodes?: number } = {},
): Promise<void> {
  const rows = Math.ceil(((options.postgresMiB ?? 8) * 1024 * 1024) / 512);
  await postgres.psql(`
    CREATE TABLE IF NOT EXISTS bulk (id int PRIMARY KEY, payload bytea);
    INSERT INTO bulk SELECT g, (SELECT decode(string_agg(md5(random()::text || g || i), ''), 'hex') FROM generate_series(1, 32) i)
      FROM generate_series(1, ${rows}) g;`);
  await neo4j.cypher(
    `UNWIND range(1, ${options.neo4jNodes ?? 16000}) AS i
     CREATE (:Filler {i: i, v: reduce(s = '', x IN range(1, 24) | s + randomUUID())})`,
  );
}

export interface InfrahubDataDigest {
  neo4j: string;
  postgres: string;
}

/**
 * A digest of all data: every node (labels, properties) and relationship (type, ends, properties) of
 * the graph; every row of every table in the public schema. Equal digests mean equal data.
 */
export async function digestInfrahubData(
  neo4j: GraphQueries,
  postgres: SqlQueries,
): Promise<InfrahubDataDigest> {
  // One query, so one cypher-shell run: each is a JVM start (~1 s of CPU), and digests run before and
  // after every operation in the suite.
  const graph = await neo4j.cypher(
    `CALL () {
       MATCH (n) WHERE NOT n:Filler UNWIND (CASE WHEN size(keys(n)) = 0 THEN [null] ELSE keys(n) END) AS p
       WITH n, p ORDER BY p
       WITH n, reduce(t = '', l IN labels(n) | t + l + ',') + '{' +
            reduce(t = '', x IN collect(p + '=' + toString(n[p])) | t + x + ',') + '}' AS k
       WITH k ORDER BY k
       RETURN count(k) AS nodeCount, reduce(s = '', x IN collect(k) | s + x + ';') AS nodes
     }
     CALL () {
       MATCH (a)-[r]->(b)
       WITH type(r) + ':' + coalesce(a.uuid, a.name, a.value, '') + '>' + coalesce(b.uuid, b.name, b.value, '') + ':' +
            reduce(t = '', p IN keys(r) | t + p + '=' + toString(r[p]) + ',') AS k ORDER BY k
       RETURN count(k) AS relationshipCount, reduce(s = '', x IN collect(k) | s + x + ';') AS relationships
     }
     CALL () {
       MATCH (f:Filler) RETURN count(f) AS fillers, sum(size(f.v)) AS fillerLength, sum(f.i) AS fillerSum
     }
     RETURN nodeCount, nodes, relationshipCount, relationships, fillers, fillerLength, fillerSum`,
  );
  const tables = await postgres.psql(`
    SELECT string_agg(tablename || ':' || (xpath('/row/c/text()', query_to_xml(
      format('SELECT md5(coalesce(string_agg(t::text, ''|'' ORDER BY t::text), '''')) AS c FROM %I t', tablename), false, true, '')))[1]::text, ',' ORDER BY tablename)
    FROM pg_tables WHERE schemaname = 'public';`);
  const hash = (s: string) => createHash("sha256").update(s).digest("hex");
  return { neo4j: hash(graph), postgres: hash(tables.trim()) };
}
