/**
 * Bounds on status messages. Handlers echo client input into their errors (`node <id> not found`);
 * a 100,000-character node ID echoed whole makes the `grpc-message` trailer larger than clients
 * accept (grpc-js and Go refuse metadata over 8–16 KiB), so the client sees a metadata error
 * instead of the status. {@link RpcServer} applies {@link boundDetails} to every status it sends.
 */

/** Longest run of non-space characters (one echoed value: ID, name, path) kept whole. */
export const MAX_ECHO_CHARS = 128;
/** Longest status message in UTF-8 bytes (≤ 3 KiB once percent-encoded into `grpc-message`). */
export const MAX_DETAILS_BYTES = 1024;

const LONG_TOKEN = new RegExp(`\\S{${MAX_ECHO_CHARS + 1},}`, "gu");

/**
 * `details` with every run of non-space characters longer than {@link MAX_ECHO_CHARS} cut (the cut
 * says how much was dropped) and the whole cut to {@link MAX_DETAILS_BYTES}. Short messages are
 * returned unchanged.
 */
export function boundDetails(details: string): string {
  if (details.length <= MAX_ECHO_CHARS) return details;
  let out = details.replace(LONG_TOKEN, (t) => {
    const cps = [...t];
    if (cps.length <= MAX_ECHO_CHARS) return t;
    return `${cps.slice(0, MAX_ECHO_CHARS).join("")}…(${cps.length - MAX_ECHO_CHARS} more)`;
  });
  const bytes = new TextEncoder().encode(out);
  if (bytes.length > MAX_DETAILS_BYTES) {
    const suffix = `…(${bytes.length} bytes)`;
    // Cut at a character boundary: decoding a cut sequence yields U+FFFD, dropped again.
    const room = MAX_DETAILS_BYTES - new TextEncoder().encode(suffix).length;
    const head = new TextDecoder().decode(bytes.subarray(0, room))
      .replace(/\uFFFD$/, "");
    out = head + suffix;
  }
  return out;
}
