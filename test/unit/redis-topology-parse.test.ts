import { describe, expect, it } from 'vitest';
import { compactRanges, parseClusterNodes, parseInfo, rangesToSlots, slotsToRanges } from '../../shared/redis/topology.js';

// Lines as Redis 7.0 prints them, including open slots, a failing node, a handshake and noaddr.
const SAMPLE = `
07c37dfeb235213a872192d90877d0cd55635b91 127.0.0.1:30004@40004 slave e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 0 1426238317239 4 connected
67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1 127.0.0.1:30002@40002 master - 0 1426238316232 2 connected 5461-10922 [10923->-292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f]
292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f 127.0.0.1:30003@40003,node-3.redis master - 0 1426238318243 3 connected 10924-16383 [10923-<-67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1]
6ec23923021cf3ffec47632106199cb7f496ce01 127.0.0.1:30005@40005 slave,fail? 67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1 0 1426238316232 2 disconnected
e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 127.0.0.1:30001@40001 myself,master - 0 0 1 connected 0-5460 7000
aaaa2db8d677e59ec4a4cefb06858cf2a1a89fa1 :0@0 handshake,noaddr - 0 0 0 disconnected
`;

describe('parseClusterNodes', () => {
  const nodes = parseClusterNodes(SAMPLE);

  it('reads ids, addresses, roles and masters', () => {
    expect(nodes).toHaveLength(6);
    const replica = nodes[0]!;
    expect(replica).toMatchObject({ ip: '127.0.0.1', port: 30004, busPort: 40004, role: 'replica' });
    expect(replica.masterId).toBe('e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca');
    const me = nodes.find((n) => n.flags.includes('myself'))!;
    expect(me.role).toBe('master');
    expect(me.masterId).toBeUndefined();
    expect(me.slots).toEqual([
      { start: 0, end: 5460 },
      { start: 7000, end: 7000 },
    ]);
  });

  it('reads open slots in both directions and keeps them out of owned ranges', () => {
    const src = nodes[1]!;
    expect(src.slots).toEqual([{ start: 5461, end: 10922 }]);
    expect(src.openSlots).toEqual([{ slot: 10923, state: 'migrating', peerId: '292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f' }]);
    const dst = nodes[2]!;
    expect(dst.hostname).toBe('node-3.redis');
    expect(dst.openSlots).toEqual([{ slot: 10923, state: 'importing', peerId: '67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1' }]);
  });

  it('reads failure flags, link state, epochs and address-less nodes', () => {
    expect(nodes[3]!.flags).toEqual(['slave', 'fail?']);
    expect(nodes[3]!.linkState).toBe('disconnected');
    expect(nodes[2]!.configEpoch).toBe(3);
    expect(nodes[5]).toMatchObject({ ip: '', port: 0, flags: ['handshake', 'noaddr'] });
  });

  it('rejects a line that is not CLUSTER NODES output', () => {
    expect(() => parseClusterNodes('ERR This instance has cluster support disabled')).toThrow(/fields/);
  });
});

describe('ranges and INFO', () => {
  it('compacts slots into ranges and back', () => {
    const ranges = slotsToRanges([5, 1, 2, 3, 9, 10, 4]);
    expect(ranges).toEqual([
      { start: 1, end: 5 },
      { start: 9, end: 10 },
    ]);
    expect(rangesToSlots(ranges)).toEqual([1, 2, 3, 4, 5, 9, 10]);
    expect(
      compactRanges([
        { start: 10, end: 20 },
        { start: 0, end: 9 },
      ]),
    ).toEqual([{ start: 0, end: 20 }]);
  });

  it('parses INFO sections into a flat map', () => {
    const info = parseInfo(
      '# Replication\r\nrole:master\r\nconnected_slaves:1\r\nslave0:ip=127.0.0.1,port=1,state=online,offset=5,lag=0\r\n',
    );
    expect(info.role).toBe('master');
    expect(info.slave0).toContain('offset=5');
  });
});
