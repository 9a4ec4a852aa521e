/**
 * Where an alert may be sent. A server that hosts many people's dashboards must
 * not become a way into its own network, so by default a webhook or SMTP server
 * must be at a public address: the name is resolved here, every address it
 * resolves to is checked, and the connection is then made to the checked
 * address itself (never to the name again, which could resolve elsewhere the
 * second time). Self-hosters allow private destinations with a server flag; the
 * name is then left to the system's resolver.
 *
 * @module
 */

import { DeliveryError } from "./delivery_error.ts";

/** An IP address, as bytes: 4 for IPv4, 16 for IPv6. */
export type IpBytes = Uint8Array;

/** Why an address is not public, in words: `loopback`, `private`, `link-local`, … */
export type AddressKind =
  | "unspecified"
  | "loopback"
  | "private"
  | "shared (carrier-grade NAT)"
  | "link-local"
  | "unique-local"
  | "multicast"
  | "documentation"
  | "reserved";

/** Resolves a name to its A and AAAA addresses (Deno.resolveDns, or a test's). */
export type Resolver = (name: string) => Promise<string[]>;

/**
 * Reads an IP address: dotted IPv4, or IPv6 in any of its forms (`::1`,
 * `::ffff:10.0.0.1`), with or without brackets. Zone ids (`fe80::1%eth0`) are
 * not accepted.
 *
 * @param text The address.
 * @returns Its bytes, or null if it is not an IP address.
 *
 * @example
 * ```ts
 * import { parseIp } from "./destination.ts";
 *
 * if (parseIp("10.1.2.3")?.join(".") !== "10.1.2.3") throw new Error("v4");
 * if (parseIp("[::1]")?.length !== 16) throw new Error("v6");
 * if (parseIp("example.com") !== null) throw new Error("a name");
 * ```
 */
export function parseIp(text: string): IpBytes | null {
  const bare = text.startsWith("[") && text.endsWith("]") ? text.slice(1, -1) : text;
  if (bare.includes(":")) return parseIpv6(bare);
  return parseIpv4(bare);
}

function parseIpv4(text: string): IpBytes | null {
  const parts = text.split(".");
  if (parts.length !== 4) return null;
  const bytes = new Uint8Array(4);
  for (const [i, part] of parts.entries()) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(part) || Number(part) > 255) return null;
    bytes[i] = Number(part);
  }
  return bytes;
}

function parseIpv6(text: string): IpBytes | null {
  if (!/^[0-9A-Fa-f:.]+$/.test(text)) return null;
  let tail: IpBytes | null = null;
  let body = text;
  const lastColon = text.lastIndexOf(":");
  if (text.slice(lastColon + 1).includes(".")) {
    tail = parseIpv4(text.slice(lastColon + 1));
    if (tail === null) return null;
    body = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const halves = body.split("::");
  if (halves.length > 2) return null;
  const groups = (half: string) => half === "" ? [] : half.split(":");
  const head = groups(halves[0]!);
  const rest = halves.length === 2 ? groups(halves[1]!) : [];
  const missing = 8 - head.length - rest.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return null;
  const all = [...head, ...Array(halves.length === 2 ? missing : 0).fill("0"), ...rest];
  const bytes = new Uint8Array(16);
  for (const [i, group] of all.entries()) {
    if (!/^[0-9A-Fa-f]{1,4}$/.test(group)) return null;
    const value = parseInt(group, 16);
    bytes[i * 2] = value >> 8;
    bytes[i * 2 + 1] = value & 0xff;
  }
  if (tail !== null) bytes.set(tail, 12);
  return bytes;
}

/** Whether `bytes` starts with the first `bits` bits of `prefix`. */
function within(bytes: IpBytes, prefix: readonly number[], bits: number): boolean {
  for (let bit = 0; bit < bits; bit += 8) {
    const mask = bits - bit >= 8 ? 0xff : (0xff << (8 - (bits - bit))) & 0xff;
    if (((bytes[bit / 8] ?? 0) & mask) !== ((prefix[bit / 8] ?? 0) & mask)) return false;
  }
  return true;
}

const IPV4_RANGES: readonly [readonly number[], number, AddressKind][] = [
  [[0], 8, "unspecified"],
  [[10], 8, "private"],
  [[100, 64], 10, "shared (carrier-grade NAT)"],
  [[127], 8, "loopback"],
  [[169, 254], 16, "link-local"],
  [[172, 16], 12, "private"],
  [[192, 0, 0], 24, "reserved"],
  [[192, 0, 2], 24, "documentation"],
  [[192, 88, 99], 24, "reserved"],
  [[192, 168], 16, "private"],
  [[198, 18], 15, "reserved"],
  [[198, 51, 100], 24, "documentation"],
  [[203, 0, 113], 24, "documentation"],
  [[224], 4, "multicast"],
  [[240], 4, "reserved"],
];

const IPV6_RANGES: readonly [readonly number[], number, AddressKind][] = [
  [[0x00, 0x64, 0xff, 0x9b, 0x00, 0x01], 48, "private"],
  [[0x01, 0x00, 0, 0, 0, 0, 0, 0], 64, "reserved"],
  [[0x20, 0x01, 0x0d, 0xb8], 32, "documentation"],
  [[0x20, 0x01, 0x00, 0x00], 23, "reserved"],
  [[0xfc], 7, "unique-local"],
  [[0xfe, 0x80], 10, "link-local"],
  [[0xfe, 0xc0], 10, "private"],
  [[0xff], 8, "multicast"],
];

/**
 * What kind of address this is, when it is not a public one: loopback, private
 * (RFC 1918, IPv6 site-local), carrier-grade NAT, link-local, unique-local,
 * multicast, unspecified, documentation or otherwise reserved. IPv6 addresses
 * that carry an IPv4 address (mapped `::ffff:a.b.c.d`, NAT64 `64:ff9b::`, 6to4
 * `2002::`) are judged by that address; all of IPv6 outside `2000::/3` is
 * reserved.
 *
 * @param bytes The address, from {@linkcode parseIp}.
 * @returns Its kind, or null for a public address.
 *
 * @example
 * ```ts
 * import { addressKind, parseIp } from "./destination.ts";
 *
 * if (addressKind(parseIp("192.168.1.10")!) !== "private") throw new Error("private");
 * if (addressKind(parseIp("::ffff:127.0.0.1")!) !== "loopback") throw new Error("mapped");
 * if (addressKind(parseIp("93.184.215.14")!) !== null) throw new Error("public");
 * ```
 */
export function addressKind(bytes: IpBytes): AddressKind | null {
  if (bytes.length === 4) {
    for (const [prefix, bits, kind] of IPV4_RANGES) if (within(bytes, prefix, bits)) return kind;
    return null;
  }
  const zeros = (from: number, to: number) => bytes.subarray(from, to).every((b) => b === 0);
  if (zeros(0, 15)) {
    return bytes[15] === 1 ? "loopback" : bytes[15] === 0 ? "unspecified" : "reserved";
  }
  if (zeros(0, 10) && bytes[10] === 0xff && bytes[11] === 0xff) {
    return addressKind(bytes.subarray(12));
  }
  if (zeros(0, 12)) return "reserved"; // IPv4-compatible, long deprecated.
  if (within(bytes, [0x00, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0], 96)) {
    return addressKind(bytes.subarray(12));
  }
  if (within(bytes, [0x20, 0x02], 16)) return addressKind(bytes.subarray(2, 6));
  for (const [prefix, bits, kind] of IPV6_RANGES) if (within(bytes, prefix, bits)) return kind;
  return (bytes[0]! & 0xe0) === 0x20 ? null : "reserved";
}

/** The names that are this machine by definition (RFC 6761), without asking DNS. */
function isLocalhostName(name: string): boolean {
  const lower = name.toLowerCase().replace(/\.$/, "");
  return lower === "localhost" || lower.endsWith(".localhost");
}

/**
 * Resolves a name with `Deno.resolveDns`: its A and AAAA records.
 *
 * @param name The host name.
 * @returns Its addresses; empty when it has none.
 */
export async function resolveWithDns(name: string): Promise<string[]> {
  const lookups = await Promise.allSettled([
    Deno.resolveDns(name, "A"),
    Deno.resolveDns(name, "AAAA"),
  ]);
  const found = lookups.flatMap((lookup) => lookup.status === "fulfilled" ? lookup.value : []);
  if (found.length === 0 && lookups[0].status === "rejected") {
    const reason = lookups[0].reason as Error;
    if (!(reason instanceof Deno.errors.NotFound)) throw reason;
  }
  return found;
}

/** Where to send, as checked. */
export interface CheckedDestination {
  /** What to connect to: the checked IP address, or the name when private ones are allowed. */
  readonly connectTo: string;
  /** The name to verify the certificate against (and send in SNI and `Host`). */
  readonly name: string;
}

/** How destinations are checked. */
export interface DestinationPolicy {
  /** Whether private, loopback and link-local destinations are allowed. */
  readonly allowPrivate: boolean;
  /** Resolves names; default {@linkcode resolveWithDns}. */
  readonly resolve?: Resolver;
}

/**
 * The address to connect to for a host, once checked: with private
 * destinations allowed, the host itself (the system resolves it when
 * connecting); else the host's first address, when every address it has is a
 * public one.
 *
 * @param host A host name or IP address, as in the channel.
 * @param policy Whether private addresses are allowed, and the resolver.
 * @returns Where to connect, and the name to verify.
 * @throws {DeliveryError} Not retried when an address is not public; retried
 * when the name does not resolve now.
 *
 * @example A private address is refused unless allowed
 * ```ts
 * import { checkDestination } from "./destination.ts";
 *
 * const allowed = await checkDestination("10.0.0.7", { allowPrivate: true });
 * if (allowed.connectTo !== "10.0.0.7") throw new Error("allowed");
 * const refused = await checkDestination("10.0.0.7", { allowPrivate: false }).catch((e) => e);
 * if (!/private address/.test(refused.message) || refused.retry) throw refused;
 * ```
 */
export async function checkDestination(
  host: string,
  policy: DestinationPolicy,
): Promise<CheckedDestination> {
  const name = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
  if (policy.allowPrivate) return { connectTo: name, name };
  let addresses: string[];
  if (parseIp(name) !== null) {
    addresses = [name];
  } else if (isLocalhostName(name)) {
    addresses = ["127.0.0.1"];
  } else {
    try {
      addresses = await (policy.resolve ?? resolveWithDns)(name);
    } catch (error) {
      throw new DeliveryError(`cannot resolve ${name}: ${(error as Error).message}`, true);
    }
    if (addresses.length === 0) {
      throw new DeliveryError(`cannot resolve ${name}: it has no address`, true);
    }
  }
  for (const address of addresses) {
    const bytes = parseIp(address);
    const kind = bytes === null ? "reserved" : addressKind(bytes);
    if (kind !== null) {
      const shown = address === name ? address : `${name} (${address})`;
      throw new DeliveryError(
        `refused: ${shown} is a ${kind} address; this server sends alerts to public addresses ` +
          "only (its admin can allow others with --allow-private-destinations)",
        false,
      );
    }
  }
  return { connectTo: addresses[0]!, name };
}

/**
 * The reason an address given as a literal is refused, or null: for checking a
 * channel as it is added, before any send.
 *
 * @param host A host name or IP address.
 * @param allowPrivate Whether private destinations are allowed.
 * @returns The reason, or null when the host is a name or a public address.
 */
export function literalRefusal(host: string, allowPrivate: boolean): string | null {
  if (allowPrivate) return null;
  const bare = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
  const bytes = parseIp(bare);
  const kind = bytes === null ? (isLocalhostName(bare) ? "loopback" : null) : addressKind(bytes);
  return kind === null
    ? null
    : `${bare} is a ${kind} address: this server sends alerts to public addresses only`;
}
