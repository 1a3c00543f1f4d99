import { createServer, type Server } from 'node:http';

/** A local HTTP server answering 204 to everything: the target of `http` jobs. */
export async function startLocalHttp(): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((_req, res) => {
    res.statusCode = 204;
    res.end();
  });
  server.keepAliveTimeout = 10_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}/job`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
