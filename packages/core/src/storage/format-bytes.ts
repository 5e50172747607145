const UNITS = ["B", "KiB", "MiB", "GiB", "TiB"] as const;

/**
 * A byte count as the library's messages and the CLI write it: IEC units, one decimal above 1 KiB
 * ("512 B", "1.5 MiB", "2.0 GiB"); TiB is the largest unit. Fractions of a byte are rounded.
 */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${UNITS[unit]}`;
}
