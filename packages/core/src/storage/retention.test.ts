import { describe, expect, it } from "vitest";
import { parseArchiveName } from "./archive-name.js";
import type { ListedObject } from "./backup-store.js";
import { planRetention } from "./retention.js";

function obj(name: string): ListedObject {
  return {
    name,
    location: `/b/${name}`,
    size: 1,
    lastModified: new Date(0),
    archive: parseArchiveName(name),
  };
}
const day = (d: number, time = "120000") =>
  `infrahub_backup_202611${String(d).padStart(2, "0")}_${time}.tar.gz`;
const now = new Date(Date.UTC(2026, 10, 22, 12, 0, 0));

describe("planRetention", () => {
  const objects = [
    day(1),
    day(10),
    day(20),
    day(21),
    day(22, "110000"),
    "notes.txt",
    "infrahub_backup_latest.tar.gz",
  ].map(obj);

  it("keep-count keeps the N newest", () => {
    const plan = planRetention(objects, { keepCount: 2, now });
    expect(plan.keep.map((d) => d.object.name)).toEqual([day(22, "110000"), day(21)]);
    expect(plan.delete.map((d) => d.object.name)).toEqual([day(20), day(10), day(1)]);
    expect(plan.ignored).toEqual(["notes.txt", "infrahub_backup_latest.tar.gz"]);
  });
  it("keep-days keeps what is within N days; the union with keep-count", () => {
    const days = planRetention(objects, { keepDays: 2, now });
    expect(days.keep.map((d) => d.object.name)).toEqual([day(22, "110000"), day(21), day(20)]);
    const union = planRetention(objects, { keepDays: 2, keepCount: 4, now });
    expect(union.keep.map((d) => d.object.name)).toEqual([day(22, "110000"), day(21), day(20), day(10)]);
    expect(union.keep[2]?.reasons).toEqual(["keep-count", "keep-days"]);
  });
  it("always keeps the newest, even when older than keep-days", () => {
    const plan = planRetention([day(1), day(2)].map(obj), { keepDays: 1, now });
    expect(plan.keep.map((d) => [d.object.name, d.reasons])).toEqual([[day(2), ["newest"]]]);
    expect(plan.delete.map((d) => d.object.name)).toEqual([day(1)]);
  });
  it("orders by stamp, ties by name descending, encrypted names included", () => {
    const a = "infrahub_backup_20261122_100000.tar.gz";
    const b = "infrahub_backup_20261122_100000.tar.gz.enc";
    const plan = planRetention([a, b].map(obj), { keepCount: 1, now });
    expect(plan.keep[0]?.object.name).toBe(b);
    expect(plan.delete[0]?.object.name).toBe(a);
  });
  it("refuses values below 1 and no rule at all", () => {
    for (const rules of [{}, { keepDays: 0 }, { keepCount: -1 }, { keepCount: 1.5 }]) {
      expect(() => planRetention(objects, { ...rules, now })).toThrow(
        expect.objectContaining({ code: "INVALID_ARGUMENT" }),
      );
    }
  });
  it("deletes nothing when there is nothing archive-named", () => {
    const plan = planRetention(["a", "b"].map(obj), { keepCount: 1, now });
    expect(plan.delete).toEqual([]);
    expect(plan.keep).toEqual([]);
  });
});
