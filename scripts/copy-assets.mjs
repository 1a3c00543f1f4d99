// tsc does not copy non-TypeScript assets; the SQL migrations ship next to the compiled store.
import { cpSync, mkdirSync } from 'node:fs';
mkdirSync('dist/core/store/migrations', { recursive: true });
cpSync('core/store/migrations', 'dist/core/store/migrations', { recursive: true });
