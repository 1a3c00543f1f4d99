import { z } from 'zod';
import { AuthError } from '../auth.ts';
import type { ApiContext } from '../context.ts';
import { TokenError } from '../jwt.ts';
import { ApiProblem } from '../problem.ts';
import { defineRoute, type ApiRoute } from '../route.ts';
import { RefreshRequest, TokenRequest, TokenView } from '../schemas.ts';

const TAG = 'auth';

export function authRoutes(api: ApiContext): ApiRoute[] {
  const requireJwt = () => {
    if (!api.tokens.enabled) throw new ApiProblem(409, 'HG_ERR_AUTH_JWT_DISABLED', 'JWTs are not enabled: set api.auth.jwt_secret (JWT_SECRET); API keys work without it');
  };
  return [
    defineRoute({
      method: 'POST', url: '/api/auth/token', access: 'public', tag: TAG, summary: 'Exchange an API key for an access token and a refresh token',
      description: 'The key comes in the body (apiKey) or as X-API-Key. Both tokens carry the key id only: each use has the permissions the key has then; the access token lives api.auth.jwt_expiration_hours, the refresh token api.auth.refresh_token_expiration_days.',
      body: TokenRequest,
      responses: { 200: { description: 'the tokens', body: { zod: TokenView } } },
      async handler({ body, request }) {
        requireJwt();
        // the token endpoint checks a key too: the same per-address limit on failures as the auth hook
        api.failures.assertAllowed(request.ip);
        const presented = body.apiKey ?? request.headers['x-api-key'];
        const key = typeof presented === 'string' ? api.keys.match(presented) : undefined;
        if (!key && typeof presented === 'string') api.failures.record(request.ip);
        if (!key) throw new AuthError(401, typeof presented === 'string' ? 'HG_ERR_AUTH_INVALID' : 'HG_ERR_AUTH_REQUIRED', 'an API key is required (body apiKey or X-API-Key), and it must be valid');
        const access = await api.tokens.issue(key.id, 'access');
        const refresh = await api.tokens.issue(key.id, 'refresh');
        return { accessToken: access.token, tokenType: 'Bearer', expiresIn: access.expiresIn, refreshToken: refresh.token, refreshExpiresIn: refresh.expiresIn, permissions: key.permissions };
      },
    }),
    defineRoute({
      method: 'POST', url: '/api/auth/refresh', access: 'public', tag: TAG, summary: 'A new access token for a refresh token',
      description: "The key the refresh token came from must still be configured; the new token carries that key's current permissions.",
      body: RefreshRequest,
      responses: { 200: { description: 'a new access token', body: { zod: TokenView } } },
      async handler({ body, request }) {
        requireJwt();
        api.failures.assertAllowed(request.ip);
        let keyId: string;
        try {
          keyId = (await api.tokens.verify(body.refreshToken, 'refresh')).keyId;
        } catch (error) {
          if (!(error instanceof TokenError)) throw error;
          api.failures.record(request.ip);
          throw new AuthError(401, error.expired ? 'HG_ERR_AUTH_TOKEN_EXPIRED' : 'HG_ERR_AUTH_INVALID', error.message);
        }
        const key = api.keys.byId(keyId);
        if (!key) throw new AuthError(401, 'HG_ERR_AUTH_INVALID', 'the API key this token was issued for is no longer configured');
        const access = await api.tokens.issue(key.id, 'access');
        return { accessToken: access.token, tokenType: 'Bearer', expiresIn: access.expiresIn, permissions: key.permissions };
      },
    }),
    defineRoute({
      method: 'GET', url: '/api/auth/whoami', access: 'authenticated', tag: TAG, summary: 'Who the credential of this request is',
      responses: {
        200: {
          description: 'the principal',
          body: {
            zod: z.object({
              kind: z.enum(['api-key', 'jwt', 'anonymous']), id: z.string(), permissions: z.array(z.string()), authEnabled: z.boolean(),
              scope: z.object({ taskTypes: z.array(z.string()).optional(), pools: z.array(z.string()).optional() }).optional().describe('the task types and pools the key is limited to; absent: all'),
            }),
          },
        },
      },
      async handler({ principal }) {
        // the credential itself is never echoed; a key is known by its id only
        return { ...principal, authEnabled: api.settings().authEnabled };
      },
    }),
  ];
}
