// The queue-proxy container of a revision Pod, as Knative injects it: it takes the Pod's traffic on
// QUEUE_SERVING_PORT (8012) and hands it to the user container on USER_PORT (8080), so everything
// that reaches a function (the activator, a plain Service in front of its Pods) enters the same
// way. Knative's queue-proxy also meters and queues requests; here the activator does that.
import http from 'node:http';

const host = process.env.LOCAL_POD_IP ?? '127.0.0.1';
const servingPort = Number(process.env.QUEUE_SERVING_PORT ?? 8012);
const userPort = Number(process.env.USER_PORT ?? 8080);
const agent = new http.Agent({ keepAlive: true });

const server = http.createServer((req, res) => {
  const upstream = http.request({ host, port: userPort, method: req.method, path: req.url, headers: req.headers, agent }, (ures) => {
    res.writeHead(ures.statusCode ?? 502, ures.headers);
    ures.pipe(res);
  });
  upstream.on('error', (err) => {
    if (res.headersSent) return res.destroy();
    res.writeHead(502, { 'content-type': 'application/json' }).end(JSON.stringify({ message: `user container: ${err.message}` }));
  });
  res.on('close', () => upstream.destroy());
  req.pipe(upstream);
});
server.keepAliveTimeout = 65_000;
server.listen(servingPort, host, () => console.log(`queue-proxy: ${host}:${servingPort} -> ${host}:${userPort}`));

// Drain on SIGTERM: stop taking connections, let the open ones finish.
process.on('SIGTERM', () => {
  server.close(() => process.exit(0));
  server.closeIdleConnections();
});
