/**
 * The roles of the resource API, each including the ones before it: `read` may get and list (Secret
 * data redacted), `write` may also apply and delete, `admin` may do everything, including reading
 * Secret data and applying privileged kinds (ProcessSource, which runs commands on Herald's host).
 */
export const ROLES = ["read", "write", "admin"] as const;
export type Role = (typeof ROLES)[number];

export function isRole(value: unknown): value is Role {
  return typeof value === "string" && (ROLES as readonly string[]).includes(value);
}

/** Whether `role` grants at least what `needed` grants. */
export function roleAllows(role: Role, needed: Role): boolean {
  return ROLES.indexOf(role) >= ROLES.indexOf(needed);
}

/** Who made an API request. */
export interface Principal {
  /** The token's name, or the JWT's subject; "anonymous" when the API runs without authentication. */
  readonly name: string;
  readonly role: Role;
  readonly via: "token" | "oidc" | "none";
}

/** The caller of an API that runs without authentication (only ever on loopback): every right. */
export const ANONYMOUS: Principal = { name: "anonymous", role: "admin", via: "none" };
