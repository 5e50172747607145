import { describe, expect, it } from "vitest";
import { parseComponents } from "./edition.js";

describe("parseComponents", () => {
  it("reads edition and version from cypher-shell plain output", () => {
    expect(parseComponents('name, versions, edition\n"Neo4j Kernel", ["5.26.30"], "community"\n')).toEqual({
      edition: "community",
      version: "5.26.30",
    });
    expect(
      parseComponents('name, versions, edition\n"Neo4j Kernel", ["2025.10.1"], "enterprise"\n').edition,
    ).toBe("enterprise");
  });
  it("refuses anything else", () => {
    expect(() => parseComponents("name, versions, edition\n")).toThrow(/unexpected Neo4j edition/);
    expect(() => parseComponents('x\n"Neo4j Kernel", ["5"], "mystery"')).toThrow(/unexpected Neo4j edition/);
  });
});
