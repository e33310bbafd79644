// A new connection's AUTH reply, on a bare socket: a client library would retry or hide it.
import { createConnection } from 'node:net';

export function authReply(node: { ip?: string; port: number }, password: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ port: node.port, host: node.ip ?? '127.0.0.1' }, () =>
      socket.write(`*2\r\n$4\r\nAUTH\r\n$${Buffer.byteLength(password)}\r\n${password}\r\n`),
    );
    socket.once('data', (d) => {
      resolve(d.toString().trim());
      socket.destroy();
    });
    socket.once('error', reject);
  });
}
