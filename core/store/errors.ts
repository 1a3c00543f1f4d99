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
