import { InvalidArgumentError, type Command } from 'commander';
import { apiClient, type ApiClient } from '../api-client.ts';
import { CliError, EXIT } from '../exit-codes.ts';
import { createOutput, type Format, type Output } from '../output.ts';

export interface GlobalFlags {
  apiUrl: string;
  apiKey?: string;
  output: Format;
}

/** What every command group gets: the API client and the output, both read from the global flags. */
export interface CliContext {
  client(): ApiClient;
  out(): Output;
}

export function cliContext(program: Command): CliContext {
  return {
    client() {
      const { apiUrl, apiKey } = program.opts<GlobalFlags>();
      return apiClient({ baseUrl: checkApiUrl(apiUrl), ...(apiKey ? { apiKey } : {}) });
    },
    out: () => createOutput(program.opts<GlobalFlags>().output),
  };
}

/**
 * The API's URL must say http:// or https://: "localhost:8080" parses as a URL of scheme "localhost:" and
 * used to be reported as an unreachable API. It is a usage error, with what a valid one looks like.
 */
export function checkApiUrl(value: string): string {
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  if (!url || !['http:', 'https:'].includes(url.protocol) || !url.host) {
    throw new CliError(`--api-url (or SCHEDULER_API_URL) "${value}" is not an http(s) URL; write it with its scheme, e.g. http://127.0.0.1:8080 or https://scheduler.example.com`, EXIT.usage);
  }
  return value;
}

/** `/api/<collection>/<name>` with the name escaped and, for Kubernetes tasks, ?namespace= */
export function resourcePath(collection: string, name: string, suffix = '', namespace?: string): string {
  const query = namespace ? `?namespace=${encodeURIComponent(namespace)}` : '';
  return `/api/${collection}/${encodeURIComponent(name)}${suffix}${query}`;
}

/** A query string from the flags that were given (undefined and '' are left out). */
export function query(params: Record<string, string | number | boolean | undefined | string[]>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value === undefined || value === '') continue;
    for (const one of Array.isArray(value) ? value : [value]) search.append(key, String(one));
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

/** Adds an Examples section to a command's --help. */
export function examples(command: Command, ...lines: string[]): Command {
  return command.addHelpText('after', `\nExamples:\n${lines.map((l) => `  ${l}`).join('\n')}`);
}

export const collect = (value: string, previous: string[]): string[] => [...previous, value];

export function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`"${value}" is not a positive whole number`);
  return n;
}

export interface Page<T> {
  items: T[];
  nextCursor?: string | number | null;
}

/** Every item of a paged list, following nextCursor, up to `max` items. */
export async function collectPages<T>(client: ApiClient, path: string, max: number): Promise<T[]> {
  const items: T[] = [];
  let cursor: string | number | null | undefined;
  do {
    const separator = path.includes('?') ? '&' : '?';
    const page = await client.get<Page<T>>(cursor === undefined || cursor === null ? path : `${path}${separator}cursor=${encodeURIComponent(String(cursor))}`);
    items.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor !== undefined && cursor !== null && items.length < max);
  return items.slice(0, max);
}
