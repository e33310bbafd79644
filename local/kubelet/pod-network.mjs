// Preloaded into Node programs the kubelet runs (`node --import`): every Pod shares the host's
// network here, so a server listening on all interfaces (what a container does) would take the
// port for every Pod. A wildcard or loopback address means the Pod itself: its own Pod IP, as
// the kubelet maps redis-server's --bind.
import net from 'node:net';

const podIP = process.env.LOCAL_POD_IP;
const podLocal = new Set([undefined, null, '', '0.0.0.0', '::', '127.0.0.1', 'localhost', '::1']);

if (podIP) {
  const listen = net.Server.prototype.listen;
  net.Server.prototype.listen = function (...args) {
    const [first] = args;
    if (typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first))) {
      if (typeof args[1] === 'string' || args[1] == null) args[1] = podLocal.has(args[1]) ? podIP : args[1];
      else args.splice(1, 0, podIP); // listen(port, backlog|callback)
    } else if (first && typeof first === 'object' && !('fd' in first) && !('_handle' in first) && first.path === undefined) {
      args[0] = { ...first, host: podLocal.has(first.host) ? podIP : first.host };
    } else if (first === undefined || typeof first === 'function') {
      args.unshift(0, podIP);
    }
    return listen.apply(this, args);
  };
}
