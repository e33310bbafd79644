// ioredis's Cluster sends ASKING before a command an ASK redirect sends to the importing node, and
// never handles ASKING's own promise. When that node's connection closes meanwhile (a node killed
// mid-migration), the redirected command fails and its caller handles it, but ASKING's rejection
// ("Connection is closed.") is left unhandled and fails the whole test run. Handled here, for every
// client of the process; nothing else about ASKING changes.
import { Redis } from 'ioredis';

const commands = Redis.prototype as unknown as { asking: (...args: unknown[]) => Promise<unknown> };
const asking = commands.asking;
commands.asking = function (this: Redis, ...args: unknown[]) {
  const reply = asking.apply(this, args);
  reply.catch(() => undefined);
  return reply;
};
