import { describe, expect, it } from 'vitest';
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import {
  classifyImage,
  ContainerConfigError,
  expandVars,
  mappingsFor,
  planExecProbe,
  planProcess,
  redisServerArgs,
  resolveEnv,
  rewritePaths,
  type ObjectLookup,
} from '../../local/kubelet/command.js';

const pod: V1Pod = {
  metadata: { name: 'rc-0', namespace: 'cache', uid: 'u1', labels: { app: 'redis' } },
  spec: { nodeName: 'local-node-1', containers: [] },
};
const facts = { podIP: '127.1.0.7', hostIP: '127.0.0.2' };
const noObjects: ObjectLookup = { configMap: () => undefined, secret: () => undefined };
const base = { redisServerBinary: '/usr/bin/redis-server', redisCliBinary: '/usr/bin/redis-cli', baseEnv: { PATH: '/bin' } };

describe('kubelet command building', () => {
  it('classifies images', () => {
    expect(classifyImage('redis:7')).toBe('redis');
    expect(classifyImage('awbrg789/redis:latest')).toBe('redis');
    expect(classifyImage('bitnami/redis')).toBe('redis');
    expect(classifyImage('oliver006/redis_exporter:v1.45')).toBe('exporter');
    expect(classifyImage('bitnami/redis-exporter')).toBe('exporter');
    expect(classifyImage('nginx:1.25')).toBe('other');
  });

  it('expands $(VAR) as Kubernetes does', () => {
    const vars = new Map([
      ['POD_IP', '127.1.0.7'],
      ['PORT', '10001'],
    ]);
    expect(expandVars('--cluster-announce-ip $(POD_IP)', vars)).toBe('--cluster-announce-ip 127.1.0.7');
    expect(expandVars('$(PORT)$(MISSING)', vars)).toBe('10001$(MISSING)');
    expect(expandVars('$$(PORT) $$ $x', vars)).toBe('$(PORT) $ $x');
    expect(expandVars('$(unterminated', vars)).toBe('$(unterminated');
  });

  it('resolves the downward API, secrets and config maps, in order', () => {
    const container: V1Container = {
      name: 'redis',
      env: [
        { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
        { name: 'HOST_IP', valueFrom: { fieldRef: { fieldPath: 'status.hostIP' } } },
        { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
        { name: 'NS', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
        { name: 'APP', valueFrom: { fieldRef: { fieldPath: "metadata.labels['app']" } } },
        { name: 'PASSWORD', valueFrom: { secretKeyRef: { name: 'pw', key: 'password' } } },
        { name: 'MAXMEM', valueFrom: { configMapKeyRef: { name: 'conf', key: 'maxmemory' } } },
        { name: 'ADDR', value: '$(POD_IP):6379' },
      ],
    };
    const objects: ObjectLookup = {
      secret: (n) => (n === 'pw' ? { data: { password: Buffer.from('s3cret').toString('base64') } } : undefined),
      configMap: (n) => (n === 'conf' ? { data: { maxmemory: '512mb' } } : undefined),
    };
    const env = resolveEnv(pod, container, facts, objects);
    expect(Object.fromEntries(env)).toEqual({
      POD_IP: '127.1.0.7',
      HOST_IP: '127.0.0.2',
      POD_NAME: 'rc-0',
      NS: 'cache',
      APP: 'redis',
      PASSWORD: 's3cret',
      MAXMEM: '512mb',
      ADDR: '127.1.0.7:6379',
    });
  });

  it('names the missing secret, and skips optional ones', () => {
    const container: V1Container = {
      name: 'redis',
      env: [{ name: 'PASSWORD', valueFrom: { secretKeyRef: { name: 'pw', key: 'password' } } }],
    };
    expect(() => resolveEnv(pod, container, facts, noObjects)).toThrow(ContainerConfigError);
    expect(() => resolveEnv(pod, container, facts, noObjects)).toThrow(/secret "pw" not found/);
    container.env![0]!.valueFrom!.secretKeyRef!.optional = true;
    expect(resolveEnv(pod, container, facts, noObjects).get('PASSWORD')).toBe('');
  });

  it('rewrites mount paths at word boundaries only, longest first', () => {
    const mappings = mappingsFor(
      [
        { name: 'data', mountPath: '/data' },
        { name: 'conf', mountPath: '/etc/redis/' },
        { name: 'conf', mountPath: '/data/conf' },
      ],
      (n) => ({ data: '/real/data', conf: '/real/conf' })[n],
    );
    expect(rewritePaths('/data', mappings)).toBe('/real/data');
    expect(rewritePaths('/data/nodes.conf', mappings)).toBe('/real/data/nodes.conf');
    expect(rewritePaths('/data/conf/x', mappings)).toBe('/real/conf/x');
    expect(rewritePaths('/database', mappings)).toBe('/database');
    expect(rewritePaths('x/data', mappings)).toBe('x/data');
    expect(rewritePaths('--dir=/data', mappings)).toBe('--dir=/real/data');
    expect(rewritePaths('dir /data\ninclude "/etc/redis/extra.conf"\n', mappings)).toBe(
      'dir /real/data\ninclude "/real/conf/extra.conf"\n',
    );
  });

  it('maps a subPath mount to the file inside the volume', () => {
    const mappings = mappingsFor([{ name: 'conf', mountPath: '/usr/local/etc/redis/redis.conf', subPath: 'redis.conf' }], () => '/v/conf');
    expect(rewritePaths('/usr/local/etc/redis/redis.conf', mappings)).toBe('/v/conf/redis.conf');
  });

  it('binds redis-server to the Pod IP unless an address is given, and never daemonizes', () => {
    expect(redisServerArgs(['--port', '10000'], '127.1.0.7')).toEqual(['--port', '10000', '--bind', '127.1.0.7', '--daemonize', 'no']);
    expect(redisServerArgs(['--bind', '0.0.0.0', '--port', '1'], '127.1.0.7')).toEqual([
      '--bind',
      '127.1.0.7',
      '--port',
      '1',
      '--daemonize',
      'no',
    ]);
    expect(redisServerArgs(['--bind', '127.0.0.9'], '127.1.0.7')).toEqual(['--bind', '127.0.0.9', '--daemonize', 'no']);
    expect(redisServerArgs(['--bind', '0.0.0.0', '::', '--port', '1'], '127.1.0.7')).toEqual([
      '--bind',
      '127.1.0.7',
      '--port',
      '1',
      '--daemonize',
      'no',
    ]);
    expect(redisServerArgs(['--bind', '127.0.0.1', '127.0.0.9'], '127.1.0.7')).toEqual([
      '--bind',
      '127.1.0.7',
      '127.0.0.9',
      '--daemonize',
      'no',
    ]);
    expect(redisServerArgs(['/etc/redis.conf', '--bind'], '127.1.0.7')).toEqual([
      '/etc/redis.conf',
      '--bind',
      '127.1.0.7',
      '--daemonize',
      'no',
    ]);
  });

  it('plans a redis container from command/args with expansion and path mapping', () => {
    const container: V1Container = {
      name: 'redis',
      image: 'awbrg789/redis:latest',
      command: ['redis-server'],
      args: ['/conf/redis.conf', '--port', '$(PORT)', '--dir', '/data', '--cluster-announce-ip', '$(POD_IP)'],
    };
    const env = new Map([
      ['PORT', '10000'],
      ['POD_IP', '127.1.0.7'],
    ]);
    const mappings = mappingsFor(
      [
        { name: 'conf', mountPath: '/conf' },
        { name: 'data', mountPath: '/data' },
      ],
      (n) => `/pod/${n}`,
    );
    const result = planProcess({ ...base, pod, container, env, podIP: '127.1.0.7', mappings });
    expect(result).toEqual({
      ok: true,
      plan: {
        file: '/usr/bin/redis-server',
        args: [
          '/pod/conf/redis.conf',
          '--port',
          '10000',
          '--dir',
          '/pod/data',
          '--cluster-announce-ip',
          '127.1.0.7',
          '--bind',
          '127.1.0.7',
          '--daemonize',
          'no',
        ],
        env: { PATH: '/bin', PORT: '10000', POD_IP: '127.1.0.7' },
      },
    });
  });

  it('treats a config file or flags as arguments of redis-server, as the image entrypoint does', () => {
    const run = (args?: string[], command?: string[]) =>
      planProcess({
        ...base,
        pod,
        container: { name: 'r', image: 'redis:7', args, command },
        env: new Map(),
        podIP: '127.1.0.7',
        mappings: [],
      });
    const argsOf = (r: ReturnType<typeof run>) => (r.ok ? [r.plan.file, ...r.plan.args] : r.reason);
    expect(argsOf(run())).toEqual(['/usr/bin/redis-server', '--bind', '127.1.0.7', '--daemonize', 'no']);
    expect(argsOf(run(['/etc/redis.conf']))).toEqual([
      '/usr/bin/redis-server',
      '/etc/redis.conf',
      '--bind',
      '127.1.0.7',
      '--daemonize',
      'no',
    ]);
    expect(argsOf(run(['--port', '7000'], ['docker-entrypoint.sh']))).toEqual([
      '/usr/bin/redis-server',
      '--port',
      '7000',
      '--bind',
      '127.1.0.7',
      '--daemonize',
      'no',
    ]);
    expect(argsOf(run(['-c', 'exec redis-server'], ['sh']))).toEqual(['sh', '-c', 'exec redis-server']);
  });

  it('maps the exporter to the Pod address and keeps its env', () => {
    const container: V1Container = { name: 'exporter', image: 'oliver006/redis_exporter', args: ['--web.listen-address', ':15000'] };
    const env = new Map([
      ['REDIS_ADDR', 'redis://localhost:10000'],
      ['REDIS_PASSWORD', 'pw'],
    ]);
    const result = planProcess({
      ...base,
      pod,
      container,
      env,
      podIP: '127.1.0.7',
      mappings: [],
      exporterBinary: '/usr/bin/prometheus-redis-exporter',
    });
    expect(result.ok && result.plan).toEqual({
      file: '/usr/bin/prometheus-redis-exporter',
      args: ['--web.listen-address', '127.1.0.7:15000'],
      env: { PATH: '/bin', REDIS_ADDR: 'redis://127.1.0.7:10000', REDIS_PASSWORD: 'pw' },
    });
    const defaults = planProcess({
      ...base,
      pod,
      container: { name: 'e', image: 'oliver006/redis_exporter' },
      env: new Map(),
      podIP: '127.1.0.7',
      mappings: [],
      exporterBinary: '/x',
    });
    expect(defaults.ok && defaults.plan.args).toEqual(['--web.listen-address=127.1.0.7:9121']);
    expect(defaults.ok && defaults.plan.env.REDIS_ADDR).toBe('redis://127.1.0.7:6379');
  });

  it('says why a container cannot run', () => {
    const exporter = planProcess({
      ...base,
      pod,
      container: { name: 'e', image: 'oliver006/redis_exporter' },
      env: new Map(),
      podIP: '127.1.0.7',
      mappings: [],
    });
    expect(exporter).toMatchObject({ ok: false, reason: 'ExporterNotInstalled' });
    expect(!exporter.ok && exporter.message).toMatch(/prometheus-redis-exporter/);
    const nginx = planProcess({
      ...base,
      pod,
      container: { name: 'web', image: 'nginx' },
      env: new Map(),
      podIP: '127.1.0.7',
      mappings: [],
    });
    expect(nginx).toMatchObject({ ok: false, reason: 'ImageNotRunnable' });
    expect(!nginx.ok && nginx.message).toMatch(/nginx.*redis/);
  });

  it('points exec probes running redis-cli at the Pod IP', () => {
    expect(planExecProbe(['redis-cli', '-p', '10000', 'ping'], '127.1.0.7', [], '/usr/bin/redis-cli')).toEqual({
      file: '/usr/bin/redis-cli',
      args: ['-h', '127.1.0.7', '-p', '10000', 'ping'],
    });
    expect(planExecProbe(['redis-cli', '-h', '127.0.0.5', 'ping'], '127.1.0.7', [], '/usr/bin/redis-cli').args).toEqual([
      '-h',
      '127.0.0.5',
      'ping',
    ]);
    expect(
      planExecProbe(
        ['sh', '-c', 'test -f /data/x'],
        '127.1.0.7',
        mappingsFor([{ name: 'd', mountPath: '/data' }], () => '/v'),
        '/r',
      ),
    ).toEqual({
      file: 'sh',
      args: ['-c', 'test -f /v/x'],
    });
  });
});
