// The backend of the benchmarks when nginx is not installed: "hello world\n" on every path,
// 1 MiB on /1m, 100 KiB of JSON on /json, request bodies read to their end before the answer. Keep-alive, no logging.
// With --cert and --key it serves HTTPS instead.
// Usage: node --import tsx bench/backend.ts --port 18081 [--cert cert.pem --key key.pem]
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type RequestListener } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { parseArgs } from 'node:util';
import { apiJson } from './lib.js';

const { values } = parseArgs({ options: { port: { type: 'string', default: '18081' }, cert: { type: 'string' }, key: { type: 'string' } } });
const small = Buffer.from('hello world\n');
const large = Buffer.alloc(1024 * 1024, 97);
const json = apiJson();

const handler: RequestListener = (req, res) => {
  const [body, type] = req.url === '/1m' ? [large, 'application/octet-stream'] : req.url === '/json' ? [json, 'application/json'] : [small, 'text/plain'];
  const answer = (): void => {
    res.writeHead(200, { 'content-type': type, 'content-length': body.length });
    res.end(body);
  };
  req.on('error', () => {});
  res.on('error', () => {});
  req.resume();
  if (req.method === 'GET' || req.method === 'HEAD') answer();
  else req.on('end', answer);
};
const server = values.cert && values.key ? createHttpsServer({ cert: readFileSync(values.cert), key: readFileSync(values.key) }, handler) : createHttpServer(handler);
server.keepAliveTimeout = 120_000;
server.headersTimeout = 130_000;
server.requestTimeout = 0;
server.maxRequestsPerSocket = 0;
server.listen(Number(values.port), '127.0.0.1', 4096);
