// The entry point of a function: functions/<name>/index.ts is `await runFunction(() => createFunctionHost({...}))`.
import { ConfigError } from './config.js';
import type { FunctionHost, ListeningHost } from './host.js';

export type HostSource = FunctionHost | (() => FunctionHost | Promise<FunctionHost>);

function fail(message: string): never {
  process.stderr.write(`${JSON.stringify({ level: 'fatal', time: new Date().toISOString(), msg: message })}\n`);
  process.exit(1);
}

/**
 * Creates the host (a factory lets a bad configuration end the process with one clear line),
 * listens on PORT, and on SIGTERM or SIGINT drains in-flight requests and exits 0.
 */
export async function runFunction(source: HostSource): Promise<ListeningHost> {
  let host: FunctionHost;
  try {
    host = typeof source === 'function' ? await source() : source;
  } catch (err) {
    if (err instanceof ConfigError) fail(err.message);
    throw err;
  }
  // Signals are wired before listening, so a SIGTERM that arrives during start-up also drains.
  const listening = host
    .listen()
    .catch((err: unknown) => fail(`${host.name} cannot listen on port ${host.config.PORT}: ${(err as Error).message}`));
  const stop = (signal: NodeJS.Signals) => {
    host.log.info({ signal }, 'signal received');
    listening
      .then((l) => l.close())
      .then(
        () => process.exit(0),
        (err: unknown) => {
          host.log.error({ err }, 'shutdown failed');
          process.exit(1);
        },
      );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  return listening;
}
