import { writeFile } from "node:fs/promises";
import { crc32, deflateSync } from "node:zlib";
import { formatBytes, type Row } from "./report.js";
import type { Scenario } from "./scenarios.js";

// A line chart written as a PNG by hand (zlib + a 5×7 bitmap font): no renderer dependency to install.

type Rgb = readonly [number, number, number];

class Canvas {
  readonly pixels: Uint8Array;
  constructor(
    readonly width: number,
    readonly height: number,
  ) {
    this.pixels = new Uint8Array(width * height * 3).fill(255);
  }

  set(x: number, y: number, c: Rgb): void {
    const xi = Math.round(x);
    const yi = Math.round(y);
    if (xi < 0 || yi < 0 || xi >= this.width || yi >= this.height) return;
    this.pixels.set(c, (yi * this.width + xi) * 3);
  }

  rect(x: number, y: number, w: number, h: number, c: Rgb): void {
    for (let i = 0; i < w; i++) for (let j = 0; j < h; j++) this.set(x + i, y + j, c);
  }

  /** A line `thickness` pixels wide; `dash` > 0 leaves gaps of that many steps. */
  line(x0: number, y0: number, x1: number, y1: number, c: Rgb, thickness = 1, dash = 0): void {
    const steps = Math.max(Math.abs(x1 - x0), Math.abs(y1 - y0), 1);
    for (let i = 0; i <= steps; i++) {
      if (dash > 0 && Math.floor(i / dash) % 2 === 1) continue;
      const x = x0 + ((x1 - x0) * i) / steps;
      const y = y0 + ((y1 - y0) * i) / steps;
      this.rect(x - Math.floor(thickness / 2), y - Math.floor(thickness / 2), thickness, thickness, c);
    }
  }

  text(x: number, y: number, s: string, c: Rgb, scale = 2): void {
    let cx = x;
    for (const ch of s.toUpperCase()) {
      const glyph = FONT[ch] ?? FONT["?"] ?? [];
      glyph.forEach((row, j) => {
        for (let i = 0; i < 5; i++)
          if (row & (1 << (4 - i))) this.rect(cx + i * scale, y + j * scale, scale, scale, c);
      });
      cx += 6 * scale;
    }
  }

  png(): Buffer {
    const raw = Buffer.alloc((this.width * 3 + 1) * this.height);
    for (let y = 0; y < this.height; y++) {
      raw[y * (this.width * 3 + 1)] = 0; // filter: none
      raw.set(
        this.pixels.subarray(y * this.width * 3, (y + 1) * this.width * 3),
        y * (this.width * 3 + 1) + 1,
      );
    }
    const chunk = (type: string, data: Buffer) => {
      const head = Buffer.alloc(8);
      head.writeUInt32BE(data.length, 0);
      head.write(type, 4, "latin1");
      const crc = Buffer.alloc(4);
      crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])) >>> 0, 0);
      return Buffer.concat([head, data, crc]);
    };
    const ihdr = Buffer.alloc(13);
    ihdr.writeUInt32BE(this.width, 0);
    ihdr.writeUInt32BE(this.height, 4);
    ihdr[8] = 8; // bit depth
    ihdr[9] = 2; // RGB
    return Buffer.concat([
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
      chunk("IHDR", ihdr),
      chunk("IDAT", deflateSync(raw)),
      chunk("IEND", Buffer.alloc(0)),
    ]);
  }
}

const COLORS: Record<Scenario, Rgb> = {
  "ours-create": [214, 39, 40],
  "raw-dump": [31, 119, 180],
  "naive-create": [127, 127, 127],
  "ours-restore": [255, 127, 14],
  "raw-load": [44, 160, 44],
};
const BLACK: Rgb = [0, 0, 0];
const GRID: Rgb = [225, 225, 225];

interface Series {
  label: string;
  color: Rgb;
  dashed: boolean;
  points: Array<{ size: number; value: number }>;
}

function panel(
  c: Canvas,
  box: { x: number; y: number; w: number; h: number },
  title: string,
  series: Series[],
  sizes: number[],
): void {
  const max = Math.max(1, ...series.flatMap((s) => s.points.map((p) => p.value))) * 1.1;
  const lo = Math.log2(sizes[0] ?? 1);
  const hi = Math.log2(sizes.at(-1) ?? 2);
  const px = (size: number) => box.x + (hi === lo ? box.w / 2 : ((Math.log2(size) - lo) / (hi - lo)) * box.w);
  const py = (v: number) => box.y + box.h - (v / max) * box.h;
  c.text(box.x, box.y - 28, title, BLACK);
  for (let i = 0; i <= 5; i++) {
    const v = (max * i) / 5;
    c.line(box.x, py(v), box.x + box.w, py(v), GRID);
    const label = v >= 100 ? v.toFixed(0) : v.toFixed(1);
    c.text(box.x - 12 - label.length * 12, py(v) - 7, label, BLACK);
  }
  for (const size of sizes) {
    c.line(px(size), box.y, px(size), box.y + box.h, GRID);
    const label = formatBytes(size);
    c.text(px(size) - label.length * 6, box.y + box.h + 8, label, BLACK);
  }
  c.line(box.x, box.y, box.x, box.y + box.h, BLACK, 2);
  c.line(box.x, box.y + box.h, box.x + box.w, box.y + box.h, BLACK, 2);
  for (const s of series) {
    const pts = [...s.points].sort((a, b) => a.size - b.size);
    pts.forEach((p, i) => {
      c.rect(px(p.size) - 3, py(p.value) - 3, 7, 7, s.color);
      const next = pts[i + 1];
      if (next) c.line(px(p.size), py(p.value), px(next.size), py(next.value), s.color, 3, s.dashed ? 6 : 0);
    });
  }
}

/** Throughput (dump MB/s) of every scenario and peak RSS of our process, against the dataset size. */
export async function writeChart(path: string, rows: Row[]): Promise<void> {
  const c = new Canvas(1280, 620);
  const sizes = [...new Set(rows.map((r) => r.size))].sort((a, b) => a - b);
  const kinds = [...new Set(rows.map((r) => r.kind))];
  const seriesOf = (scenarios: Scenario[], value: (r: Row) => number): Series[] =>
    kinds.flatMap((kind, k) =>
      scenarios.map((scenario) => ({
        label: `${scenario} ${kind}`,
        color: COLORS[scenario],
        dashed: k > 0,
        points: rows
          .filter((r) => r.kind === kind && r.scenario === scenario)
          .map((r) => ({ size: r.size, value: value(r) })),
      })),
    );
  const all: Scenario[] = ["ours-create", "raw-dump", "naive-create", "ours-restore", "raw-load"];
  panel(
    c,
    { x: 110, y: 60, w: 480, h: 400 },
    "throughput MB/s (dump bytes / wall)",
    seriesOf(all, (r) => r.mbPerS),
    sizes,
  );
  panel(
    c,
    { x: 760, y: 60, w: 480, h: 400 },
    "peak RSS of our process MiB",
    seriesOf(["ours-create", "ours-restore"], (r) => r.peakRssBytes / 1024 / 1024),
    sizes,
  );
  let lx = 40;
  let ly = 520;
  for (const scenario of all) {
    c.rect(lx, ly + 2, 24, 10, COLORS[scenario]);
    c.text(lx + 32, ly, scenario, BLACK);
    lx += 32 + scenario.length * 12 + 30;
  }
  ly += 34;
  c.text(40, ly, `solid: ${kinds[0] ?? ""} data${kinds[1] ? `   dashed: ${kinds[1]} data` : ""}`, BLACK);
  await writeFile(path, c.png());
}

const FONT: Record<string, number[]> = {
  "0": [0x0e, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0e],
  "1": [0x04, 0x0c, 0x04, 0x04, 0x04, 0x04, 0x0e],
  "2": [0x0e, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1f],
  "3": [0x1f, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0e],
  "4": [0x02, 0x06, 0x0a, 0x12, 0x1f, 0x02, 0x02],
  "5": [0x1f, 0x10, 0x1e, 0x01, 0x01, 0x11, 0x0e],
  "6": [0x06, 0x08, 0x10, 0x1e, 0x11, 0x11, 0x0e],
  "7": [0x1f, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
  "8": [0x0e, 0x11, 0x11, 0x0e, 0x11, 0x11, 0x0e],
  "9": [0x0e, 0x11, 0x11, 0x0f, 0x01, 0x02, 0x0c],
  A: [0x0e, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11],
  B: [0x1e, 0x11, 0x11, 0x1e, 0x11, 0x11, 0x1e],
  C: [0x0e, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0e],
  D: [0x1c, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1c],
  E: [0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x1f],
  F: [0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x10],
  G: [0x0e, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0f],
  H: [0x11, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11],
  I: [0x0e, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0e],
  J: [0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0c],
  K: [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11],
  L: [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1f],
  M: [0x11, 0x1b, 0x15, 0x15, 0x11, 0x11, 0x11],
  N: [0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11],
  O: [0x0e, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e],
  P: [0x1e, 0x11, 0x11, 0x1e, 0x10, 0x10, 0x10],
  Q: [0x0e, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0d],
  R: [0x1e, 0x11, 0x11, 0x1e, 0x14, 0x12, 0x11],
  S: [0x0f, 0x10, 0x10, 0x0e, 0x01, 0x01, 0x1e],
  T: [0x1f, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04],
  U: [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e],
  V: [0x11, 0x11, 0x11, 0x11, 0x11, 0x0a, 0x04],
  W: [0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0a],
  X: [0x11, 0x11, 0x0a, 0x04, 0x0a, 0x11, 0x11],
  Y: [0x11, 0x11, 0x11, 0x0a, 0x04, 0x04, 0x04],
  Z: [0x1f, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1f],
  " ": [0, 0, 0, 0, 0, 0, 0],
  ".": [0, 0, 0, 0, 0, 0x0c, 0x0c],
  ",": [0, 0, 0, 0, 0x0c, 0x04, 0x08],
  "-": [0, 0, 0, 0x1f, 0, 0, 0],
  "+": [0, 0x04, 0x04, 0x1f, 0x04, 0x04, 0],
  "/": [0, 0x01, 0x02, 0x04, 0x08, 0x10, 0],
  "(": [0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02],
  ")": [0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08],
  ":": [0, 0x0c, 0x0c, 0, 0x0c, 0x0c, 0],
  "%": [0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03],
  "?": [0x0e, 0x11, 0x01, 0x02, 0x04, 0, 0x04],
};
