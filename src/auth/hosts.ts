import { isIP } from "node:net";

/**
 * Host names and addresses as Herald compares them: lower case, without IPv6 brackets or a
 * trailing dot, IPv4-mapped IPv6 addresses (`::ffff:7f00:1`, as WHATWG URLs write them) as IPv4.
 */
export function normalizeHost(host: string): string {
  let out = host.trim().toLowerCase();
  if (out.startsWith("[") && out.endsWith("]")) out = out.slice(1, -1);
  if (out.endsWith(".")) out = out.slice(0, -1);
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(out);
  if (mapped) {
    const high = parseInt(mapped[1]!, 16);
    const low = parseInt(mapped[2]!, 16);
    return `${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`;
  }
  const dotted = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(out);
  return dotted ? dotted[1]! : out;
}

/** The host part of a Host header (`name:port`, `[v6]:port`), normalized. */
export function hostOfHeader(header: string): string {
  const value = header.trim();
  if (value.startsWith("[")) return normalizeHost(value.slice(0, value.indexOf("]") + 1));
  const colon = value.lastIndexOf(":");
  return normalizeHost(colon === -1 ? value : value.slice(0, colon));
}

export function isIpLiteral(host: string): boolean {
  return isIP(normalizeHost(host)) !== 0;
}

/** Loopback names and addresses: `localhost` (and `*.localhost`), 127.0.0.0/8 and `::1`. */
export function isLoopbackHost(host: string): boolean {
  const name = normalizeHost(host);
  return (
    name === "localhost" ||
    name.endsWith(".localhost") ||
    name === "::1" ||
    (isIP(name) === 4 && name.startsWith("127."))
  );
}

/** The wildcard addresses a server binds to listen on every interface. */
export function isWildcardHost(host: string): boolean {
  const name = normalizeHost(host);
  return name === "0.0.0.0" || name === "::" || name === "";
}

/** An https URL, or http on loopback (a test issuer, or a proxy on the same host). */
export function isSecureEnough(url: string): boolean {
  const parsed = new URL(url);
  return parsed.protocol === "https:" || (parsed.protocol === "http:" && isLoopbackHost(parsed.hostname));
}
