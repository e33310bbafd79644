// How nodes and reports are matched by address.
import type { Endpoint } from './types.js';

/** `ip:port`, the ip bracketed when it is IPv6; the key by which nodes and reports are matched. */
export function endpointKey(e: Endpoint): string {
  return e.ip.includes(':') ? `[${e.ip}]:${e.port}` : `${e.ip}:${e.port}`;
}

/** The endpoint an endpointKey names. */
export function endpointFromKey(key: string): Endpoint {
  const at = key.lastIndexOf(':');
  const ip = key.slice(0, at);
  return { ip: ip.startsWith('[') ? ip.slice(1, -1) : ip, port: Number(key.slice(at + 1)) };
}
