/**
 * The `imageUrl` rule: an absolute http(s) URL of a public image, written exactly as a browser would
 * send it. The upstream fetches it, so every spelling that other URL parsers read differently
 * (a backslash, a missing `//`, stray whitespace or control characters) is refused, every host that
 * names this machine, a private network or cloud metadata (with or without a trailing dot, or an IPv4
 * address inside an IPv6 one) is refused, and what goes upstream is the normalised `URL.href`.
 */
import { BlockList, isIP } from 'node:net';

export const MAX_URL_CHARS = 2048;
const IMAGE_EXTENSIONS = ['jpg', 'jpeg', 'png', 'webp', 'gif', 'avif'];

/** Addresses an image URL may not name: the upstream would fetch them, and they are never a public image. */
const forbiddenV4 = new BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.0.2.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['198.51.100.0', 24], ['203.0.113.0', 24],
  ['224.0.0.0', 4], ['240.0.0.0', 4],
] as const) forbiddenV4.addSubnet(network, prefix, 'ipv4');
const forbiddenV6 = new BlockList();
for (const [network, prefix] of [
  ['::', 128], ['::1', 128], ['100::', 64], ['64:ff9b:1::', 48], ['2001::', 32], ['2001:db8::', 32], ['fc00::', 7], ['fe80::', 10],
  ['fec0::', 10], ['ff00::', 8],
] as const) forbiddenV6.addSubnet(network, prefix, 'ipv6');

/** Host names that never name a public image host (after any trailing dot is dropped). */
const PRIVATE_SUFFIXES = ['.localhost', '.local', '.internal', '.localdomain', '.home.arpa', '.lan', '.intranet', '.corp'];

export type ImageUrlCheck = { ok: true; href: string } | { ok: false; problem: string };

export function checkImageUrl(value: string): ImageUrlCheck {
  const refuse = (problem: string): ImageUrlCheck => ({ ok: false, problem });
  if (value.length > MAX_URL_CHARS) return refuse(`imageUrl must be at most ${MAX_URL_CHARS} characters`);
  if (/^\s*data:/i.test(value)) return refuse('imageUrl must be an http(s) URL; data URLs are not accepted upstream');
  // eslint-disable-next-line no-control-regex
  if (/[\s\u0000-\u001f\u007f-\u009f]/.test(value)) return refuse('imageUrl must not contain spaces, line breaks or control characters');
  if (value.includes('\\')) return refuse('imageUrl must not contain a backslash');
  if (!/^https?:\/\/[^/]/i.test(value)) return refuse('imageUrl must be an absolute http(s) URL, starting with http:// or https://');
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return refuse('imageUrl must be an absolute http(s) URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return refuse('imageUrl must use http or https');
  const authority = value.slice(value.indexOf('//') + 2).split(/[/?#]/, 1)[0] ?? '';
  if (url.username || url.password || authority.includes('@')) return refuse('imageUrl must not contain credentials');
  const hostProblem = hostnameProblem(url.hostname);
  if (hostProblem) return refuse(hostProblem);
  const extension = url.pathname.split('.').pop()?.toLowerCase() ?? '';
  if (!url.pathname.includes('.') || !IMAGE_EXTENSIONS.includes(extension)) {
    return refuse(`imageUrl must name a ${IMAGE_EXTENSIONS.join(', ')} image`);
  }
  return { ok: true, href: url.href };
}

function hostnameProblem(hostname: string): string | null {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase().replace(/\.+$/, '');
  const family = isIP(host);
  if (family === 4) return forbiddenV4.check(host, 'ipv4') ? FORBIDDEN_ADDRESS : null;
  if (family === 6) return ipv6Forbidden(host) ? FORBIDDEN_ADDRESS : null;
  if (host === '' || host === 'localhost' || PRIVATE_SUFFIXES.some((suffix) => host.endsWith(suffix))) return 'imageUrl must point to a public host';
  if (!host.includes('.')) return 'imageUrl must name a public host by its full domain name';
  return null;
}

const FORBIDDEN_ADDRESS = 'imageUrl must not name a loopback, private or link-local address';

/** An IPv6 address is refused when it is private itself, or carries a private IPv4 address inside it. */
function ipv6Forbidden(host: string): boolean {
  if (forbiddenV6.check(host, 'ipv6')) return true;
  const embedded = embeddedIpv4(host);
  return embedded !== null && forbiddenV4.check(embedded, 'ipv4');
}

/**
 * The IPv4 address an IPv6 address stands for, if any: IPv4-compatible (::a.b.c.d), mapped
 * (::ffff:a.b.c.d), translated (::ffff:0:a.b.c.d), NAT64 (64:ff9b::a.b.c.d) and 6to4 (2002:aabb:ccdd::).
 */
export function embeddedIpv4(host: string): string | null {
  const groups = ipv6Groups(host);
  if (!groups) return null;
  const v4 = (high: number, low: number) => `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`;
  const zeros = (from: number, to: number) => groups.slice(from, to).every((g) => g === 0);
  const [g0, g1, g2, , , g5, g6, g7] = groups as [number, number, number, number, number, number, number, number];
  if (zeros(0, 5) && (g5 === 0 || g5 === 0xffff)) return v4(g6, g7);
  if (zeros(0, 4) && groups[4] === 0xffff && g5 === 0) return v4(g6, g7);
  if (g0 === 0x64 && g1 === 0xff9b && zeros(2, 6)) return v4(g6, g7);
  if (g0 === 0x2002) return v4(g1, g2);
  return null;
}

/** The eight 16-bit groups of an IPv6 address (as the URL parser prints it: hex groups, maybe `::`). */
function ipv6Groups(host: string): number[] | null {
  let text = host;
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const parse = (part: string) => (part === '' ? [] : part.split(':').map((g) => parseInt(g, 16)));
  const left = parse(head);
  const right = tail === undefined ? [] : parse(tail);
  const missing = 8 - left.length - right.length;
  if (missing < 0 || (tail === undefined && missing !== 0)) return null;
  const groups = [...left, ...new Array<number>(missing).fill(0), ...right];
  return groups.every((g) => Number.isInteger(g) && g >= 0 && g <= 0xffff) ? groups : null;
}
