/** Name rules of supervision nodes and sub-loggers (node.md §4.1). */

/** Longest allowed runnable or sub-logger name. */
export const MAX_NAME_LENGTH = 64;

/** Returns why `name` is not a valid runnable/sub-logger name, or undefined. */
export function nameError(name: unknown): string | undefined {
  if (typeof name !== "string") return `invalid name: not a string`;
  if (name.length < 1 || name.length > MAX_NAME_LENGTH) {
    return `invalid name ${JSON.stringify(name)}: must be 1-${MAX_NAME_LENGTH} characters`;
  }
  if (name.includes(".")) return `invalid name ${JSON.stringify(name)}: contains "."`;
  if (/\s/.test(name)) return `invalid name ${JSON.stringify(name)}: contains whitespace`;
  return undefined;
}
