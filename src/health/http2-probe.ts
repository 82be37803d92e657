// Health checks over HTTP/2: the gRPC health protocol (grpc.health.v1, `type: grpc`), and HTTP
// checks of servers that lb speaks HTTP/2 to (`h2c://`, `https://` with `http2: true`), which may
// speak nothing else. Each check opens a session of its own, as HTTP/1.1 checks open a connection,
// so that a server that accepts no new connections fails it.
import { connect, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';
import type { TLSSocket } from 'node:tls';
import type { HealthCheckConfig } from '../config/types.js';
import { writeLocalProxyHeader } from '../proxy/proxy-protocol.js';
import { connectUpstream, upstreamTlsOptions } from '../tls/upstream.js';
import type { CheckTarget } from './checker.js';

/** A check's answer is read up to this size; a health answer is a few bytes. */
const MAX_ANSWER_BYTES = 64 * 1024;

interface Answer {
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
  readonly trailers: IncomingHttpHeaders;
}

/** Whether a check of this target speaks HTTP/2: gRPC checks always do, HTTP ones when requests to the server do. */
export function checksOverHttp2(target: CheckTarget): boolean {
  const { check, backend } = target;
  return check.type === 'grpc' || backend.scheme === 'h2c' || (backend.scheme === 'https' && target.http2);
}

/** An HTTP check on an HTTP/2 server: a GET whose status must be one of `expectStatus`. */
export async function probeHttpOverHttp2(target: CheckTarget, port: number): Promise<number> {
  const answer = await exchange(target, port, { ':method': 'GET', ':path': target.check.path }, undefined);
  return Number(answer.headers[':status']);
}

/** grpc.health.v1 ServingStatus (health.proto). */
const servingStatusNames = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'];
const SERVING = 1;
/** grpc/doc/statuscodes.md, for the reason of a failed check. */
const grpcStatusNames = ['OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', 'ALREADY_EXISTS', 'PERMISSION_DENIED', 'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE', 'UNIMPLEMENTED', 'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS', 'UNAUTHENTICATED'];

/**
 * `/grpc.health.v1.Health/Check` with the check's `grpcService`: healthy only when the call ends
 * with grpc-status 0 and the answer says SERVING. An unknown service is NOT_FOUND, a server
 * without the health service UNIMPLEMENTED: both fail.
 */
export async function probeGrpc(target: CheckTarget, port: number): Promise<string> {
  const { check } = target;
  const answer = await exchange(target, port, {
    ':method': 'POST',
    ':path': '/grpc.health.v1.Health/Check',
    'content-type': 'application/grpc',
    te: 'trailers',
    'grpc-timeout': `${check.timeoutMs}m`,
  }, grpcFrame(healthCheckRequest(check)));
  const status = Number(answer.headers[':status']);
  if (status !== 200) throw new Error(`HTTP ${status}, expected 200 for a gRPC call`);
  // A call that fails at once is "trailers-only": grpc-status comes in the headers.
  const grpcStatus = answer.trailers['grpc-status'] ?? answer.headers['grpc-status'];
  if (grpcStatus === undefined) throw new Error('the call ended without grpc-status');
  if (grpcStatus !== '0') {
    const message = answer.trailers['grpc-message'] ?? answer.headers['grpc-message'];
    const name = grpcStatusNames[Number(grpcStatus)] ?? 'unknown code';
    throw new Error(`grpc-status ${String(grpcStatus)} ${name}${typeof message === 'string' && message ? `: ${decodeGrpcMessage(message)}` : ''}`);
  }
  const serving = servingStatus(answer.body);
  if (serving !== SERVING) throw new Error(`gRPC ${servingStatusNames[serving] ?? `status ${serving}`}`);
  return `gRPC SERVING${check.grpcService ? ` (${check.grpcService})` : ''}`;
}

/**
 * HealthCheckRequest { string service = 1; } in protobuf: one length-delimited field (tag 0x0a),
 * left out when empty as proto3 does. Written by hand: two fields do not need a protobuf library.
 */
function healthCheckRequest(check: HealthCheckConfig): Buffer {
  const service = Buffer.from(check.grpcService, 'utf8');
  return service.length === 0 ? Buffer.alloc(0) : Buffer.concat([Buffer.from([0x0a]), varint(service.length), service]);
}

function varint(value: number): Buffer {
  const bytes: number[] = [];
  for (let rest = value; ; rest = Math.floor(rest / 128)) {
    if (rest < 128) {
      bytes.push(rest);
      return Buffer.from(bytes);
    }
    bytes.push((rest % 128) | 0x80);
  }
}

/** A gRPC length-prefixed message: not compressed (flag 0), its length in 4 bytes. */
function grpcFrame(message: Buffer): Buffer {
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(message.length, 1);
  return Buffer.concat([prefix, message]);
}

/**
 * The `status` of HealthCheckResponse { ServingStatus status = 1; } (a varint, tag 0x08); fields a
 * newer server adds are skipped by their wire type. An absent status is UNKNOWN (0), as in proto3.
 */
function servingStatus(body: Buffer): number {
  if (body.length < 5) throw new Error('the call ended without a message');
  if (body[0] !== 0) throw new Error('the answer is compressed, which lb did not offer');
  const end = 5 + body.readUInt32BE(1);
  if (end > body.length) throw new Error('the answer is cut short');
  let at = 5;
  let status = 0;
  const readVarint = (): number => {
    let value = 0;
    for (let shift = 1; at < end; shift *= 128) {
      const byte = body[at++]!;
      value += (byte & 0x7f) * shift;
      if (byte < 0x80) return value;
    }
    throw new Error('malformed HealthCheckResponse');
  };
  while (at < end) {
    const tag = readVarint();
    const wireType = tag % 8;
    if (wireType === 0) {
      const value = readVarint();
      if (tag === 0x08) status = value;
    } else if (wireType === 2) at += readVarint();
    else if (wireType === 1) at += 8;
    else if (wireType === 5) at += 4;
    else throw new Error('malformed HealthCheckResponse');
  }
  if (at > end) throw new Error('malformed HealthCheckResponse');
  return status;
}

/** grpc-message is percent-encoded UTF-8 (PROTOCOL-HTTP2.md). */
function decodeGrpcMessage(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/**
 * One request on a session of its own, closed when the answer (head, body up to 64 KiB,
 * trailers) is in or the check's timeout passes. Host, headers and the PROXY header are the
 * check's, as for HTTP/1.1 checks; an https:// server must verify and negotiate `h2` by ALPN.
 */
function exchange(target: CheckTarget, port: number, fields: OutgoingHttpHeaders, body: Buffer | undefined): Promise<Answer> {
  const { backend, check } = target;
  const { host } = backend;
  const https = backend.scheme === 'https';
  const authority = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  const headers: OutgoingHttpHeaders = { ...fields, ':authority': check.host ?? authority, 'user-agent': 'lb-health-check' };
  for (const [name, value] of check.headers) headers[name.toLowerCase()] = value;
  return new Promise((resolve, reject) => {
    const session = connect(`${https ? 'https' : 'http'}://${authority}`, {
      createConnection: () => connectUpstream(
        { host, port, noDelay: true },
        https ? { host, ...upstreamTlsOptions(target.tls, host), ALPNProtocols: ['h2'] } : undefined,
        check.proxyProtocol && writeLocalProxyHeader(check.proxyProtocol),
      ),
    });
    let settled = false;
    const finish = (error: Error | undefined, answer?: Answer) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      session.destroy();
      if (error) reject(error);
      else resolve(answer!);
    };
    const timer = setTimeout(() => finish(new Error(`no answer within ${check.timeoutMs}ms`)), check.timeoutMs);
    const fail = (err: NodeJS.ErrnoException) => finish(new Error((err.cause as NodeJS.ErrnoException | undefined)?.code ?? err.code ?? err.message));
    session.on('error', fail);
    session.once('connect', (_session, socket) => {
      if (https && (socket as TLSSocket).alpnProtocol !== 'h2') finish(new Error('the server did not negotiate h2 by ALPN'));
    });
    let stream;
    try {
      stream = session.request(headers, { endStream: body === undefined });
    } catch (err) {
      return finish(err as Error);
    }
    if (body) stream.end(body);
    let responseHeaders: IncomingHttpHeaders = {};
    let trailers: IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    let size = 0;
    stream.on('error', fail);
    stream.on('response', (h) => (responseHeaders = h));
    stream.on('trailers', (t) => (trailers = t));
    stream.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_ANSWER_BYTES) chunks.push(chunk);
      else finish(undefined, { headers: responseHeaders, body: Buffer.concat(chunks), trailers });
    });
    stream.on('end', () => finish(undefined, { headers: responseHeaders, body: Buffer.concat(chunks), trailers }));
    stream.on('close', () => finish(new Error(`the server reset the stream (code ${stream.rstCode ?? 'none'})`)));
  });
}
