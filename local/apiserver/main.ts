// Runs the API server alone: `npx tsx local/apiserver/main.ts [--port 8001] [--host 127.0.0.1] [--state-file FILE]
// [--service-cluster-ip-range 127.96.0.0/16] [--service-node-port-range 30000-32767] [--authorization-mode RBAC|AlwaysAllow]
// [--service-account-signing-key-file FILE]`.
import { startApiServer } from './index.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  if (i >= 0) return process.argv[i + 1];
  const eq = process.argv.find((a) => a.startsWith(`--${name}=`));
  return eq?.slice(name.length + 3);
}

const port = Number(arg('port') ?? 8001);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`--port: expected a port number, got ${JSON.stringify(arg('port'))}`);
  process.exit(2);
}
const mode = arg('authorization-mode') ?? 'RBAC';
if (mode !== 'RBAC' && mode !== 'AlwaysAllow') {
  console.error(`--authorization-mode: expected RBAC or AlwaysAllow, got ${JSON.stringify(mode)}`);
  process.exit(2);
}
const server = await startApiServer({
  host: arg('host') ?? '127.0.0.1',
  port,
  stateFile: arg('state-file'),
  serviceClusterIpRange: arg('service-cluster-ip-range'),
  serviceNodePortRange: arg('service-node-port-range'),
  authorizationMode: mode,
  serviceAccountSigningKeyFile: arg('service-account-signing-key-file'),
  log: (msg) => console.log(msg),
}).catch((err: unknown) => {
  // A bad flag (a range, a state file) is the user's to fix: say what, without a stack.
  console.error((err as Error).message);
  process.exit(2);
});
console.log(`kubectl --server ${server.url} get namespaces`);
const stop = () => {
  server.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
