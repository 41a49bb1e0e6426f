/**
 * A TCP reachability probe: whether something accepts connections at `host:port`. A connect is
 * answered by the peer's kernel, not by its event loop, so a busy process still passes; a dead
 * process on a live host is refused at once, a dead host or a cut network times out.
 * @module
 */

/** Dials `host:port` over TCP; true if the connection was accepted within `timeoutMs`. */
export async function dialTcp(host: string, port: number, timeoutMs: number): Promise<boolean> {
  try {
    const c = await Deno.connect({ hostname: host, port, signal: AbortSignal.timeout(timeoutMs) });
    c.close();
    return true;
  } catch {
    return false;
  }
}
