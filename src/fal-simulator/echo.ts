/**
 * The 'echo the credential' switch: a misbehaving upstream (or reseller) that copies the caller's
 * Authorization header into what it says back: status error text, log lines, the result's video URL
 * and its error text. Tests use it to prove the gateway redacts everything the upstream says.
 */
import type { State } from './state.ts';

type Body = Record<string, unknown>;

/** The status or result body with the request's Authorization value written into every text field. */
export function echoed<T>(state: State, body: T): T {
  const echo = state.echoAuthorization ? state.authorization : null;
  if (!echo || typeof body !== 'object' || body === null) return body;
  const out: Body = { ...(body as Body) };
  if (Array.isArray(out.logs)) out.logs = out.logs.map((log: Body) => ({ ...log, message: `${String(log.message)} [${echo}]` }));
  if (typeof out.error === 'string') out.error = `${out.error} (caller: ${echo})`;
  if (typeof out.detail === 'string') out.detail = `${out.detail} (caller: ${echo})`;
  if (Array.isArray(out.detail)) out.detail = out.detail.map((item: Body) => ({ ...item, msg: `${String(item.msg)} (caller: ${echo})` }));
  const video = out.video as Body | undefined;
  if (video && typeof video.url === 'string') out.video = { ...video, url: `${video.url}?echo=${encodeURIComponent(echo)}` };
  return out as T;
}
