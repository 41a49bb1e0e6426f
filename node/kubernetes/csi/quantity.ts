/**
 * Kubernetes resource quantities (`1Gi`, `500M`, `1.5Gi`, `1e9`, `100`) as whole bytes, and back.
 * Strict: anything that is not a quantity is refused, so a PVC with a malformed request is
 * reported instead of provisioned with a guess.
 */

const BINARY: Record<string, bigint> = {
  Ki: 1n << 10n,
  Mi: 1n << 20n,
  Gi: 1n << 30n,
  Ti: 1n << 40n,
  Pi: 1n << 50n,
  Ei: 1n << 60n,
};
const DECIMAL: Record<string, number> = {
  n: -9,
  u: -6,
  m: -3,
  "": 0,
  k: 3,
  M: 6,
  G: 9,
  T: 12,
  P: 15,
  E: 18,
};

const QUANTITY =
  /^([+-]?)(\d+)(?:\.(\d*))?(?:(Ki|Mi|Gi|Ti|Pi|Ei)|([eE][+-]?\d+)|(n|u|m|k|M|G|T|P|E))?$/;

/** Bytes of quantity `q`, rounded up to a whole byte; throws for anything else or a negative. */
export function quantityBytes(q: string): bigint {
  const m = QUANTITY.exec(q.trim());
  if (!m || q.length > 64) throw new Error(`not a quantity: ${JSON.stringify(q.slice(0, 64))}`);
  const [, sign, whole, frac = "", bin, exp, dec] = m;
  if (sign === "-") throw new Error(`negative quantity ${q}`);
  let num = BigInt(whole + frac);
  let den = 10n ** BigInt(frac.length);
  if (bin) num *= BINARY[bin];
  const e = exp ? Number(exp.slice(1)) : DECIMAL[dec ?? ""];
  if (Math.abs(e) > 30) throw new Error(`quantity out of range: ${q}`);
  if (e >= 0) num *= 10n ** BigInt(e);
  else den *= 10n ** BigInt(-e);
  return (num + den - 1n) / den;
}

/** The canonical quantity of `bytes`: the largest binary suffix that divides it, else plain. */
export function bytesQuantity(bytes: bigint): string {
  for (const [suffix, m] of Object.entries(BINARY).reverse()) {
    if (bytes >= m && bytes % m === 0n) return `${bytes / m}${suffix}`;
  }
  return `${bytes}`;
}
