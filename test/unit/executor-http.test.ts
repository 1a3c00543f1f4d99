import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHttpExecutor } from '../../worker/executors/http.ts';
import { runDeadline } from '../../worker/run-deadline.ts';
import { systemClock } from '../../core/clock/index.ts';
import type { ExecutionContext } from '../../worker/executors/types.ts';

function ctx(overrides: Partial<ExecutionContext> = {}): ExecutionContext {
  const base: ExecutionContext = {
    runId: 'run-7',
    attempt: 1,
    taskName: 'ping',
    shard: 2,
    shardTotal: 4,
    scheduledTime: '2025-01-01T00:00:00.000Z',
    timeoutMs: 10_000,
    signal: new AbortController().signal,
    outputLimitBytes: 1024 * 1024,
    ...overrides,
  };
  // the worker owns the timeout: the executor sees it only through the signal
  return { ...base, signal: runDeadline(systemClock, base.timeoutMs, base.signal).signal };
}

interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

describe('http executor', () => {
  let server: Server;
  let base = '';
  const seen: Seen[] = [];
  let bigBodyBytesSent = 0;
  let bigBodyClosedEarly = false;

  before(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString() });
        const path = req.url ?? '/';
        if (path === '/ok') {
          res.writeHead(201, { 'content-type': 'text/plain' }).end('created');
        } else if (path === '/fail') {
          res.writeHead(500).end('boom');
        } else if (path === '/big') {
          // streams up to 100 MB; the executor must stop reading long before
          res.writeHead(200, { 'content-type': 'text/plain' });
          const chunk = Buffer.alloc(64 * 1024, 'x');
          const total = 100 * 1024 * 1024;
          res.on('close', () => {
            if (bigBodyBytesSent < total) bigBodyClosedEarly = true;
          });
          const pump = (): void => {
            while (bigBodyBytesSent < total) {
              bigBodyBytesSent += chunk.length;
              if (!res.write(chunk)) {
                res.once('drain', pump);
                return;
              }
            }
            res.end();
          };
          pump();
        } else if (path === '/slow-body') {
          res.writeHead(200, { 'content-type': 'text/plain' });
          res.write('partial');
          // the rest never comes
        } else if (path === '/hang') {
          // never answers
        } else {
          res.writeHead(404).end();
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  // the test server listens on loopback, which http tasks reach only when allowed (issue 13 item 8)
  const http = createHttpExecutor({ egress: { allow: ['127.0.0.1'], allow_private_networks: false } });

  it('succeeds on an expected status, with method, headers, body and shard headers', async () => {
    const live: string[] = [];
    const result = await http.execute(
      {
        http: {
          method: 'POST',
          url: `${base}/ok`,
          headers: { 'x-custom': 'yes', 'X-Hourglass-Shard-Index': 'spoofed' },
          body: '{"a":1}',
          expectedStatus: [201],
        },
      },
      ctx({ onOutput: (_s, c) => live.push(c) }),
    );
    assert.equal(result.status, 'succeeded');
    assert.equal(result.httpStatus, 201);
    assert.equal(result.output, 'created');
    assert.equal(result.outputTruncated, false);
    assert.equal(live.join(''), 'created');
    const req = seen.at(-1);
    assert.ok(req);
    assert.equal(req.method, 'POST');
    assert.equal(req.body, '{"a":1}');
    assert.equal(req.headers['x-custom'], 'yes');
    assert.equal(req.headers['x-hourglass-run-id'], 'run-7');
    assert.equal(req.headers['x-hourglass-attempt'], '1');
    assert.equal(req.headers['x-hourglass-shard-index'], '2');
    assert.equal(req.headers['x-hourglass-shard-total'], '4');
  });

  it('fails on an unexpected status and keeps the body', async () => {
    const result = await http.execute({ http: { url: `${base}/fail`, expectedStatus: [200, 201] } }, ctx());
    assert.equal(result.status, 'failed');
    assert.equal(result.httpStatus, 500);
    assert.equal(result.error, 'unexpected HTTP status 500 (expected 200, 201)');
    assert.equal(result.output, 'boom');
    assert.equal(seen.at(-1)?.method, 'GET');
  });

  it('caps the body and stops reading it', async () => {
    const limit = 10_000;
    const before = process.memoryUsage().rss;
    const result = await http.execute({ http: { url: `${base}/big` } }, ctx({ outputLimitBytes: limit }));
    assert.equal(result.status, 'succeeded');
    assert.equal(result.outputTruncated, true);
    const marker = `\n[output truncated: more than ${limit} bytes]`;
    assert.ok(result.output.endsWith(marker), result.output.slice(-80));
    assert.equal(result.output.length, limit + marker.length);
    assert.match(result.output, /^x+\n/);
    // the server saw the connection go away long before it sent its 100 MB
    for (let i = 0; i < 100 && !bigBodyClosedEarly; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(bigBodyClosedEarly, true);
    assert.ok(bigBodyBytesSent < 50 * 1024 * 1024, `server sent ${bigBodyBytesSent} bytes`);
    assert.ok(process.memoryUsage().rss - before < 50 * 1024 * 1024);
  });

  it('applies maxResponseBytes when lower than the run limit', async () => {
    const small = createHttpExecutor({ maxResponseBytes: 3, egress: { allow: ['127.0.0.1'], allow_private_networks: false } });
    const result = await small.execute({ http: { url: `${base}/ok`, expectedStatus: [201] } }, ctx());
    assert.equal(result.status, 'succeeded');
    assert.equal(result.output, 'cre\n[output truncated: more than 3 bytes]');
    assert.equal(result.outputTruncated, true);
  });

  it('times out on a server that never answers', async () => {
    const started = Date.now();
    const result = await http.execute({ http: { url: `${base}/hang` } }, ctx({ timeoutMs: 300 }));
    const elapsed = Date.now() - started;
    assert.equal(result.status, 'timed_out');
    assert.equal(result.error, 'timed out after 0.3s');
    assert.ok(elapsed >= 250 && elapsed < 3000, `took ${elapsed} ms`);
  });

  it('times out while the body is still arriving, keeping what came', async () => {
    const started = Date.now();
    const result = await http.execute({ http: { url: `${base}/slow-body` } }, ctx({ timeoutMs: 300 }));
    assert.equal(result.status, 'timed_out');
    assert.equal(result.httpStatus, 200);
    assert.equal(result.output, 'partial');
    assert.ok(Date.now() - started < 3000);
  });

  it('is cancelled through the abort signal', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const started = Date.now();
    const result = await http.execute({ http: { url: `${base}/hang` } }, ctx({ signal: controller.signal }));
    assert.equal(result.status, 'cancelled');
    assert.ok(Date.now() - started < 3000);
  });

  it('reports a refused connection with its cause', async () => {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const result = await http.execute({ http: { url: `http://127.0.0.1:${port}/` } }, ctx());
    assert.equal(result.status, 'failed');
    assert.match(result.error ?? '', /ECONNREFUSED/);
    assert.equal(result.httpStatus ?? null, null);
  });

  it('returns a failed result naming the field for an invalid spec', async () => {
    const badUrl = await http.execute({ http: { url: 'ftp://example.com/x' } }, ctx());
    assert.equal(badUrl.status, 'failed');
    assert.match(badUrl.error ?? '', /http\.url/);
    const badMethod = await http.execute({ http: { url: `${base}/ok`, method: 'BREW' } }, ctx());
    assert.equal(badMethod.status, 'failed');
    assert.match(badMethod.error ?? '', /http\.method/);
    const getWithBody = await http.execute({ http: { url: `${base}/ok`, body: 'x' } }, ctx());
    assert.equal(getWithBody.status, 'failed');
    assert.match(getWithBody.error ?? '', /http\.body/);
    const missing = await http.execute({}, ctx());
    assert.equal(missing.status, 'failed');
    assert.match(missing.error ?? '', /http/);
  });
});

describe('http executor egress policy (issue 13 item 8)', () => {
  let server: Server;
  let base = '';
  let hits = 0;

  before(async () => {
    server = createServer((req, res) => {
      hits++;
      if (req.url?.startsWith('/to/')) {
        res.writeHead(302, { location: decodeURIComponent(req.url.slice('/to/'.length)) }).end();
      } else {
        res.writeHead(200).end('reached');
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const byDefault = createHttpExecutor();

  it('refuses loopback by default, with a clear error and no retry, before connecting', async () => {
    const before = hits;
    const result = await byDefault.execute({ http: { url: `${base}/` } }, ctx());
    assert.equal(result.status, 'failed');
    assert.equal(result.retryable, false);
    assert.match(result.error ?? '', /refused: egress to 127\.0\.0\.1 \(loopback\) is not allowed for http tasks; allow it in worker\.http_egress/);
    assert.equal(hits, before, 'the request reached the server');
  });

  it('refuses the cloud metadata address, link-local IPv6, IPv4-mapped loopback and a name that resolves to loopback', async () => {
    for (const [url, what] of [
      ['http://169.254.169.254/latest/meta-data/', /169\.254\.169\.254 \(link-local \(cloud metadata\)\)/],
      ['http://[fe80::1]/', /fe80::1 \(link-local\)/],
      ['http://[::ffff:127.0.0.1]/', /127\.0\.0\.1 \(loopback\)/],
      ['http://localhost:9/', /localhost resolves to (127\.0\.0\.1|::1).*loopback/],
      ['http://10.1.2.3/', /10\.1\.2\.3 \(private\)/],
    ] as const) {
      const result = await byDefault.execute({ http: { url } }, ctx());
      assert.equal(result.status, 'failed', url);
      assert.match(result.error ?? '', what, url);
    }
  });

  it('checks every hop: a redirect from an allowed server to loopback or metadata is refused', async () => {
    // 127.0.0.1 allowed exactly: 127.0.0.2 (also loopback) is not
    const allowOne = createHttpExecutor({ egress: { allow: ['127.0.0.1'], allow_private_networks: false } });
    const reached = await allowOne.execute({ http: { url: `${base}/plain` } }, ctx());
    assert.equal(reached.status, 'succeeded', reached.error ?? '');
    for (const target of ['http://127.0.0.2:9/', 'http://169.254.169.254/latest/meta-data/', 'http://[::1]:9/']) {
      const result = await allowOne.execute({ http: { url: `${base}/to/${encodeURIComponent(target)}` } }, ctx());
      assert.equal(result.status, 'failed', target);
      assert.match(result.error ?? '', /refused: .*not allowed for http tasks/, target);
    }
  });

  it('allows what the allow-list names, as addresses or CIDR ranges, and private networks when told', async () => {
    const range = createHttpExecutor({ egress: { allow: ['127.0.0.0/8'], allow_private_networks: false } });
    assert.equal((await range.execute({ http: { url: `${base}/` } }, ctx())).status, 'succeeded');
    assert.throws(() => createHttpExecutor({ egress: { allow: ['intranet.local'], allow_private_networks: false } }), /worker\.http_egress\.allow: "intranet\.local" is not an IP address or CIDR range/);
    const privateOk = createHttpExecutor({ egress: { allow: [], allow_private_networks: true } });
    const loopback = await privateOk.execute({ http: { url: `${base}/` } }, ctx());
    assert.match(loopback.error ?? '', /loopback/, 'private networks do not include loopback');
  });
});
