import { describe, expect, it } from 'vitest';
import { LABEL_ORDINAL, LABEL_SHARD, applyDefaults, selectorLabels } from '../../shared/api/index.js';
import {
  buildClaim,
  buildConfigMap,
  buildPod,
  buildPodDisruptionBudget,
  buildService,
  configDrift,
  liveSettings,
  redisConf,
  restartHash,
  startScript,
} from '../../functions/reconcile/resources.js';
import { clusterNameOfPod, ordinalOf } from '../../shared/kube/nodes.js';

const cluster = { name: 'rc1', namespace: 'cache', uid: 'uid-1' };
const spec = applyDefaults({ masters: 3, replicas: 1, basePort: 10000, maxMemory: '512mb', resources: { limits: { cpu: 1 } } });

describe('pod', () => {
  const pod = buildPod(cluster, spec, 4, 2);
  const redis = pod.spec!.containers.find((c) => c.name === 'redis')!;

  it('listens on basePort + ordinal, announces the Pod IP, bus +10000, exporter +5000', () => {
    expect(pod.metadata!.name).toBe('rc1-4');
    expect(redis.command!.slice(0, 2)).toEqual(['sh', '-c']);
    expect(redis.command![2]).toContain('exec redis-server /etc/redis/redis.conf "$@"');
    expect(redis.command![3]).toBe('redis-server');
    expect(redis.args).toEqual([
      '--port',
      '10004',
      '--cluster-announce-ip',
      '$(POD_IP)',
      '--cluster-announce-port',
      '10004',
      '--cluster-announce-bus-port',
      '20004',
    ]);
    expect(redis.env).toContainEqual({ name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } });
    expect(redis.readinessProbe!.tcpSocket!.port).toBe(10004);
    expect(redis.livenessProbe!.tcpSocket!.port).toBe(10004);
    expect(redis.resources).toEqual({ limits: { cpu: 1 } });
    const exporter = pod.spec!.containers.find((c) => c.name === 'exporter')!;
    expect(exporter.image).toBe('oliver006/redis_exporter:v1.45.0');
    expect(exporter.args).toEqual(['--web.listen-address=$(POD_IP):15004']);
    expect(exporter.env).toContainEqual({ name: 'REDIS_ADDR', value: 'redis://$(POD_IP):10004' });
  });

  it('carries the labels, the owner and host networking', () => {
    expect(pod.metadata!.labels).toMatchObject({ ...selectorLabels('rc1'), [LABEL_ORDINAL]: '4', [LABEL_SHARD]: '2' });
    expect(pod.metadata!.ownerReferences).toEqual([
      { apiVersion: 'redis.redis/v1beta1', kind: 'RedisCluster', name: 'rc1', uid: 'uid-1', controller: true, blockOwnerDeletion: true },
    ]);
    expect(pod.spec!.hostNetwork).toBe(true);
    expect(pod.spec!.dnsPolicy).toBe('ClusterFirstWithHostNet');
    expect(pod.spec!.restartPolicy).toBe('Always');
    expect(pod.spec!.volumes).toEqual([
      { name: 'config', configMap: { name: 'rc1-config' } },
      { name: 'data', emptyDir: {} },
    ]);
  });

  it('requires its shard apart on hostname, prefers the cluster spread, keeps the user affinity', () => {
    const user = {
      nodeAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: {
          nodeSelectorTerms: [{ matchExpressions: [{ key: 'disk', operator: 'In', values: ['ssd'] }] }],
        },
      },
      podAntiAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: { app: 'x' } }, topologyKey: 'zone' }],
      },
    };
    const s = applyDefaults({ maxMemory: '1mb', affinity: user });
    const p = buildPod(cluster, s, 0, 1);
    const aff = p.spec!.affinity!;
    expect(aff.nodeAffinity).toEqual(user.nodeAffinity);
    const required = aff.podAntiAffinity!.requiredDuringSchedulingIgnoredDuringExecution!;
    expect(required).toHaveLength(2);
    expect(required[1]).toEqual({
      labelSelector: { matchLabels: { ...selectorLabels('rc1'), [LABEL_SHARD]: '1' } },
      topologyKey: 'kubernetes.io/hostname',
    });
    expect(aff.podAntiAffinity!.preferredDuringSchedulingIgnoredDuringExecution![0]!.podAffinityTerm.labelSelector!.matchLabels).toEqual(
      selectorLabels('rc1'),
    );
  });

  it('passes the password from the Secret and leaves out the exporter when disabled', () => {
    const s = applyDefaults({ maxMemory: '1mb', passwordSecret: { name: 'pw' }, exporter: { enabled: false }, hostNetwork: false });
    const p = buildPod(cluster, s, 0, 0);
    expect(p.spec!.containers.map((c) => c.name)).toEqual(['redis']);
    const c = p.spec!.containers[0]!;
    const at = c.args!.indexOf('--requirepass');
    expect(c.args!.slice(at, at + 4)).toEqual(['--requirepass', '$(REDIS_PASSWORD)', '--masterauth', '$(REDIS_PASSWORD)']);
    expect(c.env).toContainEqual({ name: 'REDIS_PASSWORD', valueFrom: { secretKeyRef: { name: 'pw', key: 'password' } } });
    // The operator's and the exporter's users start with the node, their passwords from the cluster's users Secret.
    const user = c.args!.indexOf('--user');
    expect(c.args!.slice(user, user + 4)).toEqual(['--user', 'redis-operator', 'on', '>$(REDIS_OPERATOR_PASSWORD)']);
    expect(c.args!.filter((a) => a === '--user')).toHaveLength(2);
    expect(c.env).toContainEqual({
      name: 'REDIS_OPERATOR_PASSWORD',
      valueFrom: { secretKeyRef: { name: 'rc1-operator-users', key: 'redis-operator' } },
    });
    expect(p.spec!.hostNetwork).toBe(false);
    expect(p.spec!.dnsPolicy).toBeUndefined();
  });

  it('logs the exporter in as its own user, without CONFIG, when the cluster has a password', () => {
    const s = applyDefaults({ maxMemory: '1mb', passwordSecret: { name: 'pw' }, hostNetwork: false });
    const exporter = buildPod(cluster, s, 0, 0).spec!.containers.find((c) => c.name === 'exporter')!;
    expect(exporter.env).toContainEqual({ name: 'REDIS_USER', value: 'redis-exporter' });
    expect(exporter.env).toContainEqual({
      name: 'REDIS_PASSWORD',
      valueFrom: { secretKeyRef: { name: 'rc1-operator-users', key: 'redis-exporter' } },
    });
    expect(exporter.args).toContain('--config-command=-');
    // Without a password there are no users to log in as.
    const open = buildPod(cluster, applyDefaults({ maxMemory: '1mb', hostNetwork: false }), 0, 0).spec!.containers;
    expect(open.find((c) => c.name === 'exporter')!.env!.map((e) => e.name)).not.toContain('REDIS_USER');
    expect(open.find((c) => c.name === 'redis')!.args).not.toContain('--user');
  });

  it('uses a claim per ordinal with persistence', () => {
    const s = applyDefaults({ maxMemory: '1mb', persistence: { enabled: true, size: '2Gi', storageClass: 'fast' } });
    expect(buildPod(cluster, s, 7, 0).spec!.volumes![1]).toEqual({ name: 'data', persistentVolumeClaim: { claimName: 'rc1-7-data' } });
    const claim = buildClaim(cluster, s, 7, 3);
    expect(claim.metadata!.name).toBe('rc1-7-data');
    expect(claim.metadata!.labels).toMatchObject({ 'redis.redis/ordinal': '7', 'redis.redis/shard': '3' });
    expect(claim.spec).toEqual({ accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '2Gi' } }, storageClassName: 'fast' });
    expect(claim.metadata!.ownerReferences![0]!.uid).toBe('uid-1');
    expect(redisConf(s)).toContain('appendonly yes\n');
    // With a volume, snapshots keep Redis's defaults.
    expect(redisConf(s)).not.toMatch(/^save /m);
    expect(liveSettings(s)).not.toHaveProperty('save');
    expect(redisConf(s)).not.toContain('rdb-del-sync-files');
  });
});

describe('redis.conf, Service, PDB', () => {
  it('writes the operator settings and the user ones', () => {
    const s = applyDefaults({ maxMemory: '256mb', clusterNodeTimeout: 2000, maxMemoryPolicy: 'allkeys-lru', redisConfig: { hz: '20' } });
    const conf = redisConf(s).split('\n');
    for (const line of [
      'cluster-enabled yes',
      'cluster-config-file /data/nodes.conf',
      'dir /data',
      'cluster-node-timeout 2000',
      'maxmemory 256mb',
      'maxmemory-policy allkeys-lru',
      'cluster-allow-replica-migration no',
      'cluster-require-full-coverage yes',
      'repl-diskless-sync-max-replicas 1',
      'appendonly no',
      'save ""',
      'rdb-del-sync-files yes',
      'protected-mode no',
      'hz 20',
    ])
      expect(conf).toContain(line);
    expect(buildConfigMap(cluster, s).data!['redis.conf']).toBe(redisConf(s));
  });

  it('headless Service with a port per node, PDB maxUnavailable 1', () => {
    const svc = buildService(cluster, spec);
    expect(svc.spec!.clusterIP).toBe('None');
    expect(svc.spec!.selector).toEqual(selectorLabels('rc1'));
    expect(svc.spec!.ports!.map((p) => p.port)).toEqual([10000, 10001, 10002, 10003, 10004, 10005]);
    const pdb = buildPodDisruptionBudget(cluster);
    expect(pdb.spec).toEqual({ maxUnavailable: 1, selector: { matchLabels: selectorLabels('rc1') } });
    expect(pdb.metadata!.ownerReferences![0]!.controller).toBe(true);
  });
});

describe('live settings', () => {
  it('wants maxmemory in bytes, the policy, the node timeout and the user settings; drift is what differs', () => {
    const s = applyDefaults({ maxMemory: '512mb', clusterNodeTimeout: 3000, redisConfig: { 'Lazyfree-Lazy-Eviction': 'yes' } });
    const wanted = liveSettings(s);
    expect(wanted).toEqual({
      maxmemory: '536870912',
      'maxmemory-policy': 'noeviction',
      'cluster-node-timeout': '3000',
      'repl-diskless-sync-max-replicas': '1',
      save: '',
      'rdb-del-sync-files': 'yes',
      'lazyfree-lazy-eviction': 'yes',
    });
    const current = {
      maxmemory: '268435456',
      'maxmemory-policy': 'noeviction',
      'cluster-node-timeout': '3000',
      'repl-diskless-sync-max-replicas': '1',
      'lazyfree-lazy-eviction': 'YES',
    };
    expect(configDrift(wanted, current)).toEqual([['maxmemory', '536870912']]);
    // A node still on Redis's snapshot defaults stops taking them.
    expect(configDrift(wanted, { ...current, maxmemory: '536870912', save: '3600 1 300 100 60 10000' })).toEqual([['save', '']]);
    // A user's save points win, in the file (after the operator's line) and live.
    const saving = applyDefaults({ maxMemory: '512mb', redisConfig: { save: '900 1' } });
    expect(liveSettings(saving).save).toBe('900 1');
    const lines = redisConf(saving).split('\n');
    expect(lines.indexOf('save 900 1')).toBeGreaterThan(lines.indexOf('save ""'));
    // A setting the node does not report (unknown to this Redis) is left alone.
    expect(configDrift({ 'no-such-setting': '1' }, {})).toEqual([]);
  });
});

describe('start', () => {
  const ephemeral = { persistence: { enabled: false, size: '1Gi' } };
  it('delays only a node that was a master and has no data on disk, by the failover time', () => {
    const script = startScript({ clusterNodeTimeout: 2000, ...ephemeral });
    expect(script).toContain("grep -q 'myself,master' /data/nodes.conf");
    expect(script).toContain('sleep 6;');
    expect(startScript({ clusterNodeTimeout: 5000, ...ephemeral })).toContain('sleep 12;');
  });

  it("without persistence drops the RDB a replica's last sync left, before deciding; keeps it when asked to snapshot", () => {
    expect(startScript({ clusterNodeTimeout: 2000, ...ephemeral }).startsWith('rm -f /data/dump.rdb; if grep')).toBe(true);
    expect(startScript({ clusterNodeTimeout: 2000, persistence: { enabled: true, size: '1Gi' } })).not.toContain('rm -f');
    expect(startScript({ clusterNodeTimeout: 2000, ...ephemeral, redisConfig: { save: '900 1' } })).not.toContain('rm -f');
  });
});

describe('names', () => {
  it('finds the cluster and ordinal of a Pod name', () => {
    expect(clusterNameOfPod('rediscluster1-12')).toBe('rediscluster1');
    expect(clusterNameOfPod('my-cache-2-0')).toBe('my-cache-2');
    expect(clusterNameOfPod('nodigits')).toBeUndefined();
    expect(clusterNameOfPod('x-01')).toBeUndefined();
    expect(ordinalOf('rc1', 'rc1-3')).toBe(3);
    expect(ordinalOf('rc1', 'rc10-3')).toBeUndefined();
  });
});

describe('a TLS pod', () => {
  const tls = applyDefaults({ masters: 3, replicas: 1, basePort: 10000, maxMemory: '512mb', tls: { secretName: 'rc1-tls' } });
  const pod = buildPod(cluster, tls, 4, 2, 'hash-1');
  const [redis, exporter] = pod.spec!.containers;

  it('serves TLS only on its port, announced as the TLS port, with the Secret mounted', () => {
    expect(redis!.args!.slice(0, 4)).toEqual(['--port', '0', '--tls-port', '10004']);
    expect(redis!.args).toContain('--cluster-announce-tls-port');
    expect(redis!.args).not.toContain('--cluster-announce-port');
    expect(pod.spec!.volumes).toContainEqual({ name: 'tls', secret: { secretName: 'rc1-tls' } });
    expect(redis!.volumeMounts).toContainEqual({ name: 'tls', mountPath: '/etc/redis-tls', readOnly: true });
    expect(pod.metadata!.annotations!['redis.redis/tls-hash']).toBe('hash-1');
  });

  it('has TLS on the bus and for replication in redis.conf, and the exporter scrape its node over TLS on loopback', () => {
    const conf = redisConf(tls);
    expect(conf).toMatch(/^tls-cluster yes$/m);
    expect(conf).toMatch(/^tls-replication yes$/m);
    expect(conf).toMatch(/^tls-ca-cert-file \/etc\/redis-tls\/ca\.crt$/m);
    // A certificate made before the Pod cannot name its IP: loopback, unverified, and no key mounted.
    expect(exporter!.env).toContainEqual({ name: 'REDIS_ADDR', value: 'rediss://localhost:10004' });
    expect(exporter!.args).toContain('--skip-tls-verification');
    expect(exporter!.volumeMounts).toBeUndefined();
  });

  it('without tls: plaintext, no TLS lines, no mount', () => {
    const plain = buildPod(cluster, spec, 4, 2);
    expect(plain.spec!.containers[0]!.args!.slice(0, 2)).toEqual(['--port', '10004']);
    expect(redisConf(spec)).not.toMatch(/tls/);
    expect(plain.spec!.volumes!.map((v) => v.name)).toEqual(['config', 'data']);
  });
});

describe('a Pod while TLS is turned on or off', () => {
  const plainSpec = applyDefaults({ masters: 3, replicas: 1, basePort: 10000, maxMemory: '512mb' });
  const tlsSpec = applyDefaults({ masters: 3, replicas: 1, basePort: 10000, maxMemory: '512mb', tls: { secretName: 'rc1-tls' } });
  const args = (p: ReturnType<typeof buildPod>) => p.spec!.containers[0]!.args!;

  it('on the way to TLS: its port plaintext, TLS on port + 1000, the bus still plaintext, the Secret mounted', () => {
    const pod = buildPod(cluster, tlsSpec, 4, 2, undefined, { layout: 'plain+tls', secretName: 'rc1-tls' });
    expect(args(pod).slice(0, 4)).toEqual(['--port', '10004', '--tls-port', '11004']);
    expect(args(pod).join(' ')).toContain('--cluster-announce-port 10004 --cluster-announce-tls-port 11004');
    expect(args(pod).join(' ')).toContain('--tls-cluster no --tls-replication no');
    expect(pod.spec!.volumes).toContainEqual({ name: 'tls', secret: { secretName: 'rc1-tls' } });
    expect(pod.metadata!.annotations!['redis.redis/tls-layout']).toBe('plain+tls');
    // The exporter scrapes the node's port as it speaks now.
    expect(pod.spec!.containers[1]!.env).toContainEqual({ name: 'REDIS_ADDR', value: 'redis://$(POD_IP):10004' });
  });

  it('on the way back: TLS on its port, plaintext on port + 1000, the bus TLS, the Secret from the Pods', () => {
    const pod = buildPod(cluster, plainSpec, 4, 2, undefined, { layout: 'tls+plain', secretName: 'rc1-tls' });
    expect(args(pod).slice(0, 4)).toEqual(['--port', '11004', '--tls-port', '10004']);
    expect(args(pod).join(' ')).toContain('--tls-cluster yes --tls-replication yes');
    expect(pod.spec!.volumes).toContainEqual({ name: 'tls', secret: { secretName: 'rc1-tls' } });
    expect(pod.spec!.containers[1]!.env).toContainEqual({ name: 'REDIS_ADDR', value: 'rediss://localhost:10004' });
  });

  it('a dual layout is a roll away from both final ones; outside a transition the hashes are as before', () => {
    const hashes = new Set([
      restartHash(tlsSpec),
      restartHash(tlsSpec, { layout: 'plain+tls', secretName: 'rc1-tls' }),
      restartHash(plainSpec),
      restartHash(plainSpec, { layout: 'tls+plain', secretName: 'rc1-tls' }),
    ]);
    expect(hashes.size).toBe(4);
    expect(restartHash(tlsSpec, { layout: 'tls', secretName: 'rc1-tls' })).toBe(restartHash(tlsSpec));
    expect(buildPod(cluster, tlsSpec, 4, 2).metadata!.annotations!['redis.redis/tls-layout']).toBeUndefined();
  });

  it("redis.conf names the certificate files and the cluster's current bus", () => {
    const conf = redisConf(tlsSpec, { files: true, bus: false });
    expect(conf).toMatch(/^tls-cert-file \/etc\/redis-tls\/tls\.crt$/m);
    expect(conf).not.toMatch(/^tls-cluster/m);
    expect(redisConf(tlsSpec)).toBe(redisConf(tlsSpec, { files: true, bus: true }));
  });
});
