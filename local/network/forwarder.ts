// One address:port a Service is reached on: accepts TCP connections and splices each to a backend
// chosen when it arrives. With no backend the connection is reset at once (kube-proxy rejects).
// Binding is retried while the address is taken; closing stops new connections and leaves the
// open ones to finish, as established flows outlive a removed rule.
import net from 'node:net';
import type { Backend, ListenRule } from './rules.js';

const RETRY_FIRST_MS = 500;
const RETRY_MAX_MS = 5_000;

export class ServiceListener {
  private server: net.Server | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryMs = RETRY_FIRST_MS;
  private lastError = '';
  private closed = false;

  constructor(
    public rule: ListenRule,
    /** The backend for a new connection of this rule's Service port, or none. */
    private readonly pick: (rule: ListenRule) => Backend | undefined,
    /** Every open connection of the proxy, so stopping it can end them (they outlive their listener). */
    private readonly sockets: Set<net.Socket>,
    private readonly log: (msg: string) => void,
  ) {}

  get listening(): boolean {
    return !!this.server?.listening;
  }

  open(): void {
    if (this.closed) return;
    const server = net.createServer({ allowHalfOpen: true }, (client) => this.accept(client));
    server.once('error', (err: NodeJS.ErrnoException) => {
      server.close();
      if (this.closed) return;
      const why = `${err.code ?? 'error'}: ${err.message}`;
      // Once per distinct failure, not at every retry.
      if (why !== this.lastError) this.log(`service ${this.rule.service}: cannot listen on ${this.rule.key} (${why}); retrying`);
      this.lastError = why;
      this.retryTimer = setTimeout(() => this.open(), this.retryMs);
      this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
    });
    server.listen({ host: this.rule.address, port: this.rule.port }, () => {
      if (this.closed) {
        server.close();
        return;
      }
      if (this.lastError) this.log(`service ${this.rule.service}: listening on ${this.rule.key} after retrying`);
      this.lastError = '';
      this.retryMs = RETRY_FIRST_MS;
      this.server = server;
    });
  }

  private accept(client: net.Socket): void {
    const backend = this.pick(this.rule);
    if (!backend) {
      client.on('error', () => undefined);
      client.resetAndDestroy();
      return;
    }
    this.track(client);
    client.on('error', () => undefined);
    const upstream = net.connect({ host: backend.ip, port: backend.port, allowHalfOpen: true });
    this.track(upstream);
    let connected = false;
    upstream.once('connect', () => {
      connected = true;
      client.pipe(upstream);
      upstream.pipe(client);
    });
    upstream.on('error', () => {
      // A backend that refuses makes the client's connection fail the same way.
      if (!connected) client.resetAndDestroy();
      else client.destroy();
    });
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => {
      if (connected) client.end();
    });
  }

  private track(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
  }

  /** Stops accepting; connections already made go on. */
  close(): void {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.server?.close();
    this.server = undefined;
  }
}
