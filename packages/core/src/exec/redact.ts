const SECRET_NAME = /PASS|SECRET|TOKEN|KEY|CREDENTIAL|AUTH/i;

/** The values of environment entries whose names look secret (passwords, tokens, keys). */
export function secretValues(env: Readonly<Record<string, string>> | undefined): string[] {
  if (!env) return [];
  return Object.entries(env)
    .filter(([name, value]) => SECRET_NAME.test(name) && value.length >= 3)
    .map(([, value]) => value);
}

/** Replaces every occurrence of each secret in `text` with `***`. */
export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) if (secret) out = out.split(secret).join("***");
  return out;
}
