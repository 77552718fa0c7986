/**
 * Who is asking. Every read and write of a job goes through `canSee`: a job belongs to its tenant and
 * to the user who submitted it. An API key (and the open gateway) sees its whole tenant; a user signed
 * in with a token sees only its own jobs unless it is an admin of its tenant. Anything else answers
 * exactly like an unknown id.
 */
export interface Caller {
  tenant: string;
  /** The signed-in user; null for an API key or the open gateway. */
  userId: string | null;
  /** True for API keys and for users with the admin role: every job of the tenant is visible. */
  seesTenant: boolean;
  /** When the credential stops being valid (a token's `exp`, epoch ms); unset for API keys. */
  expiresAt?: number;
}

/** The part of a job that decides who may see it. */
export interface Owned {
  tenant: string;
  userId?: string | null;
}

export function canSee(caller: Caller, job: Owned): boolean {
  if (job.tenant !== caller.tenant) return false;
  return caller.seesTenant || (caller.userId !== null && job.userId === caller.userId);
}

/** A caller that sees a whole tenant (API keys, the open gateway). */
export function tenantCaller(tenant: string): Caller {
  return { tenant, userId: null, seesTenant: true };
}

/** A stable text for cohort and cache keys: callers with the same key see the same jobs. */
export function visibilityKey(caller: Caller): string {
  return caller.seesTenant ? `t:${caller.tenant}` : `u:${caller.tenant}\u0000${caller.userId ?? ''}`;
}
