// gRPC over lb's HTTP/2 streams: lb's own errors answered as gRPC (HTTP 200, application/grpc,
// grpc-status), and the grpc-timeout header read as the call's deadline.
import type { ServerHttp2Stream } from 'node:http2';
import type { ProxyError, ProxyErrorKind } from '../../errors.js';
import { stopRequestAfterResponse } from './response.js';

/** gRPC status codes lb answers with (grpc/doc/statuscodes.md). */
const GrpcStatus = { CANCELLED: 1, DEADLINE_EXCEEDED: 4, RESOURCE_EXHAUSTED: 8, UNIMPLEMENTED: 12, INTERNAL: 13, UNAVAILABLE: 14 } as const;

const statusOfKind: Record<ProxyErrorKind, number> = {
  no_route: GrpcStatus.UNIMPLEMENTED,
  no_backend: GrpcStatus.UNAVAILABLE,
  connect_refused: GrpcStatus.UNAVAILABLE,
  reset: GrpcStatus.UNAVAILABLE,
  bad_response: GrpcStatus.INTERNAL,
  connect_timeout: GrpcStatus.DEADLINE_EXCEEDED,
  response_timeout: GrpcStatus.DEADLINE_EXCEEDED,
  body_timeout: GrpcStatus.DEADLINE_EXCEEDED,
  request_body_timeout: GrpcStatus.DEADLINE_EXCEEDED,
  response_read_timeout: GrpcStatus.DEADLINE_EXCEEDED,
  client_abort: GrpcStatus.CANCELLED,
  middleware_missing: GrpcStatus.INTERNAL,
  middleware_failed: GrpcStatus.INTERNAL,
  rate_limited: GrpcStatus.RESOURCE_EXHAUSTED,
  in_flight_limited: GrpcStatus.RESOURCE_EXHAUSTED,
  auth_unavailable: GrpcStatus.UNAVAILABLE,
  auth_timeout: GrpcStatus.DEADLINE_EXCEEDED,
};

/** Whether a request is a gRPC call (its content-type). */
export function isGrpc(contentType: string | string[] | undefined): boolean {
  return typeof contentType === 'string' && contentType.startsWith('application/grpc');
}

/** grpc-message is percent-encoded: everything but printable ASCII, and `%` itself (PROTOCOL-HTTP2.md). */
function encodeMessage(text: string): string {
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) out += byte >= 0x20 && byte <= 0x7e && byte !== 0x25 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  return out;
}

/** The trailers that end a call with lb's error. */
export function grpcErrorTrailers(error: ProxyError): Record<string, string> {
  return { 'grpc-status': String(statusOfKind[error.kind]), 'grpc-message': encodeMessage(error.message), 'lb-error': error.code };
}

/** lb's error as a trailers-only gRPC response: HTTP 200, application/grpc, grpc-status and grpc-message, END_STREAM. */
export function sendGrpcError(stream: ServerHttp2Stream, error: ProxyError): void {
  if (stream.destroyed || stream.headersSent) return;
  stream.respond({ ':status': 200, 'content-type': 'application/grpc', ...grpcErrorTrailers(error) }, { endStream: true });
  stopRequestAfterResponse(stream);
}

const timeoutUnits: Readonly<Record<string, number>> = { H: 3_600_000, M: 60_000, S: 1_000, m: 1, u: 0.001, n: 0.000001 };

/** A grpc-timeout value (`1S`, `250m`: at most 8 digits and a unit) in milliseconds; undefined when absent or malformed. */
export function grpcTimeoutMs(value: string | string[] | undefined): number | undefined {
  if (typeof value !== 'string') return undefined;
  const match = /^(\d{1,8})([HMSmun])$/.exec(value);
  if (!match) return undefined;
  return Math.max(1, Math.ceil(Number(match[1]) * timeoutUnits[match[2]!]!));
}
