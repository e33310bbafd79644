// How nodes and reports are matched by address.
import type { Endpoint } from './types.js';

/** `ip:port`, the ip bracketed when it is IPv6; the key by which nodes and reports are matched. */
export function endpointKey(e: Endpoint): string {
  return e.ip.includes(':') ? `[${e.ip}]:${e.port}` : `${e.ip}:${e.port}`;
}
