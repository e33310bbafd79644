// Pod addresses: each Pod that is not on the host network gets its own loopback address from the
// Pod range, so two Pods can listen on the same port. An address is handed out again only after
// the rest of the range has been used. Allocation starts at a random place in the range: the
// loopback range is shared by every platform on the machine (tests run two at once), and two
// platforms counting from the same start would hand out the same addresses.

function toInt(ip: string): number {
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255))
    throw new Error(`podCidrBase: "${ip}" is not an IPv4 address`);
  return ((parts[0]! << 24) >>> 0) + (parts[1]! << 16) + (parts[2]! << 8) + parts[3]!;
}

const toIp = (n: number): string => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');

export class PodAddresses {
  private readonly first: number;
  private readonly size: number;
  private cursor: number;
  private readonly used = new Map<string, string>();

  /** `start`: the offset in the range to hand out from (random unless given). */
  constructor(cidr: string, start?: number) {
    const m = /^([\d.]+)\/(\d+)$/.exec(cidr);
    if (!m) throw new Error(`podCidrBase: "${cidr}" is not a CIDR such as 127.1.0.0/16`);
    const prefix = Number(m[2]);
    if (prefix < 8 || prefix > 30) throw new Error(`podCidrBase: prefix /${prefix} must be between /8 and /30`);
    const base = toInt(m[1]!);
    if (base >>> 24 !== 127)
      throw new Error(`podCidrBase: "${cidr}" must be inside 127.0.0.0/8, the loopback range every process can bind`);
    this.size = 2 ** (32 - prefix);
    this.first = base - (base % this.size);
    this.cursor = start ?? Math.floor(Math.random() * (this.size - 1));
  }

  contains(ip: string): boolean {
    try {
      const n = toInt(ip);
      return n >= this.first && n < this.first + this.size;
    } catch {
      return false;
    }
  }

  /** The Pod keeps `preferred` (its address before a kubelet restart) when that is free. */
  allocate(owner: string, preferred?: string): string {
    for (const [ip, who] of this.used) if (who === owner) return ip;
    if (preferred && this.contains(preferred) && !this.used.has(preferred)) {
      this.used.set(preferred, owner);
      return preferred;
    }
    for (let i = 0; i < this.size; i++) {
      this.cursor = (this.cursor % (this.size - 1)) + 1;
      const n = this.first + this.cursor;
      const last = n & 255;
      const ip = toIp(n);
      if (last === 0 || last === 255 || this.used.has(ip)) continue;
      this.used.set(ip, owner);
      return ip;
    }
    throw new Error(`pod range exhausted: all ${this.size} addresses are in use`);
  }

  release(owner: string): void {
    for (const [ip, who] of this.used) if (who === owner) this.used.delete(ip);
  }
}
