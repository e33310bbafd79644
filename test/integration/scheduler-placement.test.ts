// The scheduler's placement decision as a pure function: Pods and nodes in, a node or reasons out.
import { describe, expect, it } from 'vitest';
import { placePod, type PodLike } from '../../local/scheduler/placement.js';
import { defaultNodes } from '../../local/scheduler/index.js';

const nodes = defaultNodes(3);

function redisPod(
  name: string,
  extra: Record<string, unknown> = {},
  labels: Record<string, string> = { app: 'redis', cluster: 'c1' },
): PodLike {
  return { metadata: { name, namespace: 'cache', labels }, spec: { containers: [{ name: 'redis', image: 'redis:7' }], ...extra } };
}

const antiAffinity = {
  affinity: {
    podAntiAffinity: {
      requiredDuringSchedulingIgnoredDuringExecution: [
        { labelSelector: { matchLabels: { cluster: 'c1' } }, topologyKey: 'kubernetes.io/hostname' },
      ],
    },
  },
};

/** Places pods one after another, as the scheduler does within one pass. */
function placeAll(pods: PodLike[]): (string | undefined)[] {
  const placed: PodLike[] = [];
  return pods.map((p) => {
    const d = placePod(p, nodes, placed);
    if (d.node) placed.push({ ...p, spec: { ...p.spec, nodeName: d.node } });
    return d.node;
  });
}

describe('placePod', () => {
  it('names three nodes with their own loopback address and labels', () => {
    expect(nodes.map((n) => [n.name, n.address, n.labels['kubernetes.io/hostname'], n.labels['topology.kubernetes.io/zone']])).toEqual([
      ['local-node-1', '127.0.0.2', 'local-node-1', 'local-zone-1'],
      ['local-node-2', '127.0.0.3', 'local-node-2', 'local-zone-2'],
      ['local-node-3', '127.0.0.4', 'local-node-3', 'local-zone-3'],
    ]);
  });

  it('spreads Pods with required anti-affinity over the nodes and refuses a fourth', () => {
    const placed = placeAll([1, 2, 3].map((i) => redisPod(`r${i}`, antiAffinity)));
    expect(new Set(placed).size).toBe(3);
    expect(placed.every(Boolean)).toBe(true);
    const existing = [1, 2, 3].map((i) => ({ ...redisPod(`r${i}`, antiAffinity), spec: { ...antiAffinity, nodeName: placed[i - 1] } }));
    const fourth = placePod(redisPod('r4', antiAffinity), nodes, existing);
    expect(fourth.node).toBeUndefined();
    expect(fourth).toMatchObject({ message: "0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules." });
  });

  it('lets a Pod without the rule go anywhere, but not next to a Pod whose rule rejects it', () => {
    const existing = [{ ...redisPod('r1'), spec: { ...antiAffinity, nodeName: 'local-node-1' } }];
    const newcomer = placePod(redisPod('plain'), nodes, existing);
    expect(newcomer.node).not.toBe('local-node-1');
    const onlyNode1 = placePod(redisPod('plain', { nodeSelector: { 'kubernetes.io/hostname': 'local-node-1' } }), nodes, existing);
    expect(onlyNode1).toMatchObject({
      message:
        "0/3 nodes are available: 1 node(s) didn't satisfy existing pods anti-affinity rules, 2 node(s) didn't match Pod's node affinity/selector.",
    });
    const otherCluster = placePod(redisPod('other', {}, { cluster: 'c2' }), nodes, existing);
    expect(otherCluster.node).toBeDefined();
  });

  it('reads the namespaces of a term: own by default, listed, or chosen by namespaceSelector', () => {
    const elsewhere = {
      ...redisPod('e'),
      metadata: { name: 'e', namespace: 'other', labels: { app: 'redis', cluster: 'c1' } },
      spec: { nodeName: 'local-node-1' },
    };
    const term = (extra: Record<string, unknown>) => ({
      affinity: {
        podAntiAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: [
            { labelSelector: { matchLabels: { cluster: 'c1' } }, topologyKey: 'kubernetes.io/hostname', ...extra },
          ],
        },
      },
      nodeSelector: { 'kubernetes.io/hostname': 'local-node-1' },
    });
    const labels = { other: { team: 'a', 'kubernetes.io/metadata.name': 'other' } };
    expect(placePod(redisPod('own', term({})), nodes, [elsewhere], labels).node).toBe('local-node-1');
    expect(placePod(redisPod('listed', term({ namespaces: ['other'] })), nodes, [elsewhere], labels).node).toBeUndefined();
    expect(placePod(redisPod('all', term({ namespaceSelector: {} })), nodes, [elsewhere], labels).node).toBeUndefined();
    expect(
      placePod(redisPod('team', term({ namespaceSelector: { matchLabels: { team: 'a' } } })), nodes, [elsewhere], labels).node,
    ).toBeUndefined();
    expect(placePod(redisPod('team-b', term({ namespaceSelector: { matchLabels: { team: 'b' } } })), nodes, [elsewhere], labels).node).toBe(
      'local-node-1',
    );
  });

  it('never puts two host-network Pods asking for the same port on one node', () => {
    const hostPod = (name: string, port: number) =>
      redisPod(
        name,
        { hostNetwork: true, containers: [{ name: 'redis', image: 'redis:7', ports: [{ containerPort: port }] }] },
        { app: name },
      );
    const placed = placeAll([hostPod('a', 10000), hostPod('b', 10000), hostPod('c', 10000), hostPod('d', 10001)]);
    expect(new Set(placed.slice(0, 3)).size).toBe(3);
    expect(placed[3]).toBeDefined();
    const existing = placed
      .slice(0, 3)
      .map((node, i) => ({ ...hostPod(`x${i}`, 10000), spec: { ...hostPod('x', 10000).spec, nodeName: node } }));
    expect(placePod(hostPod('e', 10000), nodes, existing)).toMatchObject({
      message: "0/3 nodes are available: 3 node(s) didn't have free ports for the requested pod ports.",
    });
    // The same port over UDP, or a Pod network Pod without hostPort, does not collide.
    const udp = redisPod('udp', {
      hostNetwork: true,
      containers: [{ name: 'd', image: 'd', ports: [{ containerPort: 10000, protocol: 'UDP' }] }],
    });
    expect(placePod(udp, nodes, existing).node).toBeDefined();
    const podNetwork = redisPod('pn', { containers: [{ name: 'd', image: 'd', ports: [{ containerPort: 10000 }] }] });
    expect(placePod(podNetwork, nodes, existing).node).toBeDefined();
    const hostPortPod = redisPod('hp', { containers: [{ name: 'd', image: 'd', ports: [{ containerPort: 80, hostPort: 10000 }] }] });
    expect(placePod(hostPortPod, nodes, existing).node).toBeUndefined();
  });

  it('honours nodeSelector and required node affinity', () => {
    expect(placePod(redisPod('z', { nodeSelector: { 'topology.kubernetes.io/zone': 'local-zone-2' } }), nodes, []).node).toBe(
      'local-node-2',
    );
    const affinity = {
      affinity: {
        nodeAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: {
            nodeSelectorTerms: [
              { matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'NotIn', values: ['local-node-1', 'local-node-2'] }] },
            ],
          },
        },
      },
    };
    expect(placePod(redisPod('na', affinity), nodes, []).node).toBe('local-node-3');
    expect(placePod(redisPod('none', { nodeSelector: { disk: 'ssd' } }), nodes, [])).toMatchObject({
      message: "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector.",
    });
  });

  it('follows required pod affinity, letting the first of a group go anywhere', () => {
    const together = {
      affinity: {
        podAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: [
            { labelSelector: { matchLabels: { group: 'g' } }, topologyKey: 'topology.kubernetes.io/zone' },
          ],
        },
      },
    };
    const first = placePod(redisPod('g1', together, { group: 'g' }), nodes, []);
    expect(first.node).toBeDefined();
    const existing = [{ ...redisPod('g1', together, { group: 'g' }), spec: { ...together, nodeName: first.node } }];
    expect(placePod(redisPod('g2', together, { group: 'g' }), nodes, existing).node).toBe(first.node);
    expect(placePod(redisPod('lonely', together, { group: 'other' }), nodes, [])).toMatchObject({
      message: "0/3 nodes are available: 3 node(s) didn't match pod affinity rules.",
    });
  });

  it('keeps Pods off tainted nodes unless they tolerate the taint', () => {
    const tainted = nodes.map((n) => ({
      ...n,
      taints: n.name === 'local-node-3' ? [] : [{ key: 'dedicated', value: 'db', effect: 'NoSchedule' }],
    }));
    expect(placePod(redisPod('p'), tainted, []).node).toBe('local-node-3');
    const onlyTainted = { nodeSelector: { 'kubernetes.io/hostname': 'local-node-1' } };
    expect(placePod(redisPod('p', onlyTainted), tainted, [])).toMatchObject({
      // Taints are looked at before the selector: nodes 1 and 2 fail on the taint, node 3 on the selector.
      message:
        "0/3 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 2 node(s) had untolerated taint {dedicated: db}.",
    });
    const tolerating = { ...onlyTainted, tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'db', effect: 'NoSchedule' }] };
    expect(placePod(redisPod('p', tolerating), tainted, []).node).toBe('local-node-1');
    expect(placePod(redisPod('p', { ...onlyTainted, tolerations: [{ operator: 'Exists' }] }), tainted, []).node).toBe('local-node-1');
    const preferNoSchedule = nodes.map((n) => ({ ...n, taints: [{ key: 'soft', effect: 'PreferNoSchedule' }] }));
    expect(placePod(redisPod('p'), preferNoSchedule, []).node).toBeDefined();
  });

  it('scores preferred anti-affinity and load, and skips unschedulable nodes', () => {
    const preferApart = {
      affinity: {
        podAntiAffinity: {
          preferredDuringSchedulingIgnoredDuringExecution: [
            { weight: 100, podAffinityTerm: { labelSelector: { matchLabels: { app: 'redis' } }, topologyKey: 'kubernetes.io/hostname' } },
          ],
        },
      },
    };
    const existing = [
      { ...redisPod('a'), spec: { nodeName: 'local-node-1' } },
      { ...redisPod('b', {}, { app: 'other' }), spec: { nodeName: 'local-node-2' } },
      { ...redisPod('c', {}, { app: 'other' }), spec: { nodeName: 'local-node-2' } },
    ];
    expect(placePod(redisPod('p', preferApart), nodes, existing).node).toBe('local-node-3');
    const cordoned = nodes.map((n) => ({ ...n, unschedulable: n.name === 'local-node-3' }));
    expect(placePod(redisPod('p', preferApart), cordoned, existing).node).toBe('local-node-2');
    const allCordoned = nodes.map((n) => ({ ...n, unschedulable: true }));
    expect(placePod(redisPod('p'), allCordoned, [])).toMatchObject({ message: '0/3 nodes are available: 3 node(s) were unschedulable.' });
  });
});
