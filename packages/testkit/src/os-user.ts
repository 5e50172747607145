import { readFileSync } from "node:fs";

export interface OsUser {
  name: string;
  uid: number;
  gid: number;
}

/** Looks a user up in /etc/passwd (no shell-out); undefined when absent. */
export function findOsUser(name: string): OsUser | undefined {
  for (const line of readFileSync("/etc/passwd", "utf8").split("\n")) {
    const [user, , uid, gid] = line.split(":");
    if (user === name && uid !== undefined && gid !== undefined)
      return { name, uid: Number(uid), gid: Number(gid) };
  }
  return undefined;
}

/**
 * The unprivileged user a server that refuses root (PostgreSQL) runs as: the first of `candidates`
 * that exists. Undefined when the tests themselves do not run as root.
 */
export function serviceUser(candidates: readonly string[]): OsUser | undefined {
  if (process.getuid?.() !== 0) return undefined;
  for (const name of candidates) {
    const user = findOsUser(name);
    if (user) return user;
  }
  throw new Error(`running as root but none of the users ${candidates.join(", ")} exists to run the service`);
}
