import { errors as joseErrors, jwtVerify, SignJWT } from 'jose';

export interface TokenSettings {
  secret: string;
  accessHours: number;
  refreshDays: number;
}

export interface TokenClaims {
  /** the id of the API key the token was minted from (see KeyStore.idOf); its permissions are read from that key at use */
  keyId: string;
  kind: 'access' | 'refresh';
  expiresAt: number;
}

export class TokenError extends Error {
  readonly expired: boolean;
  constructor(message: string, expired = false) {
    super(message);
    this.name = 'TokenError';
    this.expired = expired;
  }
}

const ISSUER = 'hourglass';
const AUDIENCE = 'hourglass-api';

/** A JWT has three base64url segments, the first a JSON header: what tells it apart from an API key. */
export function looksLikeJwt(credential: string): boolean {
  return /^eyJ[\w-]*\.[\w-]+\.[\w-]+$/.test(credential);
}

/**
 * HS256 access and refresh tokens. Both carry only the key id: permissions are the key's as configured
 * when the token is used, so lowering or revoking a key applies to its tokens at once. `typ` keeps a refresh
 * token from being used as an access token. Settings are read on every call, so a reloaded secret or
 * lifetime applies at once (tokens signed with an old secret stop working: that is what rotation is for).
 */
export class TokenService {
  readonly #settings: () => TokenSettings;

  constructor(settings: () => TokenSettings) {
    this.#settings = settings;
  }

  get enabled(): boolean {
    return this.#settings().secret.length > 0;
  }

  async issue(keyId: string, kind: 'access' | 'refresh'): Promise<{ token: string; expiresIn: number }> {
    const settings = this.#settings();
    const expiresIn = kind === 'access' ? settings.accessHours * 3600 : settings.refreshDays * 86_400;
    const token = await new SignJWT({ typ: kind })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(keyId)
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setIssuedAt()
      .setExpirationTime(Math.floor(Date.now() / 1000) + expiresIn)
      .sign(this.#key());
    return { token, expiresIn };
  }

  async verify(token: string, kind: 'access' | 'refresh'): Promise<TokenClaims> {
    let payload;
    try {
      ({ payload } = await jwtVerify(token, this.#key(), { algorithms: ['HS256'], issuer: ISSUER, audience: AUDIENCE }));
    } catch (error) {
      if (error instanceof joseErrors.JWTExpired) throw new TokenError('the token has expired', true);
      throw new TokenError('the token is not valid');
    }
    if (payload.typ !== kind) throw new TokenError(kind === 'access' ? 'a refresh token cannot be used to call the API' : 'expected a refresh token');
    if (typeof payload.sub !== 'string' || typeof payload.exp !== 'number') throw new TokenError('the token is not valid');
    return { keyId: payload.sub, kind, expiresAt: payload.exp };
  }

  #key(): Uint8Array {
    const { secret } = this.#settings();
    if (!secret) throw new TokenError('JWTs are not enabled: api.auth.jwt_secret is not set');
    return new TextEncoder().encode(secret);
  }
}
