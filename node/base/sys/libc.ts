/**
 * Lazily opened handles to the C library through `Deno.dlopen`.
 *
 * Every concern module (mount, power, rlimit, …) opens its own handle with the symbols it needs,
 * on first use: importing a module never requires `--allow-ffi`. Each handle also carries
 * `__errno_location` and `strerror`, so errno is read through the same, already open library
 * right after the failing call (opening a library lazily at error time could clobber errno).
 * All calls are synchronous on the JS thread, which is what makes the thread-local errno valid.
 */

/** Where glibc lives on Debian x86_64; opened by absolute path so `--allow-ffi=<path>` matches. */
export const LIBC_ABSOLUTE = "/lib/x86_64-linux-gnu/libc.so.6";

const ERRNO_SYMBOLS = {
  __errno_location: { parameters: [], result: "pointer" },
  strerror: { parameters: ["i32"], result: "pointer" },
} as const satisfies Deno.ForeignLibraryInterface;

/** The symbols of a handle opened by {@link lazyLibc}: the requested ones plus errno access. */
export type LibcSymbols<S extends Deno.ForeignLibraryInterface> = Deno.DynamicLibrary<
  S & typeof ERRNO_SYMBOLS
>["symbols"];

/** Returns the path to open: the absolute glibc path when it exists, else the soname. */
export function libcPath(): string {
  try {
    Deno.statSync(LIBC_ABSOLUTE);
    return LIBC_ABSOLUTE;
  } catch {
    // Without read permission or on another layout: let the dynamic linker search.
    return "libc.so.6";
  }
}

/**
 * Returns a getter that opens libc with `symbols` (plus errno helpers) on its first call and
 * returns the cached symbols afterwards.
 */
export function lazyLibc<S extends Deno.ForeignLibraryInterface>(
  symbols: S,
): () => LibcSymbols<S> {
  let lib: Deno.DynamicLibrary<S & typeof ERRNO_SYMBOLS> | undefined;
  return () => {
    if (!lib) lib = Deno.dlopen(libcPath(), { ...symbols, ...ERRNO_SYMBOLS });
    return lib.symbols;
  };
}

/** Reads the calling thread's errno through an open handle. */
export function readErrno(sym: LibcSymbols<Deno.ForeignLibraryInterface>): number {
  const p = sym.__errno_location();
  if (p === null) return 0;
  return new Deno.UnsafePointerView(p).getInt32();
}

/** Returns strerror(errno) through an open handle. */
export function strerrorOf(sym: LibcSymbols<Deno.ForeignLibraryInterface>, errno: number): string {
  const p = sym.strerror(errno);
  if (p === null) return `errno ${errno}`;
  return Deno.UnsafePointerView.getCString(p);
}

const enc = new TextEncoder();

/** Encodes a string as a NUL-terminated C string for a `"buffer"` parameter. */
export function cstr(s: string): Uint8Array<ArrayBuffer> {
  const b = enc.encode(s);
  if (b.includes(0)) throw new TypeError(`string contains a NUL byte: ${JSON.stringify(s)}`);
  const out = new Uint8Array(b.length + 1);
  out.set(b);
  return out;
}
