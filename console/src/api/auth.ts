import { signal } from '@preact/signals';

/**
 * The session: an access token (and its refresh token) exchanged for an API key, kept in
 * sessionStorage (gone with the tab; the key itself is never stored). With auth off the API answers
 * whoami as an anonymous Admin and no token is needed.
 */
interface Session {
  accessToken: string;
  refreshToken?: string;
  /** epoch ms */
  expiresAt: number;
  permissions: string[];
}

const KEY = 'hourglass.session';
const REFRESH_MARGIN_MS = 60_000;

function load(): Session | undefined {
  try {
    const raw = sessionStorage.getItem(KEY);
    return raw ? (JSON.parse(raw) as Session) : undefined;
  } catch {
    return undefined;
  }
}

let session = load();
/** 'unknown' until whoami answered; 'required' sends the user to the sign-in view */
export const authState = signal<'unknown' | 'open' | 'signed-in' | 'required'>('unknown');
export const permissions = signal<string[]>([]);

function store(next: Session | undefined): void {
  session = next;
  if (next) sessionStorage.setItem(KEY, JSON.stringify(next));
  else sessionStorage.removeItem(KEY);
}

export function accessToken(): string | undefined {
  return session?.accessToken;
}

export function signedOut(): void {
  store(undefined);
  permissions.value = [];
  authState.value = 'required';
}

class AuthCallError extends Error {
  readonly code: string;
  constructor(message: string, code: string) {
    super(message);
    this.code = code;
  }
}

async function post(path: string, body: unknown): Promise<{ accessToken: string; refreshToken?: string; expiresIn: number; permissions: string[] }> {
  const response = await fetch(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), mode: 'same-origin' });
  const json = (await response.json().catch(() => ({}))) as { detail?: string; code?: string };
  if (!response.ok) throw new AuthCallError(json.detail ?? `HTTP ${response.status}`, json.code ?? '');
  return json as Awaited<ReturnType<typeof post>>;
}

/**
 * POST /api/auth/token with the key; the key is forgotten once the tokens are in hand. When the API
 * mints no JWTs (no jwt_secret), the key itself is the bearer credential, kept in memory only: a reload
 * asks for it again.
 */
export async function signIn(apiKey: string): Promise<void> {
  let tokens: Awaited<ReturnType<typeof post>>;
  try {
    tokens = await post('/api/auth/token', { apiKey });
  } catch (error) {
    if (!(error instanceof AuthCallError) || error.code !== 'HG_ERR_AUTH_JWT_DISABLED') throw error;
    const response = await fetch('/api/auth/whoami', { headers: { authorization: `Bearer ${apiKey}` }, mode: 'same-origin' });
    const who = (await response.json()) as { permissions?: string[]; detail?: string };
    if (!response.ok) throw new Error(who.detail ?? `HTTP ${response.status}`, { cause: error });
    session = { accessToken: apiKey, expiresAt: Number.MAX_SAFE_INTEGER, permissions: who.permissions ?? [] };
    permissions.value = session.permissions;
    authState.value = 'signed-in';
    return;
  }
  store({ accessToken: tokens.accessToken, ...(tokens.refreshToken ? { refreshToken: tokens.refreshToken } : {}), expiresAt: Date.now() + tokens.expiresIn * 1000, permissions: tokens.permissions });
  permissions.value = tokens.permissions;
  authState.value = 'signed-in';
}

let refreshing: Promise<void> | undefined;

/** Refreshes the access token shortly before it expires (one refresh at a time). */
export async function refreshIfNeeded(): Promise<void> {
  if (!session?.refreshToken || session.expiresAt - Date.now() > REFRESH_MARGIN_MS) return;
  refreshing ??= (async () => {
    try {
      const refreshToken = session?.refreshToken as string;
      const tokens = await post('/api/auth/refresh', { refreshToken });
      store({ accessToken: tokens.accessToken, refreshToken, expiresAt: Date.now() + tokens.expiresIn * 1000, permissions: tokens.permissions });
      permissions.value = tokens.permissions;
    } catch {
      signedOut();
    } finally {
      refreshing = undefined;
    }
  })();
  await refreshing;
}

/** Asks the API who we are: decides between the open console, a signed-in one and the sign-in view. */
export async function checkSession(): Promise<void> {
  await refreshIfNeeded();
  const headers: Record<string, string> = {};
  if (session) headers.authorization = `Bearer ${session.accessToken}`;
  const response = await fetch('/api/auth/whoami', { headers, mode: 'same-origin' });
  if (!response.ok) {
    signedOut();
    return;
  }
  const who = (await response.json()) as { permissions: string[]; authEnabled: boolean };
  permissions.value = who.permissions;
  authState.value = who.authEnabled ? 'signed-in' : 'open';
}

/** The route table's rule: Admin implies every permission. */
export function can(permission: string): boolean {
  return permissions.value.includes('Admin') || permissions.value.includes(permission);
}
