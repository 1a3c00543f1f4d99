/** A write that conflicts with what is stored (a duplicate name, a read-only task). */
export class ConflictError extends Error {
  readonly code: string;
  constructor(message: string, code = 'HG_ERR_STORE_CONFLICT') {
    super(message);
    this.name = 'ConflictError';
    this.code = code;
  }
}

export class NotFoundError extends Error {
  readonly code: string;
  constructor(message: string, code = 'HG_ERR_STORE_NOT_FOUND') {
    super(message);
    this.name = 'NotFoundError';
    this.code = code;
  }
}

export function isUniqueViolation(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: string }).code === '23505';
}

/**
 * Whether a failure is the connection's or the moment's, never the statement's: a reset, closed or timed-out
 * connection (as node-postgres reports them), and the SQLSTATEs of a lost connection (08), a rolled-back
 * transaction (40: serialization failure, deadlock) and a server going away (57P01-57P05), or out of
 * connections (53300). Such a failure never counts against the events being applied, however often it
 * happens: a flaky network must not set a success aside (simulator seed 393 of the default world).
 */
export function isTransientFailure(error: unknown): boolean {
  const message = (error as Error | undefined)?.message ?? '';
  const code = (error as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string') {
    if (['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', '53300'].includes(code)) return true;
    if (/^(08|40)[0-9A-Z]{3}$/.test(code) || /^57P0[1-5]$/.test(code)) return true;
  }
  return message === 'Query read timeout' || /Connection terminated|connection.*(ended|closed)|not queryable/i.test(message);
}
